package streams

import (
	"context"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/hashkey"
	"github.com/millrace/millrace/internal/storage"
)

// On-demand scaling.
//
// Every Interval the scaler measures each open shard's write demand (bytes
// and records writers asked for, accepted or throttled) as a share of the
// shard's write capacity. A shard of an on-demand stream whose share stays
// above UpShare for Window is split at the middle of its hash key range; two
// adjacent shards that both stay below DownShare for QuietPeriod are merged,
// never leaving the stream with fewer than 4 open shards (AWS's on-demand
// minimum) or fewer than its warm throughput needs. Each stream gets at most
// one scaling action per interval: one new layout that splits every hot
// shard, or else merges the cold pairs. The stream stays ACTIVE throughout.
//
// In a cluster every node measures the cluster's demand: its own writers'
// (accepted and throttled) plus what the other nodes' writers took from the
// shard's limits, which Peers carries (peers.go). Every node keeps the
// hot and cold times, so that another node decides on the same history
// when the deciding one dies; only the node that holds the scaler's
// background unit (Options.Runner: a lease in a cluster) reshards.

// Scaling defaults.
const (
	DefaultScaleInterval    = 10 * time.Second
	DefaultScaleWindow      = 30 * time.Second
	DefaultScaleUpShare     = 0.5
	DefaultScaleDownShare   = 0.2
	DefaultScaleQuietPeriod = 5 * time.Minute
)

// ScalingOptions configure the on-demand scaler; zero fields take the
// defaults.
type ScalingOptions struct {
	// Interval is how often shards are measured, and the least time between
	// two scaling actions on one stream.
	Interval time.Duration
	// Window is how long a shard must stay above UpShare to be split.
	Window time.Duration
	// UpShare and DownShare are shares of a shard's write capacity
	// (bytes or records, whichever is higher).
	UpShare, DownShare float64
	// QuietPeriod is how long two adjacent shards must stay below
	// DownShare to be merged.
	QuietPeriod time.Duration
}

func (o *ScalingOptions) ensureDefaults() {
	if o.Interval <= 0 {
		o.Interval = DefaultScaleInterval
	}
	if o.Window <= 0 {
		o.Window = DefaultScaleWindow
	}
	if o.UpShare <= 0 {
		o.UpShare = DefaultScaleUpShare
	}
	if o.DownShare <= 0 {
		o.DownShare = DefaultScaleDownShare
	}
	if o.QuietPeriod <= 0 {
		o.QuietPeriod = DefaultScaleQuietPeriod
	}
}

// scalerState is the scaler's memory; only the scale loop touches it,
// except deciding.
type scalerState struct {
	last   int64 // UnixNano of the previous measurement
	shards map[storage.ShardKey]*shardLoad
	// deciding is set while this node holds the scaler's unit (always
	// without a Runner): only then does it reshard.
	deciding atomic.Bool
	unit     *background.Unit
}

// scalerUnit is the name of the background unit whose holder decides.
const scalerUnit = "streams/on-demand-scaler"

// startScaler starts the measuring loop on this node and, with a Runner,
// the unit that makes this node the one that decides.
func (s *Streams) startScaler() {
	sc := &s.capacity.scaler
	if r := s.opts.Runner; r != nil {
		sc.unit = r.Go(scalerUnit, func(ctx context.Context) {
			sc.deciding.Store(true)
			defer sc.deciding.Store(false)
			<-ctx.Done()
		})
	} else {
		sc.deciding.Store(true)
	}
	s.wg.Add(1)
	go s.scaleLoop()
}

func (s *Streams) stopScaler() {
	if u := s.capacity.scaler.unit; u != nil {
		u.Stop()
	}
}

// shardLoad is what the scaler remembers of one open shard: since when
// (UnixNano) it has been hot or cold without a break, 0 when it is not.
type shardLoad struct{ hotSince, coldSince int64 }

func (s *Streams) scaleLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Scaling.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.scaleTick(s.ctx)
		}
	}
}

// scaleTick measures every open shard and scales the on-demand streams
// whose shards call for it.
func (s *Streams) scaleTick(ctx context.Context) {
	sc := &s.capacity.scaler
	now := s.now().UnixNano()
	if sc.shards == nil {
		sc.shards = make(map[storage.ShardKey]*shardLoad)
	}
	elapsed := now - sc.last
	first := sc.last == 0 || elapsed <= 0
	sc.last = now
	secs := float64(elapsed) / float64(time.Second)
	o := &s.opts.Scaling
	lim := &s.opts.Limits

	live := make(map[uint64]bool)
	seen := make(map[storage.ShardKey]bool)
	for _, st := range s.snapshot() {
		live[st.ID] = true
		var hot, cold []uint32
		for i := range st.Shards {
			sh := &st.Shards[i]
			if !sh.IsOpen() {
				continue
			}
			k := st.Key(sh.Index)
			seen[k] = true
			var bytes, records int64
			if sl := s.peekLimiter(k); sl != nil {
				sl.mu.Lock()
				bytes, records = sl.demandBytes, sl.demandRecords
				sl.demandBytes, sl.demandRecords = 0, 0
				sl.mu.Unlock()
			}
			if first || st.Mode != ModeOnDemand {
				continue
			}
			share := max(float64(bytes)/secs/float64(lim.WriteBytesPerSec), float64(records)/secs/float64(lim.WriteRecordsPerSec))
			ld := sc.shards[k]
			if ld == nil {
				ld = &shardLoad{}
				sc.shards[k] = ld
			}
			ld.hotSince = since(ld.hotSince, share > o.UpShare, now-elapsed)
			ld.coldSince = since(ld.coldSince, share < o.DownShare, now-elapsed)
			if ld.hotSince != 0 && now-ld.hotSince >= int64(o.Window) {
				hot = append(hot, sh.Index)
			}
			if ld.coldSince != 0 && now-ld.coldSince >= int64(o.QuietPeriod) {
				cold = append(cold, sh.Index)
			}
		}
		if st.Mode != ModeOnDemand || st.Status != StatusActive || !sc.deciding.Load() {
			continue
		}
		ref := StreamRef{Account: st.Account, Region: st.Region, Name: st.Name}
		var err error
		switch {
		case len(hot) > 0:
			err = s.scaleUp(ctx, ref, st.ID, hot)
		case len(cold) > 1:
			err = s.scaleDown(ctx, ref, st.ID, cold)
		}
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("on-demand scaling failed", "stream", st.Name, "account", st.Account, "err", err)
		}
	}
	for k := range sc.shards {
		if !seen[k] {
			delete(sc.shards, k)
		}
	}
	s.dropLimiters(live)
}

// since keeps a "since" time while cond holds, starts it at from when cond
// begins to hold, and clears it when cond does not hold.
func since(cur int64, cond bool, from int64) int64 {
	switch {
	case !cond:
		return 0
	case cur == 0:
		return from
	}
	return cur
}

// scaleUp splits every hot shard of the stream at the middle of its hash
// key range, in one new layout.
func (s *Streams) scaleUp(ctx context.Context, ref StreamRef, id uint64, hot []uint32) error {
	return s.reshard(ctx, ref, reshardByScaler, func(st *Stream, c *layoutChange) (bool, error) {
		if st.ID != id || st.Mode != ModeOnDemand {
			return false, nil
		}
		room := MaxShardsPerStream - len(st.OpenShards())
		var todo []uint32
		for _, idx := range hot {
			if len(todo) < room && int(idx) < len(st.Shards) && st.Shards[idx].IsOpen() {
				if _, ok := midpoint(&st.Shards[idx]); ok {
					todo = append(todo, idx)
				}
			}
		}
		if len(todo) == 0 {
			return false, nil
		}
		if err := s.checkShardQuota(st, len(todo)); err != nil {
			return false, err
		}
		for _, idx := range todo {
			mid, _ := midpoint(&st.Shards[idx])
			c.split(idx, mid)
		}
		s.logger.Debug("on-demand stream scaled up", "stream", st.Name, "split", len(todo), "open", len(st.OpenShards())+len(todo))
		return true, nil
	})
}

// midpoint is the starting hash key of the upper half of a shard, if the
// shard is wide enough to split.
func midpoint(sh *Shard) (HashKey, bool) {
	lo, hi := sh.StartingHashKey.Big(), sh.EndingHashKey.Big()
	width := new(big.Int).Sub(hi, lo)
	if width.Cmp(big.NewInt(3)) < 0 {
		return HashKey{}, false
	}
	mid := new(big.Int).Add(lo, new(big.Int).Rsh(new(big.Int).Add(width, big.NewInt(1)), 1))
	return hashkey.FromBig(mid), true
}

// scaleDown merges adjacent pairs of cold shards, left to right, in one new
// layout, keeping at least 4 open shards and the shards the stream's warm
// throughput needs.
func (s *Streams) scaleDown(ctx context.Context, ref StreamRef, id uint64, cold []uint32) error {
	isCold := make(map[uint32]bool, len(cold))
	for _, idx := range cold {
		isCold[idx] = true
	}
	return s.reshard(ctx, ref, reshardByScaler, func(st *Stream, c *layoutChange) (bool, error) {
		if st.ID != id || st.Mode != ModeOnDemand {
			return false, nil
		}
		open := st.OpenShards()
		floor := max(OnDemandShardCount, s.warmShards(st.WarmThroughputMiBps))
		merged := 0
		for i := 0; i+1 < len(open) && len(open)-merged > floor; i++ {
			a, b := open[i], open[i+1]
			if !isCold[a.Index] || !isCold[b.Index] || a.EndingHashKey.Add1() != b.StartingHashKey {
				continue
			}
			c.merge(a.Index, b.Index)
			merged++
			i++
		}
		if merged > 0 {
			s.logger.Debug("on-demand stream scaled down", "stream", st.Name, "merged", merged, "open", len(open)-merged)
		}
		return merged > 0, nil
	})
}

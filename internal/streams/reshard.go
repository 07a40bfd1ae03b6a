package streams

import (
	"context"
	"errors"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Resharding: SplitShard, MergeShards and UpdateShardCount.
//
// A reshard closes parent shards and opens their children in one published
// snapshot. Writers hold their stream's layout lock shared from the moment
// they pick a snapshot until their appends return; a reshard takes it
// exclusively while it reads the parents' last sequence numbers and publishes
// the new layout. So no append lands in a parent after its EndingSeq is
// fixed, and every write that starts after the publication routes to the
// children.

// Resharding limits.
const (
	// MaxShardsPerStream is the most open shards UpdateShardCount scales a
	// stream up to.
	MaxShardsPerStream = 10000
	// maxShardCountUpdates is how many UpdateShardCount calls a stream takes
	// per rolling shardCountWindow.
	maxShardCountUpdates = 10
	shardCountWindow     = 24 * time.Hour
	// UniformScaling is the only ScalingType.
	UniformScaling = "UNIFORM_SCALING"
)

// reshardState is the domain's per-stream resharding state that is not part
// of a stream's metadata.
type reshardState struct {
	layouts   sync.Map // stream ID -> *sync.RWMutex
	reclaimed sync.Map // storage.ShardKey -> struct{}: closed shards whose log is deleted
	// recovering holds the stream IDs whose reshard intent a background
	// goroutine is finishing (reshardintent.go).
	recovering sync.Map
	hooks      reshardHooks
}

// layoutLock returns the lock that orders writes against reshards of the
// stream with this id.
func (s *Streams) layoutLock(id uint64) *sync.RWMutex {
	if mu, ok := s.rs.layouts.Load(id); ok {
		return mu.(*sync.RWMutex)
	}
	mu, _ := s.rs.layouts.LoadOrStore(id, new(sync.RWMutex))
	return mu.(*sync.RWMutex)
}

// pinLayout holds the stream's shard layout steady for a write: it takes
// the layout lock shared and returns the current snapshot of the stream
// (st itself when the stream is gone or was created again). The caller
// routes with the returned snapshot and calls RUnlock on the returned lock
// once its appends have returned.
func (s *Streams) pinLayout(st *Stream) (*Stream, *sync.RWMutex) {
	mu := s.layoutLock(st.ID)
	mu.RLock()
	if cur := s.current(st.mapKey()); cur != nil && cur.ID == st.ID {
		st = cur
	}
	return st, mu
}

// reshardBy says who reshards: the API (provisioned streams only; the
// stream is UPDATING for UpdateDelay) or the on-demand scaler (any mode; the
// stream stays ACTIVE).
type reshardBy int

const (
	reshardByAPI reshardBy = iota
	reshardByScaler
)

// layoutChange is a set of splits and merges applied to a copy of a stream;
// every shard it closes closes at the same instant, now.
type layoutChange struct {
	st     *Stream
	now    int64
	closed []uint32
	fresh  map[uint32]bool // shards created by this change
}

// add appends a new open shard and returns its index.
func (c *layoutChange) add(start, end HashKey, parent, adjacent int64) uint32 {
	idx := uint32(len(c.st.Shards))
	c.st.Shards = append(c.st.Shards, Shard{
		Index: idx, StartingHashKey: start, EndingHashKey: end,
		ParentIndex: parent, AdjacentParentIndex: adjacent, CreatedAt: c.now,
	})
	c.fresh[idx] = true
	return idx
}

func (c *layoutChange) close(idx uint32) {
	c.st.Shards[idx].ClosedAt = c.now
	c.closed = append(c.closed, idx)
}

// split closes open shard idx and opens [start, key-1] and [key, end]; key
// must be in (start, end].
func (c *layoutChange) split(idx uint32, key HashKey) (lo, hi uint32) {
	p := c.st.Shards[idx]
	c.close(idx)
	lo = c.add(p.StartingHashKey, key.Sub1(), int64(idx), -1)
	hi = c.add(key, p.EndingHashKey, int64(idx), -1)
	return lo, hi
}

// merge closes open shards a and b, which must be adjacent, and opens one
// shard covering both with parent a and adjacent parent b.
func (c *layoutChange) merge(a, b uint32) uint32 {
	sa, sb := c.st.Shards[a], c.st.Shards[b]
	start, end := sa.StartingHashKey, sb.EndingHashKey
	if sb.StartingHashKey.Cmp(start) < 0 {
		start, end = sb.StartingHashKey, sa.EndingHashKey
	}
	c.close(a)
	c.close(b)
	return c.add(start, end, int64(a), int64(b))
}

// reshard applies plan to a copy of the stream's snapshot and publishes the
// result: parents closed with their last sequence numbers, children open,
// in one catalog write. The plan runs with the stream's layout lock held
// exclusively, so no write is in flight; it returns false when it changes
// nothing. The caller must not hold s.ctl.
//
// A catalog write that loses to another node's change is planned again
// on the reloaded stream, a few times: in a cluster the parents' logs are
// closed by then, and a reshard given up would leave them refusing writes
// until they are resharded.
func (s *Streams) reshard(ctx context.Context, ref StreamRef, by reshardBy, plan func(st *Stream, c *layoutChange) (bool, error)) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	for try := 0; ; try++ {
		err := s.reshardOnce(ctx, ref, by, plan)
		var de *Error
		if try == 4 || !errors.As(err, &de) || !de.conflict {
			return err
		}
	}
}

func (s *Streams) reshardOnce(ctx context.Context, ref StreamRef, by reshardBy, plan func(st *Stream, c *layoutChange) (bool, error)) error {
	st, err := s.lookupLive(ref)
	if err != nil {
		return err
	}
	if by == reshardByAPI && st.Mode == ModeOnDemand {
		return errorf(KindValidation, "Request is invalid. Stream %s under account %s is in On-Demand mode.", st.Name, st.Account)
	}
	if err := requireActive(st); err != nil {
		return err
	}
	mu := s.layoutLock(st.ID)
	mu.Lock()
	defer mu.Unlock()
	// Taken after the writers drained, so no record arrives after its
	// shard's ClosedAt.
	c := &layoutChange{st: st.clone(), now: s.now().UnixMilli(), fresh: map[uint32]bool{}}
	changed, err := plan(st, c)
	if err != nil || !changed {
		return err
	}
	// In a cluster another node may still route writes by the old layout
	// until it reads the new one: the engine closes each parent's log
	// first, so that such a write fails (and is retried by the client)
	// instead of landing after the parent's EndingSeq.
	closer, _ := s.log.(storage.ShardCloser)
	var closing []uint32
	for _, idx := range c.closed {
		if !c.fresh[idx] { // a shard created and closed by this change was never written
			closing = append(closing, idx)
		}
	}
	// A closing reshard records its layout first, so that a reshard cut
	// short between the closes and the store is finished by whichever
	// node comes next (reshardintent.go).
	var intent uint64
	if closer != nil {
		if intent, err = s.beginReshard(ctx, st, c, closing); err != nil {
			return err
		}
	}
	for _, idx := range closing {
		var b storage.Bounds
		var err error
		if closer != nil {
			b, err = closer.CloseShard(ctx, c.st.Key(idx))
		} else {
			b, err = s.log.Bounds(ctx, c.st.Key(idx))
		}
		if err != nil {
			return s.storageError("close", st, &st.Shards[idx], err)
		}
		c.st.Shards[idx].EndingSeq = b.Next - 1
	}
	if h := s.rs.hooks.afterClose; h != nil {
		if err := h(); err != nil {
			return err
		}
	}
	if by == reshardByScaler {
		err = s.store(ctx, c.st)
	} else {
		err = s.enter(ctx, c.st, StatusUpdating, s.opts.UpdateDelay)
	}
	var de *Error
	if err != nil && intent != 0 && errors.As(err, &de) && de.conflict {
		// The stream changed through another node meanwhile: store the
		// layout over the change, the parents being closed.
		return s.finishReshard(ctx, st.mapKey(), st.ID, true)
	}
	if err != nil {
		return err
	}
	if intent != 0 {
		s.endReshard(ctx, st.ID, intent)
	}
	return nil
}

// reshardShard resolves a shard id of a reshard request to an open shard.
func reshardShard(st *Stream, id string) (uint32, error) {
	idx, ok := parseShardID(id)
	if !ok || int(idx) >= len(st.Shards) {
		return 0, errorf(KindNotFound, "Could not find shard %s in stream %s under account %s.", id, st.Name, st.Account)
	}
	if sh := &st.Shards[idx]; !sh.IsOpen() {
		return 0, errorf(KindInvalidArgument,
			"Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.",
			sh.ID(), st.Name, st.Account)
	}
	return idx, nil
}

// checkShardQuota rejects a change that adds shards beyond the account's
// open shard quota.
func (s *Streams) checkShardQuota(st *Stream, added int) error {
	u := s.usage(st.Account, st.Region)
	if u.openShards+added > s.opts.ShardLimit {
		return errorf(KindLimitExceeded, "This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d. Refer to the AWS Service Limits page (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
			st.Account, st.Region, u.openShards, s.opts.ShardLimit, added)
	}
	return nil
}

// SplitShard splits an open shard of a provisioned stream in two at
// newStartingHashKey, which must be above the shard's StartingHashKey plus
// one and below its EndingHashKey.
func (s *Streams) SplitShard(ctx context.Context, ref StreamRef, shardID, newStartingHashKey string) error {
	return s.splitShard(ctx, ref, shardID, newStartingHashKey, reshardByAPI)
}

// splitShard is SplitShard for the API and the on-demand scaler.
func (s *Streams) splitShard(ctx context.Context, ref StreamRef, shardID, newStartingHashKey string, by reshardBy) error {
	return s.reshard(ctx, ref, by, func(st *Stream, c *layoutChange) (bool, error) {
		idx, err := reshardShard(st, shardID)
		if err != nil {
			return false, err
		}
		sh := &st.Shards[idx]
		key, ok := ParseHashKey(newStartingHashKey)
		if !ok || key.Cmp(sh.StartingHashKey) <= 0 || key.Cmp(sh.StartingHashKey.Add1()) <= 0 || key.Cmp(sh.EndingHashKey) >= 0 {
			return false, errorf(KindInvalidArgument,
				"NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.",
				newStartingHashKey, sh.ID(), st.Name, st.Account, sh.StartingHashKey, sh.EndingHashKey)
		}
		if err := s.checkShardQuota(st, 1); err != nil {
			return false, err
		}
		c.split(idx, key)
		return true, nil
	})
}

// MergeShards merges two adjacent open shards of a provisioned stream into
// one covering both; the child's parent is shardToMerge and its adjacent
// parent adjacentShardToMerge.
func (s *Streams) MergeShards(ctx context.Context, ref StreamRef, shardToMerge, adjacentShardToMerge string) error {
	return s.mergeShards(ctx, ref, shardToMerge, adjacentShardToMerge, reshardByAPI)
}

// mergeShards is MergeShards for the API and the on-demand scaler.
func (s *Streams) mergeShards(ctx context.Context, ref StreamRef, shardToMerge, adjacentShardToMerge string, by reshardBy) error {
	return s.reshard(ctx, ref, by, func(st *Stream, c *layoutChange) (bool, error) {
		a, err := reshardShard(st, shardToMerge)
		if err != nil {
			return false, err
		}
		b, err := reshardShard(st, adjacentShardToMerge)
		if err != nil {
			return false, err
		}
		sa, sb := &st.Shards[a], &st.Shards[b]
		adjacent := a != b && (sa.EndingHashKey.Add1() == sb.StartingHashKey && sa.EndingHashKey != MaxHashKey ||
			sb.EndingHashKey.Add1() == sa.StartingHashKey && sb.EndingHashKey != MaxHashKey)
		if !adjacent {
			return false, errorf(KindInvalidArgument,
				"Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging",
				sa.ID(), sb.ID(), st.Name, st.Account)
		}
		c.merge(a, b)
		return true, nil
	})
}

// ShardCountResult is an UpdateShardCount response.
type ShardCountResult struct {
	Stream          *Stream // the stream before the update
	Current, Target int
}

// UpdateShardCount scales a provisioned stream to target open shards spread
// evenly over the hash key space (ranges of 2^128/target, as CreateStream
// makes them), by splitting and merging shards. Short-lived shards appear
// where an old range straddles two new ones, as on AWS.
func (s *Streams) UpdateShardCount(ctx context.Context, ref StreamRef, target int, scalingType string) (ShardCountResult, error) {
	var res ShardCountResult
	if scalingType != UniformScaling {
		return res, errorf(KindValidation,
			"1 validation error detected: Value '%s' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [%s]", scalingType, UniformScaling)
	}
	if target < 1 {
		return res, errorf(KindValidation,
			"1 validation error detected: Value '%d' at 'targetShardCount' failed to satisfy constraint: Member must have value greater than or equal to 1", target)
	}
	err := s.reshard(ctx, ref, reshardByAPI, func(st *Stream, c *layoutChange) (bool, error) {
		open := len(st.OpenShards())
		res = ShardCountResult{Stream: st, Current: open, Target: target}
		fail := "UpdateShardCount failed for stream " + st.Name + " under account " + st.Account + ". "
		switch {
		case target > 2*open:
			return false, errorf(KindLimitExceeded, "%sCannot scale up to more than double the current open shard count: %d", fail, open)
		case 2*target < open:
			return false, errorf(KindLimitExceeded, "%sCannot scale down to less than half the current open shard count: %d", fail, open)
		case target > MaxShardsPerStream && target > open:
			return false, errorf(KindLimitExceeded, "%sCannot scale up to more than %d shards in a stream.", fail, MaxShardsPerStream)
		}
		recent := recentUpdates(st.ShardCountUpdates, c.now)
		if len(recent) >= maxShardCountUpdates {
			return false, errorf(KindLimitExceeded, "%sCannot update the shard count more than %d times in a rolling 24 hour period.", fail, maxShardCountUpdates)
		}
		if target > open {
			if err := s.checkShardQuota(st, target-open); err != nil {
				return false, err
			}
		}
		c.st.ShardCountUpdates = append(recent, c.now)
		c.uniform(target)
		return true, nil
	})
	return res, err
}

// recentUpdates returns a new slice of the times (ms) within the rolling
// window before now.
func recentUpdates(times []int64, now int64) []int64 {
	from := now - shardCountWindow.Milliseconds()
	out := make([]int64, 0, len(times)+1)
	for _, t := range times {
		if t > from {
			out = append(out, t)
		}
	}
	return out
}

// uniform reshapes the open shards into n shards with the ranges
// InitialRanges(n) gives. A target boundary within a hair (2^-32 of a
// target range) of an existing boundary keeps the existing one, so that
// doubling and halving a uniform stream take one split or merge per shard
// instead of leaving one-key slivers behind.
func (c *layoutChange) uniform(n int) {
	type piece struct {
		idx        uint32
		start, end HashKey
	}
	var open []piece
	for i := range c.st.Shards {
		if sh := &c.st.Shards[i]; sh.IsOpen() {
			open = append(open, piece{sh.Index, sh.StartingHashKey, sh.EndingHashKey})
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].start.Cmp(open[j].start) < 0 })

	// The new boundaries (starting keys of shards 1..n-1), snapped.
	starts, _ := InitialRanges(n)
	width := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(n)))
	tol := new(big.Int).Rsh(width, 32)
	existing := make([]*big.Int, len(open))
	for i, p := range open {
		existing[i] = p.start.Big()
	}
	bounds := make([]HashKey, 0, n)
	bounds = append(bounds, HashKey{})
	for _, b := range starts[1:] {
		bb := b.Big()
		j := sort.Search(len(existing), func(i int) bool { return existing[i].Cmp(bb) >= 0 })
		best := b
		for _, k := range []int{j - 1, j} {
			if k < 1 || k >= len(existing) {
				continue
			}
			d := new(big.Int).Sub(existing[k], bb)
			if d.Abs(d).Cmp(tol) <= 0 {
				best = open[k].start
			}
		}
		bounds = append(bounds, best)
	}
	isBound := make(map[HashKey]bool, len(bounds))
	for _, b := range bounds {
		isBound[b] = true
	}

	// Split every open shard at the boundaries strictly inside it.
	var pieces []piece
	bi := 0
	for _, p := range open {
		for bi < len(bounds) && bounds[bi].Cmp(p.start) <= 0 {
			bi++
		}
		for bi < len(bounds) && bounds[bi].Cmp(p.end) <= 0 {
			lo, hi := c.split(p.idx, bounds[bi])
			pieces = append(pieces, piece{lo, p.start, bounds[bi].Sub1()})
			p = piece{hi, bounds[bi], p.end}
			bi++
		}
		pieces = append(pieces, p)
	}

	// Merge the pieces of each new range, left to right.
	for i := 0; i < len(pieces); {
		cur := pieces[i].idx
		j := i + 1
		for ; j < len(pieces) && !isBound[pieces[j].start]; j++ {
			cur = c.merge(cur, pieces[j].idx)
		}
		i = j
	}
}

// reclaimShard deletes the log of a closed shard whose records have all
// passed the retention cutoff (such a shard is no longer listed and holds
// nothing readable), once per server run. It reports whether sh is such a
// shard, so that the retention loop does not trim it.
func (s *Streams) reclaimShard(ctx context.Context, st *Stream, sh *Shard, cutoff int64) bool {
	if sh.IsOpen() || sh.ClosedAt > cutoff {
		return false
	}
	k := st.Key(sh.Index)
	if _, done := s.rs.reclaimed.Load(k); done {
		return true
	}
	err := s.log.DeleteShard(ctx, k)
	if err == nil {
		err = s.dropDataKeys(ctx, k)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("deleting an expired closed shard failed", "stream", st.Name, "shard", sh.ID(), "err", err)
		}
		return true
	}
	s.rs.reclaimed.Store(k, struct{}{})
	return true
}

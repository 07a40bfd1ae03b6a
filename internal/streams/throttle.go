package streams

import (
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Per-shard throughput limits.
//
// Every shard has four token buckets: write bytes, write records, read
// bytes and read calls. A bucket refills continuously at its rate and holds
// one second of it, so a shard that was idle absorbs a one-second burst and
// a shard written at its full rate has no headroom: AWS enforces the
// per-shard limits over about a second and answers the excess with
// ProvisionedThroughputExceededException. On-demand streams have the same
// per-shard limits (AWS documents them "in both on-demand and provisioned
// capacity modes"); they add shards instead.
//
// Each shard's buckets sit behind one small mutex, taken once per PutRecord,
// once per shard group of a PutRecords and twice per GetRecords; nothing is
// allocated per record.

// AWS's per-shard limits.
const (
	DefaultShardWriteBytesPerSec   = 1 << 20
	DefaultShardWriteRecordsPerSec = 1000
	DefaultShardReadBytesPerSec    = 2 << 20
	DefaultShardReadCallsPerSec    = 5
)

// ThroughputLimits are the per-shard rates the data path enforces.
type ThroughputLimits struct {
	// Enabled turns enforcement on. The rates are still used to measure
	// on-demand shards' load when it is off.
	Enabled bool
	// Per-shard rates; 0 takes AWS's figure.
	WriteBytesPerSec, WriteRecordsPerSec int64
	ReadBytesPerSec, ReadCallsPerSec     int64
}

func (l *ThroughputLimits) ensureDefaults() {
	if l.WriteBytesPerSec <= 0 {
		l.WriteBytesPerSec = DefaultShardWriteBytesPerSec
	}
	if l.WriteRecordsPerSec <= 0 {
		l.WriteRecordsPerSec = DefaultShardWriteRecordsPerSec
	}
	if l.ReadBytesPerSec <= 0 {
		l.ReadBytesPerSec = DefaultShardReadBytesPerSec
	}
	if l.ReadCallsPerSec <= 0 {
		l.ReadCallsPerSec = DefaultShardReadCallsPerSec
	}
}

// bucket is a token bucket holding up to one second of its rate. Tokens go
// below zero only where a single request is larger than the bucket (a
// record or a GetRecords response bigger than one second of capacity): the
// shard then pays the debt back before it takes the next request.
type bucket struct {
	tokens, rate float64 // rate per second; capacity == rate
}

func (b *bucket) refill(seconds float64) {
	b.tokens = min(b.rate, b.tokens+b.rate*seconds)
}

// ShardThrottleStats are a shard's throttling counters since the server
// started (in memory only).
type ShardThrottleStats struct {
	// ThrottledRecords and ThrottledBytes are writes refused by the write
	// limits (PutRecord calls count as one record).
	ThrottledRecords, ThrottledBytes int64
	// ThrottledReads are GetRecords calls refused by the read limits.
	ThrottledReads int64
}

// shardLimiter is one shard's buckets and counters.
type shardLimiter struct {
	mu            sync.Mutex
	last          int64 // UnixNano of the last refill; 0 before the first use
	wBytes, wRecs bucket
	rBytes, rCall bucket
	// readBlockedUntil (UnixNano) is set by a response larger than one
	// second of read capacity: AWS throttles the shard's reads for the next
	// 5 seconds after a 10 MiB GetRecords.
	readBlockedUntil int64

	stats ShardThrottleStats
	// demand is what writers asked for (accepted and refused) since the
	// on-demand scaler last looked.
	demandBytes, demandRecords int64
}

func newShardLimiter(l *ThroughputLimits) *shardLimiter {
	sl := &shardLimiter{
		wBytes: bucket{rate: float64(l.WriteBytesPerSec)},
		wRecs:  bucket{rate: float64(l.WriteRecordsPerSec)},
		rBytes: bucket{rate: float64(l.ReadBytesPerSec)},
		rCall:  bucket{rate: float64(l.ReadCallsPerSec)},
	}
	// A new shard starts with full buckets.
	sl.wBytes.tokens, sl.wRecs.tokens = sl.wBytes.rate, sl.wRecs.rate
	sl.rBytes.tokens, sl.rCall.tokens = sl.rBytes.rate, sl.rCall.rate
	return sl
}

// lock takes the limiter and refills its buckets up to now.
func (sl *shardLimiter) lock(now int64) {
	sl.mu.Lock()
	if sl.last != 0 && now > sl.last {
		secs := float64(now-sl.last) / float64(time.Second)
		sl.wBytes.refill(secs)
		sl.wRecs.refill(secs)
		sl.rBytes.refill(secs)
		sl.rCall.refill(secs)
	}
	if now > sl.last {
		sl.last = now
	}
}

func (sl *shardLimiter) unlock() { sl.mu.Unlock() }

// takeWrite admits one record of size bytes (data plus partition key) when
// enforce is set and the buckets allow it, and records the demand either
// way. A record larger than the byte bucket passes when the bucket is full
// and leaves it in debt: AWS's large records draw on a replenishing burst
// allowance at the same 1 MiB/s. The caller holds the lock.
func (sl *shardLimiter) takeWrite(size int, enforce bool) bool {
	sz := float64(size)
	sl.demandBytes += int64(size)
	sl.demandRecords++
	if !enforce {
		return true
	}
	okBytes := sl.wBytes.tokens >= sz || sl.wBytes.tokens >= sl.wBytes.rate
	if sl.wRecs.tokens < 1 || !okBytes {
		sl.stats.ThrottledRecords++
		sl.stats.ThrottledBytes += int64(size)
		return false
	}
	sl.wRecs.tokens--
	sl.wBytes.tokens -= sz
	return true
}

// admitRead takes one read call if the shard's read limits allow it. The
// caller holds the lock.
func (sl *shardLimiter) admitRead(now int64) bool {
	if now < sl.readBlockedUntil || sl.rCall.tokens < 1 || sl.rBytes.tokens < 0 {
		sl.stats.ThrottledReads++
		return false
	}
	sl.rCall.tokens--
	return true
}

// chargeRead takes the bytes a GetRecords returned. A response larger than
// the bucket (one second of read capacity) blocks the shard's reads for as
// long as the capacity takes to deliver it: 5 seconds for 10 MiB at 2 MiB/s,
// AWS's documented rule.
func (sl *shardLimiter) chargeRead(now int64, bytes int) {
	b := float64(bytes)
	if b > sl.rBytes.rate {
		sl.readBlockedUntil = max(sl.readBlockedUntil, now+int64(b/sl.rBytes.rate*float64(time.Second)))
		sl.rBytes.tokens = 0
		return
	}
	sl.rBytes.tokens -= b
}

// throttles holds the shards' limiters.
type throttles struct {
	mu sync.RWMutex
	m  map[storage.ShardKey]*shardLimiter
}

// limiter returns the limiter of a shard, creating it on first use.
func (s *Streams) limiter(k storage.ShardKey) *shardLimiter {
	t := &s.capacity.thr
	t.mu.RLock()
	sl := t.m[k]
	t.mu.RUnlock()
	if sl != nil {
		return sl
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[storage.ShardKey]*shardLimiter)
	}
	if sl = t.m[k]; sl == nil {
		sl = newShardLimiter(&s.opts.Limits)
		t.m[k] = sl
	}
	return sl
}

// peekLimiter returns the limiter of a shard, or nil if it was never used.
func (s *Streams) peekLimiter(k storage.ShardKey) *shardLimiter {
	t := &s.capacity.thr
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[k]
}

// dropLimiters forgets the limiters of streams that no longer exist.
func (s *Streams) dropLimiters(live map[uint64]bool) {
	t := &s.capacity.thr
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.m {
		if !live[k.Stream] {
			delete(t.m, k)
		}
	}
}

// rateExceeded is AWS's throttling message, for a whole call and for one
// record of a PutRecords.
func rateExceeded(st *Stream, sh *Shard) *Error {
	return errorf(KindThroughputExceeded, "Rate exceeded for shard %s in stream %s under account %s.", sh.ID(), st.Name, st.Account)
}

// admitPut applies injected faults and the write limits to one PutRecord.
func (s *Streams) admitPut(st *Stream, sh *Shard, e *PutEntry) error {
	if f := s.injectFault(); f != faultNone {
		if f == faultThrottle {
			st.stats.writeRefused(sh.Index, 1, 0, false)
		}
		return f.err(st, sh)
	}
	k := st.Key(sh.Index)
	sl := s.limiter(k)
	sl.lock(s.now().UnixNano())
	size := len(e.Data) + len(e.PartitionKey)
	ok := sl.takeWrite(size, s.opts.Limits.Enabled)
	sl.unlock()
	if !ok {
		st.stats.writeRefused(sh.Index, 1, 0, false)
		return rateExceeded(st, sh)
	}
	if s.opts.Limits.Enabled || st.Mode == ModeOnDemand {
		s.peerTook(k, peerTake{wBytes: int64(size), wRecs: 1})
	}
	return nil
}

// admitPutGroup applies injected faults and the write limits to the entries
// of a PutRecords bound for one shard, in request order. idx are the
// entries' positions in the request and group their storage entries; the
// refused ones get their error in out and are removed from both slices,
// which are compacted in place and returned.
func (s *Streams) admitPutGroup(st *Stream, sh *Shard, entries []PutEntry, idx []int, group []storage.Entry, out *PutRecordsResult) ([]int, []storage.Entry) {
	k := st.Key(sh.Index)
	sl := s.limiter(k)
	enforce := s.opts.Limits.Enabled
	kept, throttled := 0, 0
	var took peerTake
	sl.lock(s.now().UnixNano())
	for j, i := range idx {
		f := s.injectFault()
		size := len(entries[i].Data) + len(entries[i].PartitionKey)
		if f == faultNone {
			if sl.takeWrite(size, enforce) {
				took.wBytes += int64(size)
				took.wRecs++
			} else {
				f = faultThrottle
			}
		}
		if f != faultNone {
			if f == faultThrottle {
				throttled++
			}
			e := f.err(st, sh)
			out.Records[i] = PutResult{ErrorCode: f.code(), ErrorMessage: e.Msg}
			out.FailedCount++
			continue
		}
		idx[kept], group[kept] = i, group[j]
		kept++
	}
	sl.unlock()
	// Writes to on-demand streams are told even when the limits are off:
	// the other nodes' scalers count them.
	if enforce || st.Mode == ModeOnDemand {
		s.peerTook(k, took)
	}
	st.stats.writeRefused(sh.Index, throttled, len(idx)-kept-throttled, true)
	return idx[:kept], group[:kept]
}

// admitGet applies injected faults and the read limits to a GetRecords on
// one shard. It returns the shard's limiter for chargeGet, or nil when the
// limits are off.
func (s *Streams) admitGet(st *Stream, sh *Shard) (*shardLimiter, error) {
	if f := s.injectFault(); f != faultNone {
		return nil, f.err(st, sh)
	}
	if !s.opts.Limits.Enabled {
		return nil, nil
	}
	k := st.Key(sh.Index)
	sl := s.limiter(k)
	now := s.now().UnixNano()
	sl.lock(now)
	ok := sl.admitRead(now)
	sl.unlock()
	if !ok {
		return nil, rateExceeded(st, sh)
	}
	s.peerTook(k, peerTake{rCalls: 1})
	return sl, nil
}

// chargeGet takes a GetRecords response's data from the shard's read
// capacity.
func (s *Streams) chargeGet(k storage.ShardKey, sl *shardLimiter, recs []Record) {
	if sl == nil {
		return
	}
	n := 0
	for i := range recs {
		n += len(recs[i].Data)
	}
	now := s.now().UnixNano()
	sl.lock(now)
	sl.chargeRead(now, n)
	sl.unlock()
	s.peerTook(k, peerTake{rBytes: int64(n)})
}

// ThrottleStats returns a shard's throttling counters.
func (s *Streams) ThrottleStats(ref StreamRef, shardID string) (ShardThrottleStats, error) {
	st, err := s.lookup(ref)
	if err != nil {
		return ShardThrottleStats{}, err
	}
	sh, err := shardOf(st, shardID)
	if err != nil {
		return ShardThrottleStats{}, err
	}
	sl := s.peekLimiter(st.Key(sh.Index))
	if sl == nil {
		return ShardThrottleStats{}, nil
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.stats, nil
}

package streams

import (
	"context"
	"io"
	"sync"
	"time"
)

// SubscribeToShard: a subscription pushes a shard's records to one
// consumer as they become durable. The write path signals each append
// (appendSignal); a subscription blocks on that signal, its heartbeat and
// its end, never on a polling interval.

// Subscription defaults, as AWS documents them.
const (
	// DefaultSubscriptionLifetime is how long a subscription lasts before
	// the stream ends and the client subscribes again.
	DefaultSubscriptionLifetime = 5 * time.Minute
	// DefaultSubscriptionHeartbeat is the longest a subscription stays
	// silent: an idle one still sends an event this often, with the
	// continuation sequence number.
	DefaultSubscriptionHeartbeat = 5 * time.Second
	// subscriptionTakeover is how long a subscription is protected: a second
	// subscription of the same consumer and shard within it is refused, a
	// later one takes over.
	subscriptionTakeover = 5 * time.Second
	// maxEventRecords and maxEventBytes bound one event.
	maxEventRecords = 10000
	maxEventBytes   = 2 << 20
)

func (s *Streams) subscriptionLifetime() time.Duration {
	if s.opts.SubscriptionLifetime > 0 {
		return s.opts.SubscriptionLifetime
	}
	return DefaultSubscriptionLifetime
}

// consumerRate is the bytes per second one consumer may read from one
// shard through subscriptions, 0 for no limit: ConsumerShardBytesPerSecond
// when set, else AWS's 2 MiB/s while throughput limits are enforced.
func (s *Streams) consumerRate() int64 {
	if s.opts.ConsumerShardBytesPerSecond > 0 {
		return s.opts.ConsumerShardBytesPerSecond
	}
	if s.opts.Limits.Enabled {
		return 2 << 20
	}
	return 0
}

func (s *Streams) subscriptionHeartbeat() time.Duration {
	if s.opts.SubscriptionHeartbeat > 0 {
		return s.opts.SubscriptionHeartbeat
	}
	return DefaultSubscriptionHeartbeat
}

// subKey identifies the subscriptions of one consumer to one shard.
type subKey struct {
	stream   streamKey
	consumer string
	shard    uint32
}

// lease is one live subscription's claim on its subKey.
type lease struct {
	started time.Time
	// gone reports whether the subscriber is known to be gone (nil: never
	// known). A subscriber that is gone frees its claim at once.
	gone func() bool
	done chan struct{}
	once sync.Once
	// claimRev is the revision of the subscription's claim in the
	// catalog, in a cluster (peers.go); guarded by subscriptions.mu.
	claimRev uint64
	reason   error // why it ended: nil for a clean end
}

func (l *lease) end(reason error) {
	l.once.Do(func() {
		l.reason = reason
		close(l.done)
	})
}

// subscriptions is the registry of live subscriptions.
type subscriptions struct {
	mu     sync.Mutex
	leases map[subKey]*lease
	ending bool // the server is stopping: no new subscription
}

func (r *subscriptions) acquire(k subKey, now time.Time, consumerARN, shardID string, gone func() bool) (*lease, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ending {
		return nil, errorf(KindInUse, "The server is shutting down; subscribe again later.")
	}
	if old := r.leases[k]; old != nil {
		switch {
		case old.gone != nil && old.gone():
			// Its client left (a dropped connection), possibly so
			// recently that its own handler has not yet seen it: the
			// 5-second rule protects live subscriptions, not dead ones.
			old.end(nil)
		case now.Sub(old.started) < subscriptionTakeover:
			return nil, errorf(KindInUse, "Another active subscription exists for consumer %s on shard %s; a new subscription may take it over %s after it started.", consumerARN, shardID, subscriptionTakeover)
		default:
			old.end(errorf(KindInUse, "The subscription of consumer %s to shard %s was taken over by a newer subscription.", consumerARN, shardID))
		}
	}
	if r.leases == nil {
		r.leases = make(map[subKey]*lease)
	}
	l := &lease{started: now, gone: gone, done: make(chan struct{})}
	r.leases[k] = l
	return l, nil
}

func (r *subscriptions) release(k subKey, l *lease) {
	r.mu.Lock()
	if r.leases[k] == l {
		delete(r.leases, k)
	}
	r.mu.Unlock()
	l.end(nil)
}

// takenOver ends this node's subscription of k if another node's claim
// of revision rev replaced its claim.
func (r *subscriptions) takenOver(k subKey, rev uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.leases[k]; l != nil && l.claimRev < rev {
		l.end(errorf(KindInUse, "The subscription of consumer %s to shard %d was taken over by a newer subscription through another node.", k.consumer, k.shard))
	}
}

// endConsumer ends every subscription of a deregistered consumer.
func (r *subscriptions) endConsumer(sref StreamRef, name string) {
	k, err := sref.key()
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for sk, l := range r.leases {
		if sk.stream == k && sk.consumer == name {
			l.end(errorf(KindNotFound, "Consumer %s of stream %s was deregistered.", name, sref.Name))
		}
	}
}

// EndSubscriptions ends every subscription cleanly (their event streams
// finish as if they had expired) and refuses new ones. A server calls it
// when it starts a graceful stop, so that open subscriptions do not hold
// the stop for their remaining lifetime.
func (s *Streams) EndSubscriptions() {
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	s.subs.ending = true
	for _, l := range s.subs.leases {
		l.end(nil)
	}
}

// SubscribeParams is a SubscribeToShard request.
type SubscribeParams struct {
	ConsumerARN string
	ShardID     string
	// Type is the StartingPosition type; SequenceNumber and Timestamp its
	// optional members ("" and nil when absent).
	Type           string
	SequenceNumber string
	Timestamp      *time.Time
	// Gone, when set, reports whether the subscriber is known to be gone
	// (its connection closed). A later Subscribe of the same consumer and
	// shard then succeeds at once instead of meeting the 5-second rule.
	Gone func() bool
}

// Subscription is a live SubscribeToShard. Call Next until it returns an
// error, then Close.
type Subscription struct {
	s           *Streams
	key         subKey
	lease       *lease
	consumerARN string
	streamID    uint64
	shard       uint32

	pos         uint64 // the next engine sequence number to send
	lastArrival int64  // arrival (ms) of the last record sent
	expires     time.Time
	lastEvent   time.Time
	finished    bool // the shard-end event was sent

	// tokens is the byte budget of the per-consumer, per-shard rate limit
	// (unused when the limit is off), refilled from refilled on.
	tokens   float64
	refilled time.Time

	counters      *ConsumerCounters // stats.go
	shardCounters *ShardCounters
}

// SubscribeEvent is one SubscribeToShardEvent.
type SubscribeEvent struct {
	Records []Record
	// ContinuationSequenceNumber resumes the subscription after this event
	// (AFTER_SEQUENCE_NUMBER); "" only at the end of a closed shard.
	ContinuationSequenceNumber string
	MillisBehindLatest         int64
	// ChildShards is set at the end of a closed shard.
	ChildShards []ChildShard
}

// Subscribe starts a subscription of an ACTIVE consumer to one shard of its
// stream at the starting position. It fails with ResourceInUseException
// when the same consumer subscribed to the same shard less than 5 seconds
// ago and that subscription is not known to be gone; a later call takes
// the subscription over and the older one ends.
func (s *Streams) Subscribe(ctx context.Context, p SubscribeParams) (*Subscription, error) {
	st, c, err := s.lookupConsumer(ConsumerRef{ARN: p.ConsumerARN})
	if err != nil {
		return nil, err
	}
	now := s.now()
	if status, _ := c.state(now.UnixMilli()); status != StatusActive {
		return nil, errorf(KindInUse, "Consumer %s is not ACTIVE, instead in state %s.", p.ConsumerARN, status)
	}
	sh, err := shardOf(st, p.ShardID)
	if err != nil {
		return nil, err
	}
	pos, err := s.startingPosition(ctx, st, sh, p, now)
	if err != nil {
		return nil, err
	}
	k := subKey{stream: st.mapKey(), consumer: c.Name, shard: sh.Index}
	l, err := s.subs.acquire(k, now, p.ConsumerARN, sh.ID(), p.Gone)
	if err == nil {
		var rev uint64
		if rev, err = s.claimSubscription(ctx, k, now, p.ConsumerARN, sh.ID()); err != nil {
			s.subs.release(k, l)
		} else {
			s.subs.mu.Lock()
			l.claimRev = rev
			s.subs.mu.Unlock()
		}
	}
	counters := s.subscribed(st, ConsumerARN(st.ARN, c.Name, c.CreatedAt), err)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{
		s: s, key: k, lease: l, consumerARN: p.ConsumerARN, streamID: st.ID, shard: sh.Index,
		pos: pos, lastArrival: sh.CreatedAt, expires: now.Add(s.subscriptionLifetime()),
		refilled: now,
	}
	sub.counters, sub.shardCounters = counters, st.stats.shardOrNil(sh.Index)
	if rate := s.consumerRate(); rate > 0 {
		sub.tokens = float64(rate)
	}
	return sub, nil
}

// startingPosition resolves a StartingPosition to an engine sequence number.
func (s *Streams) startingPosition(ctx context.Context, st *Stream, sh *Shard, p SubscribeParams, now time.Time) (uint64, error) {
	key := st.Key(sh.Index)
	switch p.Type {
	case AtSequenceNumber, AfterSequenceNumber:
		if p.SequenceNumber == "" {
			return 0, errorf(KindInvalidArgument, "StartingPosition of type %s requires a SequenceNumber.", p.Type)
		}
		pos, err := st.startingSequence(sh, p.SequenceNumber)
		if err != nil {
			return 0, err
		}
		if p.Type == AfterSequenceNumber {
			pos++
		}
		return pos, nil
	case TrimHorizon, Latest:
		if p.SequenceNumber != "" || p.Timestamp != nil {
			return 0, errorf(KindInvalidArgument, "StartingPosition of type %s takes no SequenceNumber or Timestamp.", p.Type)
		}
		if p.Type == Latest {
			b, err := s.log.Bounds(ctx, key)
			if err != nil {
				return 0, s.storageError("bounds", st, sh, err)
			}
			return b.Next, nil
		}
		pos, err := s.log.SeekTime(ctx, key, s.retentionCutoff(st, now))
		if err != nil {
			return 0, s.storageError("seek", st, sh, err)
		}
		return pos, nil
	case AtTimestamp:
		if p.Timestamp == nil {
			return 0, errorf(KindInvalidArgument, "StartingPosition of type AT_TIMESTAMP requires a Timestamp.")
		}
		ts := p.Timestamp.UnixMilli()
		if ts > now.UnixMilli() {
			return 0, errorf(KindInvalidArgument,
				"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d",
				ts, now.UnixMilli())
		}
		pos, err := s.log.SeekTime(ctx, key, max(ts, s.retentionCutoff(st, now)))
		if err != nil {
			return 0, s.storageError("seek", st, sh, err)
		}
		return pos, nil
	}
	return 0, errorf(KindInvalidArgument, "Invalid StartingPosition type %s.", p.Type)
}

// Close ends the subscription and frees its consumer and shard for the next
// one.
func (sub *Subscription) Close() {
	sub.s.subs.release(sub.key, sub.lease)
	sub.s.subs.mu.Lock()
	rev := sub.lease.claimRev
	sub.s.subs.mu.Unlock()
	sub.s.releaseClaim(sub.key, rev)
}

// Next blocks until there is an event to send: records (as soon as their
// append is durable), the end of a closed shard, or the heartbeat. It
// returns io.EOF when the subscription is over (it expired, the server is
// stopping, or the shard-end event was sent), a domain error when it
// failed (taken over, consumer or stream gone), or ctx's error.
func (sub *Subscription) Next(ctx context.Context) (*SubscribeEvent, error) {
	s := sub.s
	if sub.finished {
		return nil, io.EOF
	}
	heartbeat := s.subscriptionHeartbeat()
	// rereads counts reads that found nothing after a wake-up: in a
	// cluster the copy a read reaches may trail the append that woke it
	// by the replication delay, so an empty read after a wake-up is tried
	// again a few times, shortly after.
	rereads := 0
	for {
		select {
		case <-sub.lease.done:
			return nil, sub.endReason()
		default:
		}
		now := s.now()
		if !now.Before(sub.expires) {
			return nil, io.EOF
		}
		st, sh, err := sub.snapshot()
		if err != nil {
			return nil, err
		}
		if wait := sub.refill(now); wait > 0 {
			if _, err := sub.sleep(ctx, wait, nil); err != nil {
				return nil, err
			}
			continue
		}
		// Take the signal before reading, so that an append that becomes
		// durable after the read still wakes the wait below.
		signal := s.appends.wait(st.Key(sh.Index))
		ev, err := sub.read(ctx, st, sh, now)
		if err != nil {
			return nil, err
		}
		due := sub.lastEvent.IsZero() || now.Sub(sub.lastEvent) >= heartbeat
		if ev != nil || due {
			if ev == nil {
				if ev, err = sub.emptyEvent(ctx, st, sh, now); err != nil {
					return nil, err
				}
			}
			sub.lastEvent = now
			sub.eventSent(ev)
			return ev, nil
		}
		wait := heartbeat - now.Sub(sub.lastEvent)
		if until := sub.expires.Sub(now); until < wait {
			wait = until
		}
		if rereads > 0 && rereads <= maxRereads {
			wait = min(wait, time.Duration(rereads)*rereadDelay)
		}
		woken, err := sub.sleep(ctx, wait, signal)
		if err != nil {
			return nil, err
		}
		switch {
		case woken:
			rereads = 1
		case rereads > 0:
			rereads++
		}
	}
}

// After a wake-up whose read finds nothing, a subscription reads again
// after rereadDelay, twice that, and so on, maxRereads times.
const (
	rereadDelay = 20 * time.Millisecond
	maxRereads  = 5
)

// sleep waits for d, the signal, the subscription's end or ctx; the end is
// reported as an error. It reports whether the signal woke it.
func (sub *Subscription) sleep(ctx context.Context, d time.Duration, signal <-chan struct{}) (bool, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-signal:
		return true, nil
	case <-sub.lease.done:
		return false, sub.endReason()
	case <-sub.s.ctx.Done():
		return false, io.EOF
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return false, nil
}

func (sub *Subscription) endReason() error {
	if sub.lease.reason != nil {
		return sub.lease.reason
	}
	return io.EOF
}

// refill tops up the rate limit's budget and returns how long to wait
// before reading (0: go ahead).
func (sub *Subscription) refill(now time.Time) time.Duration {
	rate := float64(sub.s.consumerRate())
	if rate <= 0 {
		return 0
	}
	sub.tokens = min(rate, sub.tokens+now.Sub(sub.refilled).Seconds()*rate)
	sub.refilled = now
	if sub.tokens > 0 {
		return 0
	}
	return time.Duration(-sub.tokens / rate * float64(time.Second))
}

// snapshot returns the current stream and shard, or the error that ends
// the subscription: the stream or the consumer is gone.
func (sub *Subscription) snapshot() (*Stream, *Shard, error) {
	st, _, err := sub.s.lookupConsumer(ConsumerRef{ARN: sub.consumerARN})
	if err != nil {
		return nil, nil, err
	}
	if st.ID != sub.streamID || int(sub.shard) >= len(st.Shards) {
		return nil, nil, errorf(KindNotFound, "Consumer %s not found.", sub.consumerARN)
	}
	return st, &st.Shards[sub.shard], nil
}

// read returns an event with the records from the subscription's position,
// or the shard-end event, or nil when there is nothing new.
func (sub *Subscription) read(ctx context.Context, st *Stream, sh *Shard, now time.Time) (*SubscribeEvent, error) {
	s := sub.s
	key := st.Key(sh.Index)
	if !sh.IsOpen() && sub.pos > sh.EndingSeq {
		return sub.endEvent(st, sh), nil
	}
	maxBytes := maxEventBytes
	if s.consumerRate() > 0 {
		maxBytes = max(1, min(maxBytes, int(sub.tokens)))
	}
	cutoff := s.retentionCutoff(st, now)
	recs, err := s.log.Read(ctx, key, sub.pos, maxEventRecords, maxBytes)
	if err != nil {
		return nil, s.storageError("read", st, sh, err)
	}
	if len(recs) > 0 && recs[0].Arrival < cutoff {
		pos, err := s.log.SeekTime(ctx, key, cutoff)
		if err != nil {
			return nil, s.storageError("seek", st, sh, err)
		}
		sub.pos = max(sub.pos, pos)
		if recs, err = s.log.Read(ctx, key, sub.pos, maxEventRecords, maxBytes); err != nil {
			return nil, s.storageError("read", st, sh, err)
		}
	}
	out := make([]Record, 0, len(recs))
	size := 0
	for i := range recs {
		r := &recs[i]
		if !sh.IsOpen() && r.Seq > sh.EndingSeq {
			break
		}
		sub.pos = r.Seq + 1
		if r.Arrival < cutoff {
			continue
		}
		rec := Record{
			SequenceNumber: st.SequenceNumber(sh, r.Seq, r.Arrival),
			Arrival:        r.Arrival, Data: r.Data, PartitionKey: string(r.PartitionKey),
		}
		if len(r.PartitionKey) == 0 { // encrypted (encryption.go)
			if err := s.openRecord(ctx, key, r, &rec); err != nil {
				return nil, err
			}
		}
		out = append(out, rec)
		sub.lastArrival = r.Arrival
		size += r.Size()
	}
	if !sh.IsOpen() && len(recs) == 0 {
		sub.pos = max(sub.pos, sh.EndingSeq+1)
	}
	if s.consumerRate() > 0 {
		sub.tokens -= float64(size)
	}
	if len(out) == 0 {
		if !sh.IsOpen() && sub.pos > sh.EndingSeq {
			return sub.endEvent(st, sh), nil
		}
		return nil, nil
	}
	ev := &SubscribeEvent{Records: out, ContinuationSequenceNumber: out[len(out)-1].SequenceNumber}
	if ev.MillisBehindLatest, err = s.behind(ctx, st, sh, sub.pos, out, now); err != nil {
		return nil, err
	}
	return ev, nil
}

// endEvent is the last event of a closed shard: no continuation, the
// shard's children.
func (sub *Subscription) endEvent(st *Stream, sh *Shard) *SubscribeEvent {
	sub.finished = true
	return &SubscribeEvent{Records: []Record{}, ChildShards: childShards(st, sh)}
}

// emptyEvent is a heartbeat: no records, and the continuation sequence
// number of the position reached, so that a client can checkpoint even
// when nothing is written.
func (sub *Subscription) emptyEvent(ctx context.Context, st *Stream, sh *Shard, now time.Time) (*SubscribeEvent, error) {
	ev := &SubscribeEvent{
		Records:                    []Record{},
		ContinuationSequenceNumber: st.SequenceNumber(sh, max(sub.pos, 1)-1, sub.lastArrival),
	}
	var err error
	if ev.MillisBehindLatest, err = sub.s.behind(ctx, st, sh, sub.pos, nil, now); err != nil {
		return nil, err
	}
	return ev, nil
}

package streams

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/metrics"
)

// The Kinesis metrics AWS publishes to CloudWatch (namespace AWS/Kinesis),
// counted where they happen: each published stream snapshot carries its
// stream's counters, and the data path updates them with atomic adds, no
// lock and no allocation per record. Readers (the server's Prometheus
// collector, a per-minute aggregator) take Stats at their own pace and
// difference the running totals. The counters live in memory and start at
// zero with the server; a deleted stream's counters go with its snapshot,
// and a stream created again under the same name starts from zero.

// StreamCounters are a stream's stream-level metrics: running totals since
// the server started. Sums are CloudWatch's Sum statistic and the *Requests
// and *Puts counts its SampleCount, so that a reader derives Average.
type StreamCounters struct {
	// IncomingBytes and IncomingRecords are what PutRecord and PutRecords
	// stored (data plus partition key); IncomingPuts counts the calls that
	// stored at least one record.
	IncomingBytes, IncomingRecords, IncomingPuts atomic.Int64

	// PutRecord calls that reached the stream, those that succeeded and
	// their bytes; latency in nanoseconds.
	PutRecordRequests, PutRecordSuccess, PutRecordBytes atomic.Int64
	PutRecordLatency                                    metrics.Histogram

	// PutRecords calls that reached the stream, those that stored at least
	// one record (PutRecords.Success), their stored bytes, and the records
	// sent, stored, refused by throttling and failed internally.
	PutRecordsRequests, PutRecordsSuccess, PutRecordsBytes atomic.Int64
	PutRecordsTotalRecords, PutRecordsSuccessfulRecords    atomic.Int64
	PutRecordsThrottledRecords, PutRecordsFailedRecords    atomic.Int64
	PutRecordsLatency                                      metrics.Histogram

	// GetRecords calls that reached the stream, those that succeeded, the
	// records and bytes they returned; latency in nanoseconds and iterator
	// age (GetRecords.IteratorAgeMilliseconds) in milliseconds.
	GetRecordsRequests, GetRecordsSuccess, GetRecordsBytes, GetRecordsRecords atomic.Int64
	GetRecordsLatency, GetRecordsIteratorAge                                  metrics.Histogram

	// WriteThroughputExceeded counts records refused by throttling (both
	// put operations); ReadThroughputExceeded GetRecords calls refused.
	WriteThroughputExceeded, ReadThroughputExceeded atomic.Int64
}

// ShardCounters are a shard's shard-level (enhanced) metrics. Outgoing
// counts GetRecords responses and SubscribeToShard events alike, as AWS's
// OutgoingBytes and OutgoingRecords do.
type ShardCounters struct {
	IncomingBytes, IncomingRecords                  atomic.Int64
	OutgoingBytes, OutgoingRecords                  atomic.Int64
	WriteThroughputExceeded, ReadThroughputExceeded atomic.Int64
	// IncomingPuts counts the put calls that stored records in the shard
	// and OutgoingReads the successful GetRecords calls and the events
	// with records that read it: the SampleCount of Incoming* and
	// Outgoing*.
	IncomingPuts, OutgoingReads atomic.Int64
	// IteratorAge is GetRecords' age of the last record, in milliseconds.
	IteratorAge metrics.Histogram
}

// Idle reports whether nothing has been counted on the stream yet (since
// the server started), so that metric sources can pass over it: its
// totals are all zero.
func (c *StreamCounters) Idle() bool {
	for _, v := range []*atomic.Int64{&c.IncomingBytes, &c.IncomingRecords, &c.IncomingPuts,
		&c.PutRecordRequests, &c.PutRecordSuccess, &c.PutRecordBytes,
		&c.PutRecordsRequests, &c.PutRecordsSuccess, &c.PutRecordsBytes,
		&c.PutRecordsTotalRecords, &c.PutRecordsSuccessfulRecords,
		&c.PutRecordsThrottledRecords, &c.PutRecordsFailedRecords,
		&c.GetRecordsRequests, &c.GetRecordsSuccess, &c.GetRecordsBytes, &c.GetRecordsRecords,
		&c.WriteThroughputExceeded, &c.ReadThroughputExceeded} {
		if v.Load() != 0 {
			return false
		}
	}
	return c.PutRecordLatency.Empty() && c.PutRecordsLatency.Empty() &&
		c.GetRecordsLatency.Empty() && c.GetRecordsIteratorAge.Empty()
}

// Idle reports whether nothing has been counted on the shard yet (since
// the server started): its totals are all zero.
func (c *ShardCounters) Idle() bool {
	return c.IncomingBytes.Load() == 0 && c.IncomingRecords.Load() == 0 &&
		c.OutgoingBytes.Load() == 0 && c.OutgoingRecords.Load() == 0 &&
		c.WriteThroughputExceeded.Load() == 0 && c.ReadThroughputExceeded.Load() == 0 &&
		c.IncomingPuts.Load() == 0 && c.OutgoingReads.Load() == 0 && c.IteratorAge.Empty()
}

// ConsumerCounters are an enhanced fan-out consumer's metrics (dimensions
// StreamName and ConsumerName on AWS).
type ConsumerCounters struct {
	// SubscribeSuccess counts subscriptions started; SubscribeRateExceeded
	// those refused because the consumer already had one on the shard.
	SubscribeSuccess, SubscribeRateExceeded atomic.Int64
	// Events sent (SubscribeToShardEvent.Success, heartbeats included),
	// their records and bytes, and MillisBehindLatest in milliseconds.
	EventSuccess, EventRecords, EventBytes atomic.Int64
	MillisBehindLatest                     metrics.Histogram
}

// Idle reports whether nothing has been counted for the consumer yet:
// its totals are all zero.
func (c *ConsumerCounters) Idle() bool {
	return c.SubscribeSuccess.Load() == 0 && c.SubscribeRateExceeded.Load() == 0 &&
		c.EventSuccess.Load() == 0 && c.EventRecords.Load() == 0 && c.EventBytes.Load() == 0 &&
		c.MillisBehindLatest.Empty()
}

// streamStats holds one stream's counters. Snapshots of a stream share it.
type streamStats struct {
	StreamCounters

	// shards is indexed by Shard.Index and only grows (copy on write under
	// mu), so the data path reads it without a lock.
	shards atomic.Pointer[[]*ShardCounters]
	mu     sync.Mutex
	// consumers are keyed by consumer ARN (which carries its creation
	// time), so a consumer registered again under its name starts afresh.
	consumers map[string]*ConsumerCounters
}

func newStreamStats() *streamStats {
	m := new(streamStats)
	m.PutRecordLatency.Init(metrics.LatencyBounds)
	m.PutRecordsLatency.Init(metrics.LatencyBounds)
	m.GetRecordsLatency.Init(metrics.LatencyBounds)
	m.GetRecordsIteratorAge.Init(metrics.AgeBounds)
	return m
}

// shard returns a shard's counters, creating them on first use.
func (m *streamStats) shard(i uint32) *ShardCounters {
	if p := m.shards.Load(); p != nil && int(i) < len(*p) && (*p)[i] != nil {
		return (*p)[i]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var cur []*ShardCounters
	if p := m.shards.Load(); p != nil {
		cur = *p
	}
	if int(i) < len(cur) && cur[i] != nil {
		return cur[i]
	}
	next := make([]*ShardCounters, max(len(cur), int(i)+1))
	copy(next, cur)
	c := new(ShardCounters)
	c.IteratorAge.Init(metrics.AgeBounds)
	next[i] = c
	m.shards.Store(&next)
	return c
}

// idleShard stands in Stats for every shard that has counted nothing
// since the server started: zero, and never written (the data path gives a
// shard counters of its own on first use, through shard). Counters for
// every shard, created for Stats, cost about 260 bytes a shard for shards
// that may never be used.
var idleShard = func() *ShardCounters {
	c := new(ShardCounters)
	c.IteratorAge.Init(metrics.AgeBounds)
	return c
}()

// shardForStats returns shard i's counters from a stream's list, or
// idleShard when it has none.
func shardForStats(list []*ShardCounters, i uint32) *ShardCounters {
	if int(i) < len(list) && list[i] != nil {
		return list[i]
	}
	return idleShard
}

// shardOrNil is shard on counters that may be absent.
func (m *streamStats) shardOrNil(i uint32) *ShardCounters {
	if m == nil {
		return nil
	}
	return m.shard(i)
}

// consumer returns a consumer's counters, creating them on first use.
func (m *streamStats) consumer(arn string) *ConsumerCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.consumers[arn]
	if c == nil {
		if m.consumers == nil {
			m.consumers = make(map[string]*ConsumerCounters)
		}
		c = new(ConsumerCounters)
		c.MillisBehindLatest.Init(metrics.AgeBounds)
		m.consumers[arn] = c
	}
	return c
}

// adoptStats gives a snapshot about to be published its stream's counters:
// those of the snapshot it replaces when that is the same stream, else new
// ones. Snapshots cloned from a published one already carry them.
func (s *Streams) adoptStats(st *Stream) {
	if st.stats != nil {
		return
	}
	s.mu.RLock()
	old := s.streams[st.mapKey()]
	s.mu.RUnlock()
	if old != nil && old.ID == st.ID && old.stats != nil {
		st.stats = old.stats
		return
	}
	st.stats = newStreamStats()
}

// The counting points of the data path. Each is a no-op on a snapshot
// without counters (one built outside the catalog, in tests).

func (m *streamStats) putRecordDone(start time.Time) {
	if m == nil {
		return
	}
	m.PutRecordRequests.Add(1)
	m.PutRecordLatency.Observe(int64(time.Since(start)))
}

func (m *streamStats) putRecordStored(sh uint32, size int) {
	if m == nil {
		return
	}
	n := int64(size)
	m.IncomingBytes.Add(n)
	m.IncomingRecords.Add(1)
	m.IncomingPuts.Add(1)
	m.PutRecordSuccess.Add(1)
	m.PutRecordBytes.Add(n)
	c := m.shard(sh)
	c.IncomingBytes.Add(n)
	c.IncomingRecords.Add(1)
	c.IncomingPuts.Add(1)
}

// putTally is what a PutRecords sent and stored.
type putTally struct{ total, stored, bytes int }

// putRecordsDone counts a finished PutRecords: t.total records sent, of
// which t.stored were stored (t.bytes of data and keys).
func (m *streamStats) putRecordsDone(start time.Time, t *putTally) {
	if m == nil {
		return
	}
	total, stored, bytes := t.total, t.stored, t.bytes
	m.PutRecordsRequests.Add(1)
	m.PutRecordsTotalRecords.Add(int64(total))
	if stored > 0 {
		m.PutRecordsSuccess.Add(1)
		m.PutRecordsSuccessfulRecords.Add(int64(stored))
		m.PutRecordsBytes.Add(int64(bytes))
		m.IncomingBytes.Add(int64(bytes))
		m.IncomingRecords.Add(int64(stored))
		m.IncomingPuts.Add(1)
	}
	m.PutRecordsLatency.Observe(int64(time.Since(start)))
}

// shardStored counts records a PutRecords stored in one shard.
func (m *streamStats) shardStored(sh uint32, records, bytes int) {
	if m == nil || records == 0 {
		return
	}
	c := m.shard(sh)
	c.IncomingBytes.Add(int64(bytes))
	c.IncomingRecords.Add(int64(records))
	c.IncomingPuts.Add(1)
}

// writeRefused counts records refused before they were written: throttled
// (by the limits or an injected throttle) and failed (an injected
// internal failure, or in PutRecords a failed append). PutRecord refusals
// count only toward WriteProvisionedThroughputExceeded.
func (m *streamStats) writeRefused(sh uint32, throttled, failed int, batch bool) {
	if m == nil || throttled+failed == 0 {
		return
	}
	if throttled > 0 {
		m.WriteThroughputExceeded.Add(int64(throttled))
		m.shard(sh).WriteThroughputExceeded.Add(int64(throttled))
	}
	if batch {
		m.PutRecordsThrottledRecords.Add(int64(throttled))
		m.PutRecordsFailedRecords.Add(int64(failed))
	}
}

// getRecordsDone counts a finished GetRecords on shard sh: its result, or
// its error (a throttled call counts toward ReadProvisionedThroughputExceeded).
func (m *streamStats) getRecordsDone(sh uint32, start time.Time, res **GetRecordsResult, err *error) {
	if m == nil {
		return
	}
	m.GetRecordsRequests.Add(1)
	m.GetRecordsLatency.Observe(int64(time.Since(start)))
	if *err != nil {
		var e *Error
		if errors.As(*err, &e) && e.Kind == KindThroughputExceeded {
			m.ReadThroughputExceeded.Add(1)
			m.shard(sh).ReadThroughputExceeded.Add(1)
		}
		return
	}
	r := *res
	bytes := 0
	for i := range r.Records {
		bytes += len(r.Records[i].Data) + len(r.Records[i].PartitionKey)
	}
	n := int64(len(r.Records))
	m.GetRecordsSuccess.Add(1)
	m.GetRecordsRecords.Add(n)
	m.GetRecordsBytes.Add(int64(bytes))
	m.GetRecordsIteratorAge.Observe(r.MillisBehindLatest)
	c := m.shard(sh)
	c.OutgoingRecords.Add(n)
	c.OutgoingBytes.Add(int64(bytes))
	c.OutgoingReads.Add(1)
	c.IteratorAge.Observe(r.MillisBehindLatest)
}

// subscribed counts a SubscribeToShard of a consumer: started, or refused
// because the consumer already has a subscription to the shard.
func (s *Streams) subscribed(st *Stream, consumerARN string, err error) *ConsumerCounters {
	if st.stats == nil {
		return nil
	}
	c := st.stats.consumer(consumerARN)
	var e *Error
	switch {
	case err == nil:
		c.SubscribeSuccess.Add(1)
	case errors.As(err, &e) && e.Kind == KindInUse:
		c.SubscribeRateExceeded.Add(1)
	}
	return c
}

// eventSent counts one SubscribeToShardEvent handed to the subscriber.
func (sub *Subscription) eventSent(ev *SubscribeEvent) {
	c := sub.counters
	if c == nil || ev == nil {
		return
	}
	bytes := 0
	for i := range ev.Records {
		bytes += len(ev.Records[i].Data) + len(ev.Records[i].PartitionKey)
	}
	c.EventSuccess.Add(1)
	c.EventRecords.Add(int64(len(ev.Records)))
	c.EventBytes.Add(int64(bytes))
	c.MillisBehindLatest.Observe(ev.MillisBehindLatest)
	if sub.shardCounters != nil && len(ev.Records) > 0 {
		sub.shardCounters.OutgoingRecords.Add(int64(len(ev.Records)))
		sub.shardCounters.OutgoingBytes.Add(int64(bytes))
		sub.shardCounters.OutgoingReads.Add(1)
	}
}

// StreamStats is one stream's metrics as a reader sees them: its identity,
// the shard-level metrics enabled on it, and live counters (read them with
// their Load and Snapshot methods).
type StreamStats struct {
	Account, Region, Name string
	// ShardLevelMetrics are the shard-level metrics EnableEnhancedMonitoring
	// turned on (never "ALL": it is expanded).
	ShardLevelMetrics []string
	Counters          *StreamCounters
	Shards            []ShardStats
	Consumers         []ConsumerStats
}

// ShardStats are one shard's counters. A shard that had counted nothing
// when Stats was taken has shared zero counters that stay zero (its own
// are created on its first count): take Stats again to see later counts.
type ShardStats struct {
	ShardID  string
	Counters *ShardCounters
}

// ConsumerStats are one registered consumer's counters.
type ConsumerStats struct {
	Name, ARN string
	Counters  *ConsumerCounters
}

// Stats returns the metrics of every stream that exists now, each with all
// its shards and its registered consumers. Counters of consumers no longer
// registered are dropped here.
func (s *Streams) Stats() []StreamStats {
	s.mu.RLock()
	snaps := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		snaps = append(snaps, st)
	}
	s.mu.RUnlock()
	out := make([]StreamStats, 0, len(snaps))
	for _, st := range snaps {
		m := st.stats
		if m == nil {
			continue
		}
		ss := StreamStats{
			Account: st.Account, Region: st.Region, Name: st.Name,
			ShardLevelMetrics: st.ShardLevelMetrics,
			Counters:          &m.StreamCounters,
			Shards:            make([]ShardStats, len(st.Shards)),
		}
		var list []*ShardCounters
		if p := m.shards.Load(); p != nil {
			list = *p
		}
		for i := range st.Shards {
			ss.Shards[i] = ShardStats{ShardID: st.Shards[i].ID(), Counters: shardForStats(list, st.Shards[i].Index)}
		}
		live := make(map[string]bool, len(st.Consumers))
		for i := range st.Consumers {
			c := &st.Consumers[i]
			arn := ConsumerARN(st.ARN, c.Name, c.CreatedAt)
			live[arn] = true
			ss.Consumers = append(ss.Consumers, ConsumerStats{Name: c.Name, ARN: arn, Counters: m.consumer(arn)})
		}
		m.mu.Lock()
		for arn := range m.consumers {
			if !live[arn] {
				delete(m.consumers, arn)
			}
		}
		m.mu.Unlock()
		out = append(out, ss)
	}
	return out
}

// OpenSubscriptions is the number of SubscribeToShard calls being served.
func (s *Streams) OpenSubscriptions() int {
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	return len(s.subs.leases)
}

package producer

import (
	"time"

	"github.com/millrace/millrace/aggregation"
)

// userRecord is a record accepted by Put and not yet answered.
type userRecord struct {
	pk, ehk  string
	hk       aggregation.HashKey
	data     []byte
	size     int64 // bytes held against MaxBufferedBytes
	arrived  time.Time
	epoch    uint64
	attempts int
	lastErr  error
	fut      *Future
	cb       func(Result)
}

// shardQueue holds the records predicted to go to one shard, oldest first,
// with the shard's rate-limit buckets.
type shardQueue struct {
	id  string // "" for the fallback queue (no shard map)
	rng aggregation.HashRange

	recs  []*userRecord
	head  int
	bytes int64

	inFlight  int
	notBefore time.Time // backoff after a failed attempt
	// waitFor are the queues of shards this one replaced (or the fallback
	// queue) that still have PutRecords calls in flight: their records
	// precede this queue's, so it sends nothing until they are answered.
	waitFor []*shardQueue

	// lim keeps the shard's writes within its limits; nil for the
	// fallback queue.
	lim *rateLimiter
}

// busy reports whether q, or a queue it waits for, has a call in flight.
func (q *shardQueue) busy() bool { return q.inFlight > 0 || q.waiting() }

// waiting reports whether a replaced queue this one inherits from still
// has a call in flight.
func (q *shardQueue) waiting() bool {
	for _, w := range q.waitFor {
		if w.inFlight > 0 {
			return true
		}
	}
	q.waitFor = nil
	return false
}

func (q *shardQueue) len() int           { return len(q.recs) - q.head }
func (q *shardQueue) front() *userRecord { return q.recs[q.head] }

func (q *shardQueue) pushBack(r *userRecord) {
	q.recs = append(q.recs, r)
	q.bytes += r.size
}

func (q *shardQueue) popFront() *userRecord {
	r := q.recs[q.head]
	q.recs[q.head] = nil
	q.head++
	q.bytes -= r.size
	if q.head == len(q.recs) {
		q.recs, q.head = q.recs[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.recs) {
		n := copy(q.recs, q.recs[q.head:])
		clear(q.recs[n:])
		q.recs, q.head = q.recs[:n], 0
	}
	return r
}

// pushFront puts rs back at the head, in their order: they are older than
// every queued record.
func (q *shardQueue) pushFront(rs []*userRecord) {
	for _, r := range rs {
		q.bytes += r.size
	}
	if q.head >= len(rs) {
		q.head -= len(rs)
		copy(q.recs[q.head:], rs)
		return
	}
	n := make([]*userRecord, 0, len(rs)+q.len()+16)
	n = append(append(n, rs...), q.recs[q.head:]...)
	q.recs, q.head = n, 0
}

func (q *shardQueue) takeAll() []*userRecord {
	out := append([]*userRecord(nil), q.recs[q.head:]...)
	q.recs, q.head, q.bytes = nil, 0, 0
	return out
}

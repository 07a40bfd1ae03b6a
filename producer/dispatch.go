package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/aggregation"
)

// entry is one Kinesis record of a batch and the user records it carries.
type entry struct {
	rec   aggregation.Record
	users []*userRecord
}

type batch struct {
	q       *shardQueue
	entries []entry
	bytes   int
	limited bool // charged to q's rate limiter
}

// run is the dispatch loop: it starts a PutRecords call for every shard
// whose records are due and whose rate limit allows, and expires records.
func (p *Producer) run() {
	defer p.loop.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		now := time.Now()
		var done []completion
		if !now.Before(p.nextSweep) {
			done = p.expire(now, done)
			p.nextSweep = now.Add(min(time.Second, p.opts.RecordTTL/4))
		}
		next, done := p.dispatch(now, done)
		next = minTime(next, p.nextSweep)
		p.mu.Unlock()
		deliver(done)
		p.metrics.userRecordsFailed.Add(uint64(len(done)))
		timer.Reset(max(next.Sub(time.Now()), 0))
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.ctx.Done():
			return
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// expire fails every queued record whose TTL has passed. Call with p.mu.
func (p *Producer) expire(now time.Time, done []completion) []completion {
	for _, q := range append(p.shards, p.fallback) {
		if q.len() == 0 {
			continue
		}
		keep := q.recs[:0]
		for _, r := range q.recs[q.head:] {
			if now.Sub(r.arrived) >= p.opts.RecordTTL {
				q.bytes -= r.size
				done = append(done, p.release(r, Result{Attempts: r.attempts, Err: p.expiredErr(r)}))
				p.metrics.expired.Add(1)
				continue
			}
			keep = append(keep, r)
		}
		clear(q.recs[len(keep):])
		q.recs, q.head = keep, 0
	}
	return done
}

// dispatch starts the sends that may go now and returns when it should run
// again. Call with p.mu.
func (p *Producer) dispatch(now time.Time, done []completion) (time.Time, []completion) {
	next := now.Add(time.Hour)
	perShard := p.opts.MaxInFlightPerShard
	if p.opts.PreserveOrder {
		perShard = 1
	}
	for _, q := range append(p.shards, p.fallback) {
		if q == p.fallback && p.mapLoading {
			continue // the first shard map is on its way
		}
		if q.waiting() {
			continue // sent again when the replaced shard's calls end
		}
		limited := !p.opts.DisableRateLimit && q.lim != nil
		for q.len() > 0 && p.inFlight < p.opts.MaxConnections && q.inFlight < perShard {
			if now.Before(q.notBefore) {
				next = minTime(next, q.notBefore)
				break
			}
			f := q.front()
			// While a Put waits for buffer space no record can join a
			// batch: lingering would only idle the calls.
			due := p.closing || f.epoch < p.flushEpoch || p.full(q) || p.spaceWanted || now.Sub(f.arrived) >= p.opts.RecordMaxBufferedTime
			if !due {
				next = minTime(next, f.arrived.Add(p.opts.RecordMaxBufferedTime))
				break
			}
			if limited {
				q.lim.refill(now)
				if ok, at := q.lim.ready(now, p.queuedKinesisRecords(q), p.queuedKinesisBytes(q)); !ok {
					next = minTime(next, at)
					break
				}
			}
			var b *batch
			var need int
			b, need, done = p.buildBatch(q, now, limited, done)
			if b == nil {
				if need > 0 {
					// The head record waits for its tokens.
					next = minTime(next, q.lim.when(now, 1, float64(need)))
					break
				}
				continue // what was at the head had expired
			}
			q.inFlight++
			p.inFlight++
			p.sends.Add(1)
			go p.send(b)
		}
	}
	return next, done
}

// queuedKinesisRecords estimates how many Kinesis records q's queue makes.
func (p *Producer) queuedKinesisRecords(q *shardQueue) int {
	if p.opts.DisableAggregation {
		return q.len()
	}
	return min(q.len(), int(q.bytes)/p.opts.AggregationMaxSize+1)
}

// queuedKinesisBytes estimates the bytes of the Kinesis records q's queue
// makes: aggregates add a little framing to their records.
func (p *Producer) queuedKinesisBytes(q *shardQueue) int {
	if p.opts.DisableAggregation {
		return int(q.bytes)
	}
	return int(q.bytes + q.bytes/16 + 64)
}

// buildBatch takes records from the head of q into one PutRecords call,
// within the request limits and, when limited, q's rate tokens. When the
// first Kinesis record does not fit the tokens it returns no batch and
// that record's size in bytes. Call with p.mu.
func (p *Producer) buildBatch(q *shardQueue, now time.Time, limited bool, done []completion) (*batch, int, []completion) {
	b := &batch{q: q, limited: limited}
	aggregate := !p.opts.DisableAggregation && q.id != ""
	var agg aggregation.Aggregator
	need := 0
	// fits reports whether a Kinesis record of n bytes still fits the call
	// (the first always does) and the shard's tokens.
	fits := func(n int) bool {
		if len(b.entries) > 0 && b.bytes+n > p.opts.CollectionMaxSize {
			return false
		}
		if limited && !q.lim.fits(len(b.entries), b.bytes, n) {
			if len(b.entries) == 0 {
				need = n
			}
			return false
		}
		return true
	}
	// With PreserveOrder, a hash key packed in an aggregate is not put
	// again in a later record of the same call: if the aggregate lands on a
	// shard that no longer owns the key (a reshard the shard map has not
	// caught up with), the key's records in it are put again, and a later
	// record of the key already written would overtake them.
	var packed map[aggregation.HashKey]bool
	if aggregate && p.opts.PreserveOrder {
		packed = map[aggregation.HashKey]bool{}
	}
	for q.len() > 0 && len(b.entries) < p.opts.CollectionMaxCount {
		r := q.front()
		if packed[r.hk] {
			break
		}
		if now.Sub(r.arrived) >= p.opts.RecordTTL {
			q.popFront()
			done = append(done, p.release(r, Result{Attempts: r.attempts, Err: p.expiredErr(r)}))
			p.metrics.expired.Add(1)
			continue
		}
		plain := len(r.data) + len(r.pk)
		agg.Reset()
		if !aggregate || agg.SizeWith(aggregation.Record{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data})+1 > p.opts.AggregationMaxSize {
			if !fits(plain) {
				break
			}
			q.popFront()
			b.entries = append(b.entries, entry{rec: aggregation.Record{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data}, users: []*userRecord{r}})
			b.bytes += plain
			continue
		}
		// Pack an aggregate from the head of the queue; when the tokens
		// left would cut it short of the queue or of AggregationMaxSize,
		// leave it to the next call rather than send a sliver.
		if limited && len(b.entries) > 0 && !q.lim.fits(len(b.entries), b.bytes, min(p.opts.AggregationMaxSize, p.queuedKinesisBytes(q))) {
			break
		}
		var users []*userRecord
		for q.len() > 0 && agg.Len() < p.opts.AggregationMaxCount {
			r := q.front()
			if now.Sub(r.arrived) >= p.opts.RecordTTL || packed[r.hk] {
				break // expired, or a packed key, on the next pass of the outer loop
			}
			ur := aggregation.Record{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data}
			size := agg.SizeWith(ur) + len(aggregation.AggregatePartitionKey)
			if size > p.opts.AggregationMaxSize || !fits(size) {
				break
			}
			agg.Add(ur)
			users = append(users, q.popFront())
		}
		if len(users) == 0 {
			break
		}
		rec, err := agg.KinesisRecord()
		if err != nil {
			// Put validated every key; an aggregate of valid records encodes.
			panic(fmt.Sprintf("producer: aggregating: %v", err))
		}
		b.entries = append(b.entries, entry{rec: rec, users: users})
		b.bytes += len(rec.Data) + len(rec.PartitionKey)
		if packed != nil && len(users) > 1 {
			for _, u := range users {
				packed[u.hk] = true
			}
		}
	}
	if len(b.entries) == 0 {
		return nil, need, done
	}
	if limited {
		q.lim.take(len(b.entries), b.bytes)
	}
	return b, 0, done
}

// send makes one PutRecords call for b and handles its outcome.
func (p *Producer) send(b *batch) {
	defer p.sends.Done()
	in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(b.entries))}
	p.setStream(&in.StreamName, &in.StreamARN)
	for i, e := range b.entries {
		in.Records[i] = types.PutRecordsRequestEntry{Data: e.rec.Data, PartitionKey: aws.String(e.rec.PartitionKey)}
		if e.rec.ExplicitHashKey != "" {
			in.Records[i].ExplicitHashKey = aws.String(e.rec.ExplicitHashKey)
		}
		for _, u := range e.users {
			u.attempts++
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.RequestTimeout)
	out, err := p.client.PutRecords(ctx, in, plainRequestBodies, putRecordsBodies)
	cancel()
	p.metrics.observeRequest(time.Since(start), err)

	users := 0
	for _, e := range b.entries {
		users += len(e.users)
	}
	ok := make([]completion, 0, users)
	var retry []*userRecord
	var failed []completion
	throttled := false
	fail := func(users []*userRecord, err error) {
		for _, u := range users {
			u.lastErr = err
			retry = append(retry, u)
		}
	}
	switch {
	case err != nil:
		var ae smithy.APIError
		code := ""
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		throttled = code == "ProvisionedThroughputExceededException" || code == "LimitExceededException" || code == "ThrottlingException"
		if throttled {
			p.metrics.throttledRecords.Add(uint64(len(b.entries)))
		}
		permanent := code == "ResourceNotFoundException" || code == "InvalidArgumentException" || code == "ValidationException" || code == "AccessDeniedException"
		for _, e := range b.entries {
			if permanent {
				for _, u := range e.users {
					failed = append(failed, completion{u, Result{Attempts: u.attempts, Err: fmt.Errorf("producer: PutRecords: %w", err)}})
				}
				continue
			}
			fail(e.users, fmt.Errorf("producer: PutRecords: %w", err))
		}
	case len(out.Records) != len(b.entries):
		for _, e := range b.entries {
			fail(e.users, fmt.Errorf("producer: PutRecords answered %d records for %d sent", len(out.Records), len(b.entries)))
		}
	default:
		var wrong []int // aggregates that landed on an unexpected shard
		unexpected := false
		for i, e := range b.entries {
			rr := out.Records[i]
			if rr.ErrorCode != nil {
				code := aws.ToString(rr.ErrorCode)
				if code == "ProvisionedThroughputExceededException" {
					throttled = true
					p.metrics.throttledRecords.Add(1)
				}
				fail(e.users, fmt.Errorf("producer: %s: %s", code, aws.ToString(rr.ErrorMessage)))
				continue
			}
			shard := aws.ToString(rr.ShardId)
			if shard != b.q.id {
				unexpected = true
				p.metrics.unexpectedShard.Add(1)
				if len(e.users) > 1 {
					wrong = append(wrong, i)
					continue
				}
			}
			ok = p.succeed(ok, e, shard, aws.ToString(rr.SequenceNumber))
		}
		if len(wrong) > 0 || (unexpected && (b.q.id != "" || time.Since(p.lastRefreshAttempt()) > time.Second)) {
			if len(wrong) > 0 {
				// Which records does the shard that took the aggregate own?
				// Only a fresh map says; the others go again.
				p.refreshShards(p.ctx, start)
			} else {
				p.startRefresh(start)
			}
		}
		for _, i := range wrong {
			e := b.entries[i]
			rr := out.Records[i]
			shard := aws.ToString(rr.ShardId)
			p.mu.Lock()
			actual := p.byID[shard]
			p.mu.Unlock()
			var kept, outside []*userRecord
			for _, u := range e.users {
				if actual == nil || actual.rng.Contains(u.hk) {
					kept = append(kept, u)
				} else {
					outside = append(outside, u)
				}
			}
			if len(outside) > 0 && p.opts.ConsumerRangeFilter == aggregation.DropAggregate {
				// Such consumers drop the whole aggregate: all of it goes again.
				kept, outside = nil, e.users
			}
			for _, u := range outside {
				u.lastErr = ErrWrongShard
				retry = append(retry, u)
			}
			ok = p.succeed(ok, entry{rec: e.rec, users: kept}, shard, aws.ToString(rr.SequenceNumber), e.users...)
		}
	}
	p.metrics.countBatch(b, ok, len(retry))

	now := time.Now()
	p.mu.Lock()
	b.q.inFlight--
	p.inFlight--
	if throttled && b.limited {
		b.q.lim.throttled(now, start)
	}
	// ok becomes the list of completions to deliver, in place.
	done := ok
	for i, c := range ok {
		done[i] = p.release(c.r, c.res)
	}
	for _, c := range failed {
		done = append(done, p.release(c.r, c.res))
	}
	nFailed := len(failed)
	if len(retry) > 0 {
		// Back off: exponential in the attempts so far, with jitter.
		attempts := 0
		for _, u := range retry {
			attempts = max(attempts, u.attempts)
		}
		delay := p.opts.RetryBaseDelay << min(attempts-1, 20)
		delay = min(delay, p.opts.RetryMaxDelay)
		delay = delay/2 + rand.N(delay/2+1)
		groups := map[*shardQueue][]*userRecord{}
		var order []*shardQueue
		for _, u := range retry {
			if now.Sub(u.arrived) >= p.opts.RecordTTL {
				done = append(done, p.release(u, Result{Attempts: u.attempts, Err: p.expiredErr(u)}))
				p.metrics.expired.Add(1)
				nFailed++
				continue
			}
			q := p.route(u.hk)
			if groups[q] == nil {
				order = append(order, q)
			}
			groups[q] = append(groups[q], u)
		}
		for _, q := range order {
			q.pushFront(groups[q])
			if nb := now.Add(delay); nb.After(q.notBefore) {
				q.notBefore = nb
			}
		}
	}
	p.signal()
	p.mu.Unlock()
	deliver(done)
	p.metrics.userRecordsFailed.Add(uint64(nFailed))
}

// succeed records the results of the users of e written at
// (shard, seq). all lists every user of the aggregate when e.users is a
// subset, for the sub-sequence numbers.
func (p *Producer) succeed(ok []completion, e entry, shard, seq string, all ...*userRecord) []completion {
	if all == nil {
		all = e.users
	}
	aggregated := len(all) > 1
	idx := 0
	for _, u := range e.users {
		for all[idx] != u {
			idx++
		}
		res := Result{ShardID: shard, SequenceNumber: seq, Attempts: u.attempts, Aggregated: aggregated}
		if aggregated {
			res.SubSequenceNumber = int64(idx)
		}
		ok = append(ok, completion{u, res})
	}
	return ok
}

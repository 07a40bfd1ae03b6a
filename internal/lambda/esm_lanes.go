package lambda

import (
	"context"
	"hash/fnv"
	"sync"
)

// With ParallelizationFactor N above 1 a shard's records are split into N
// lanes by partition key, each lane delivering its records in order on
// its own: a lane retrying a failed batch holds back only its own keys,
// while the shard's reader goes on feeding the other lanes. Records are
// tracked in the order they were read; the shard's checkpoint is the last
// record of the longest run, from the start, of records every lane is
// done with, so that after a restart no record a lane had not finished is
// skipped (records after it that other lanes had finished are sent
// again, at least once as on Lambda). How far the reader runs ahead is
// bounded: by the records waiting in the lanes (laneAhead) and by the
// records tracked behind the oldest one not done (maxPending).

// laneAhead is how many reads' worth of records (BatchSize per lane, and
// 6 MB of event per lane) may wait in the lanes.
const laneAhead = 4

// maxPending bounds the records tracked past the checkpoint (a sequence
// number and a size each): while one lane retries, the others go on for
// up to that many records.
const maxPending = 100_000

// lanes is one shard worker's lanes.
type lanes struct {
	w      *shardWorker
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// queues are the lanes' records not yet taken, in order.
	queues [][]item
	// pending are the records read and not yet checkpointed, in read
	// order; base is the position of pending[0].
	pending []pendingRecord
	base    int64
	// waiting and bytes are the records queued or being delivered, and
	// their event bytes.
	waiting, bytes int
	// wakes wake each lane when records are queued; progress wakes the
	// reader when records are done.
	wakes    []chan struct{}
	progress chan struct{}
}

type pendingRecord struct {
	seq   string
	bytes int
	done  bool
}

// startLanes starts the lane goroutines of w; they stop with ctx, or
// when a checkpoint cannot be saved (another unit took the shard).
func (w *shardWorker) startLanes(ctx context.Context, n int) *lanes {
	l := &lanes{w: w, queues: make([][]item, n), wakes: make([]chan struct{}, n), progress: make(chan struct{}, 1)}
	l.ctx, l.cancel = context.WithCancel(ctx)
	for i := range n {
		l.wakes[i] = make(chan struct{}, 1)
		l.wg.Go(func() { l.run(i) })
	}
	return l
}

// stop stops the lanes and waits for them.
func (l *lanes) stop() {
	l.cancel()
	l.wg.Wait()
}

// laneOf is the lane of a partition key.
func laneOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// dispatch queues a read's records: all are tracked, those kept (the
// filters passed, in order, a subsequence of all) go to their key's lane,
// the others are done at once.
func (l *lanes) dispatch(all, kept []item) bool {
	l.mu.Lock()
	k := 0
	for i := range all {
		pos := l.base + int64(len(l.pending))
		isKept := k < len(kept) && kept[k].rec.SequenceNumber == all[i].rec.SequenceNumber
		l.pending = append(l.pending, pendingRecord{seq: all[i].rec.SequenceNumber, bytes: len(all[i].json), done: !isKept})
		if isKept {
			l.waiting++
			l.bytes += len(all[i].json)
			kept[k].pos = pos
			q := laneOf(kept[k].rec.PartitionKey, len(l.queues))
			l.queues[q] = append(l.queues[q], kept[k])
			select {
			case l.wakes[q] <- struct{}{}:
			default:
			}
			k++
		}
	}
	l.mu.Unlock()
	return l.advance()
}

// run is lane i: it delivers its queued records in batches, in order.
func (l *lanes) run(i int) {
	for l.ctx.Err() == nil {
		l.mu.Lock()
		q := l.queues[i]
		l.queues[i] = nil
		l.mu.Unlock()
		if len(q) == 0 {
			select {
			case <-l.ctx.Done():
			case <-l.wakes[i]:
			}
			continue
		}
		if !l.w.deliverLane(l.ctx, q, func(batch []item) bool { return l.done(batch) }) {
			l.cancel()
			return
		}
	}
}

// done marks a batch's records done and moves the checkpoint.
func (l *lanes) done(batch []item) bool {
	l.mu.Lock()
	for i := range batch {
		p := &l.pending[batch[i].pos-l.base]
		p.done = true
		l.waiting--
		l.bytes -= p.bytes
	}
	l.mu.Unlock()
	return l.advance()
}

// advance moves the checkpoint past the records done from the oldest
// pending one on and saves it; false when it cannot be saved.
func (l *lanes) advance() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for n < len(l.pending) && l.pending[n].done {
		n++
	}
	select {
	case l.progress <- struct{}{}:
	default:
	}
	if n == 0 {
		return true
	}
	seq := l.pending[n-1].seq
	l.pending = append(l.pending[:0:0], l.pending[n:]...)
	l.base += int64(n)
	// Saved under mu: the saves go in the order the checkpoint moves.
	l.w.ck.Seq = seq
	if !l.w.save(l.ctx) {
		l.cancel()
		return false
	}
	return true
}

// wait waits until full reports false (checked under mu) or the lanes
// stop; false when they stopped.
func (l *lanes) wait(full func() bool) bool {
	for {
		l.mu.Lock()
		f := full()
		l.mu.Unlock()
		if !f {
			return true
		}
		select {
		case <-l.ctx.Done():
			return false
		case <-l.progress:
		}
	}
}

// room waits until the reader may read more: the records waiting in the
// lanes are under laneAhead reads' worth (in count and in bytes), and the
// records tracked under maxPending.
func (l *lanes) room() bool {
	m := l.w.p.m
	maxRecs := laneAhead * int(m.BatchSize) * len(l.queues)
	maxBytes := laneAhead * maxEventBytes * len(l.queues)
	return l.wait(func() bool { return l.waiting >= maxRecs || l.bytes >= maxBytes || len(l.pending) >= maxPending })
}

// drain waits until every record read is done (at a shard's end).
func (l *lanes) drain() bool {
	return l.wait(func() bool { return len(l.pending) > 0 })
}

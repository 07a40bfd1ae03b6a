package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
	"github.com/millrace/millrace/internal/storage"
)

// defaultActivePartitions is Firehose's default quota of active
// partitions per delivery stream.
const defaultActivePartitions = 500

// partitionDeliveries is how many partitions of one delivery stream are
// delivered at once, so that a partition whose destination keeps failing
// holds back no other partition while a slot is free.
const partitionDeliveries = 4

// With dynamic partitioning, records are processed as they are read and
// each distinct set of partition keys has a buffer of its own, delivered
// by the buffering hints on its own, as Firehose does: a busy partition
// is delivered when it holds SizeInMBs while a quiet one waits for its
// interval. A partition's buffer (and the partition) goes once delivered.
//
// Up to partitionDeliveries buffers are delivered at once, each by a
// goroutine of its own, at most one per partition (a partition's objects
// are written in order); records of a partition whose delivery is in
// flight fill a new buffer. When a buffer is full and cannot be
// delivered yet, reading waits for a delivery to end, so the records held
// stay bounded.
//
// Progress is stored per segment (the records of one read of the
// source, or with a Lambda processor of the reads its buffering hints
// gathered for the function): a segment is done when every record of it is delivered or in
// the error output, and the stored progress is that of the last segment
// before which all segments are done. Only the reading goroutine changes
// the segments and stores progress; a delivery reports its end on a
// channel.

// segment is one read of the source.
type segment struct {
	mark progress
	last sink.Record // the last record read
	// open counts the records of the segment still buffered; closed:
	// every record of the segment has been placed.
	open   int
	closed bool
}

// partBuf is the buffer of one partition.
type partBuf struct {
	key   string
	recs  []procRecord
	segs  []*segment // of each record
	bytes int
	first time.Time // arrival of the oldest record
}

// landing is the end of one partition's delivery: ok is false when ctx
// ended first.
type landing struct {
	pb *partBuf
	ok bool
}

// partitions is the state of the per-partition buffering.
type partitions struct {
	bufs   map[string]*partBuf
	order  []string        // buffers in the order they were created
	flying map[string]bool // partitions with a delivery in flight
	segs   []*segment
	// unprocessed holds, with a Lambda processor, the records read and
	// not yet processed: the function is invoked on them by its own
	// buffering hints (BufferSizeInMBs, BufferIntervalInSeconds).
	unprocessed      []sink.Record
	unprocessedBytes int
	// landed receives each delivery's end; its room for
	// partitionDeliveries means a delivery never waits to report.
	landed chan landing
	wg     sync.WaitGroup
}

// active is the number of active partitions: those buffering and those
// whose delivery is in flight (a partition that cannot be delivered
// stays active until it is, as on AWS).
func (ps *partitions) active() int {
	n := len(ps.bufs)
	for k := range ps.flying {
		if ps.bufs[k] == nil {
			n++
		}
	}
	return n
}

// runPartitioned is run for a delivery stream with dynamic partitioning.
func (e *engine) runPartitioned(ctx context.Context) {
	ps := &partitions{bufs: map[string]*partBuf{}, flying: map[string]bool{}, landed: make(chan landing, partitionDeliveries)}
	defer ps.wg.Wait()
	for ctx.Err() == nil {
		if e.stalled(ps) {
			// A full buffer waits for a delivery slot: read no more, but
			// deliver the other partitions as they fall due.
			t := time.NewTimer(e.dispatch(ctx, ps, false))
			select {
			case <-ctx.Done():
			case <-t.C:
			case l := <-ps.landed:
				if !e.land(ctx, ps, l) {
					t.Stop()
					return
				}
			}
			t.Stop()
			continue
		}
		recs, err := e.src.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.s.logger.Warn("reading a delivery stream's source", "stream", e.d.ARN, "err", err)
			sleep(ctx, idlePoll)
			continue
		}
		wait, ok := e.process(ctx, ps, recs)
		if !ok {
			return
		}
		wait = min(wait, e.dispatch(ctx, ps, len(recs) == 0))
		if !e.advance(ctx, ps) {
			return
		}
		if len(recs) > 0 {
			continue // read on while records are there
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-e.wake:
		case <-t.C:
		case l := <-ps.landed:
			if !e.land(ctx, ps, l) {
				t.Stop()
				return
			}
		}
		t.Stop()
	}
}

// process processes the records of a read. With a Lambda processor they
// wait, with those read before, until they hold its BufferSizeInMBs or
// the oldest arrived its BufferIntervalInSeconds ago, as Firehose buffers
// before invoking the function; then they are processed together as one
// segment (its progress is the source's mark after the last of them). It
// returns how long until the waiting records are due (idlePoll when none
// wait); false when ctx ended.
func (e *engine) process(ctx context.Context, ps *partitions, recs []sink.Record) (time.Duration, bool) {
	fn := e.p.proc.lambda
	if fn == nil {
		return idlePoll, len(recs) == 0 || e.intake(ctx, ps, recs)
	}
	ps.unprocessed = append(ps.unprocessed, recs...)
	for _, r := range recs {
		ps.unprocessedBytes += len(r.Data)
	}
	if len(ps.unprocessed) == 0 {
		return idlePoll, true
	}
	due := ps.unprocessed[0].Arrival.Add(fn.interval).Sub(e.s.now())
	if ps.unprocessedBytes < fn.chunk && due > 0 {
		return due, true
	}
	recs = ps.unprocessed
	ps.unprocessed, ps.unprocessedBytes = nil, 0
	return idlePoll, e.intake(ctx, ps, recs)
}

// stalled tells whether a buffer holds the buffering size but cannot be
// delivered yet (its partition is in flight, or every slot is taken).
func (e *engine) stalled(ps *partitions) bool {
	for _, b := range ps.bufs {
		if b.bytes >= e.p.sizeBytes {
			return true
		}
	}
	return false
}

// dispatch starts the delivery of each buffer that is full or due, as
// slots allow, and returns how long until the next one is due (at most
// idlePoll). idle: the last read found no records.
func (e *engine) dispatch(ctx context.Context, ps *partitions, idle bool) time.Duration {
	wait := idlePoll
	now := e.s.now()
	for _, key := range append([]string(nil), ps.order...) {
		b := ps.bufs[key]
		due := b.first.Add(e.p.interval).Sub(now)
		if b.bytes >= e.p.sizeBytes || due <= 0 || (idle && e.p.interval == 0) {
			e.start(ctx, ps, b) // when it cannot start now, a landing retries
			continue
		}
		wait = min(wait, due)
	}
	return wait
}

// start delivers a partition's buffer in a goroutine of its own, unless
// its partition is in flight or every slot is taken; the buffer leaves
// the partitions being filled.
func (e *engine) start(ctx context.Context, ps *partitions, pb *partBuf) {
	if ps.flying[pb.key] || len(ps.flying) >= partitionDeliveries {
		return
	}
	ps.flying[pb.key] = true
	delete(ps.bufs, pb.key)
	for i, k := range ps.order {
		if k == pb.key {
			ps.order = append(ps.order[:i], ps.order[i+1:]...)
			break
		}
	}
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		ps.landed <- landing{pb: pb, ok: e.flushPartition(ctx, pb)}
	}()
}

// land takes the end of a delivery: its records are done, and the
// buffers that waited for its slot may start; false when ctx ended.
func (e *engine) land(ctx context.Context, ps *partitions, l landing) bool {
	delete(ps.flying, l.pb.key)
	if !l.ok {
		return false
	}
	for _, s := range l.pb.segs {
		s.open--
	}
	e.dispatch(ctx, ps, false)
	return e.advance(ctx, ps)
}

// intake processes one read of the source and places its records in
// their partitions' buffers, starting a buffer's delivery as soon as it
// holds the buffering size; false when ctx ended.
func (e *engine) intake(ctx context.Context, ps *partitions, recs []sink.Record) bool {
	seg := &segment{mark: e.src.mark(), last: recs[len(recs)-1]}
	ps.segs = append(ps.segs, seg)
	if e.p.backupAll != nil {
		b := &sink.Batch{ID: e.batchID(recs[0].ID, "backup"), Stream: e.d.Name, Version: e.d.Version, Records: recs, FirstArrival: recs[0].Arrival}
		if !e.retryForever(ctx, func() error { _, err := e.p.backupAll.Deliver(ctx, b); return err }) {
			return false
		}
	}
	out, failed, err := e.p.proc.run(ctx, recs)
	if err != nil {
		return false
	}
	limit := e.s.opts.ActivePartitions
	if limit <= 0 {
		limit = defaultActivePartitions
	}
	for _, r := range out {
		b := ps.bufs[r.partition]
		if b == nil {
			if !ps.flying[r.partition] && ps.active() >= limit {
				rec := r.Record
				rec.Data = r.undelimited
				failed = append(failed, failedRecord{Record: rec, code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
					message: fmt.Sprintf("the delivery stream already has %d active partitions", limit), kind: "activePartitionExceeded"})
				continue
			}
			b = &partBuf{key: r.partition, first: r.Arrival}
			ps.bufs[r.partition] = b
			ps.order = append(ps.order, r.partition)
		}
		b.recs = append(b.recs, r)
		b.segs = append(b.segs, seg)
		b.bytes += len(r.Data)
		seg.open++
		if b.bytes >= e.p.sizeBytes {
			e.start(ctx, ps, b)
		}
	}
	if !e.writeFailed(ctx, failed) {
		return false
	}
	seg.closed = true
	return e.advance(ctx, ps)
}

// writeFailed writes records processing refused to the error output,
// one object per error output type.
func (e *engine) writeFailed(ctx context.Context, failed []failedRecord) bool {
	var order []string
	byKind := map[string][]failedRecord{}
	for _, f := range failed {
		k := f.kind
		if k == "" {
			k = "processing-failed"
		}
		if _, ok := byKind[k]; !ok {
			order = append(order, k)
		}
		byKind[k] = append(byKind[k], f)
	}
	for _, k := range order {
		if !e.writeErrors(ctx, k, byKind[k], 1) {
			return false
		}
	}
	return true
}

// flushPartition delivers one partition's buffer (or writes it to the
// error output); false when ctx ended. It runs beside the reading
// goroutine and touches nothing but the buffer.
func (e *engine) flushPartition(ctx context.Context, pb *partBuf) bool {
	b := &sink.Batch{ID: e.batchID(pb.recs[0].ID, pb.key), Stream: e.d.Name, Version: e.d.Version,
		Records: make([]sink.Record, len(pb.recs)), PartitionKeys: pb.recs[0].keys, FirstArrival: pb.first}
	for i, r := range pb.recs {
		b.Records[i] = r.Record
	}
	return e.deliverBatch(ctx, b)
}

// advance stores the progress of the done segments at the head of the
// queue; false when ctx ended.
func (e *engine) advance(ctx context.Context, ps *partitions) bool {
	var done *segment
	for len(ps.segs) > 0 && ps.segs[0].closed && ps.segs[0].open == 0 {
		done, ps.segs = ps.segs[0], ps.segs[1:]
	}
	if done == nil {
		return true
	}
	if !e.storeProgress(ctx, done.mark) {
		return false
	}
	e.src.delivered(ctx, done.mark, done.last)
	return true
}

// storeProgress writes mark as the delivery stream's progress; false
// when ctx ended first.
func (e *engine) storeProgress(ctx context.Context, mark progress) bool {
	raw, _ := json.Marshal(mark)
	return e.retryForever(ctx, func() error {
		_, rev, err := e.s.cat.Get(ctx, progressKey(e.d.Log))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		_, err = e.s.cat.Put(ctx, progressKey(e.d.Log), raw, rev)
		return err
	})
}

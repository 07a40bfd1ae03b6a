package lambda

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// A mapping whose EventSourceArn is an enhanced fan-out consumer's ARN
// reads each shard through that consumer's subscription instead of
// GetRecords: the records are pushed as soon as they are durable, and the
// reads do not count against the shard's shared read limit. The worker
// holds the consumer's one subscription to its shard; when the
// subscription ends (after its lifetime) it subscribes again after its
// checkpoint. Batching, retries, bisection, windows and checkpoints are
// the polling path's.

// subEvent is what a subscription's reader hands the shard worker: an
// event, or the error that ended the subscription.
type subEvent struct {
	ev  *streams.SubscribeEvent
	err error
}

// subReader runs one subscription: a goroutine takes its events, so that
// the worker can bound how long it waits for one (the batching window, a
// tumbling window's end) without cancelling the subscription.
type subReader struct {
	sub    *streams.Subscription
	events chan subEvent
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *subReader) stop() {
	r.cancel()
	<-r.done
	r.sub.Close()
}

// subscribe starts a subscription after the worker's position, else at the
// mapping's starting position (LATEST is the mapping's creation time, as
// for the polling path).
func (w *shardWorker) subscribe(ctx context.Context) (*subReader, error) {
	m := w.p.m
	p := streams.SubscribeParams{ConsumerARN: m.EventSourceArn, ShardID: w.shardID}
	switch {
	case w.position() != "":
		p.Type, p.SequenceNumber = streams.AfterSequenceNumber, w.position()
	case m.StartingPosition == streams.TrimHorizon:
		p.Type = streams.TrimHorizon
	default:
		t := time.UnixMilli(m.CreatedAt)
		if m.StartingPosition == streams.AtTimestamp {
			t = time.UnixMilli(m.StartingPositionTimestamp)
		}
		p.Type, p.Timestamp = streams.AtTimestamp, &t
	}
	sub, err := w.p.s.opts.Streams.Subscribe(ctx, p)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &subReader{sub: sub, events: make(chan subEvent, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			ev, err := sub.Next(rctx)
			select {
			case r.events <- subEvent{ev, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r, nil
}

// runSubscribed is run for a mapping on a consumer.
func (w *shardWorker) runSubscribed(ctx context.Context) {
	var r *subReader
	defer func() {
		if r != nil {
			r.stop()
		}
	}()
	var pending error // the error that ended the subscription, after the records before it
	for ctx.Err() == nil {
		if r == nil {
			var err error
			if r, err = w.subscribe(ctx); err != nil {
				var e *streams.Error
				if errors.As(err, &e) && e.Kind == streams.KindNotFound {
					// The consumer or the stream went: the scan starts the
					// shard again if it comes back.
					w.p.s.setProcessingResult(ctx, w.p.m.UUID, "PROBLEM: Stream consumer not found: "+w.p.m.EventSourceArn)
					return
				}
				// Another subscription holds the consumer's shard (it is
				// taken over after 5 seconds), or a passing failure.
				w.p.s.logger.Warn("event source mapping: subscribing", "uuid", w.p.m.UUID, "shard", w.shardID, "err", err)
				r = nil
				sleep(ctx, errorPause)
				continue
			}
		}
		if pending == nil {
			_, left := w.windowDue()
			var recs []streams.Record
			var ended bool
			recs, ended, pending = w.gatherSubscribed(ctx, r, min(idlePoll, left))
			if ctx.Err() != nil {
				return
			}
			if !w.settle(ctx, recs, ended) {
				return
			}
			if due, _ := w.windowDue(); due && !w.closeWindow(ctx) {
				return
			}
		}
		if pending != nil {
			// The subscription ended: every record it sent is processed
			// (or, with lanes, queued), so the next one starts after it.
			err := pending
			pending = nil
			r.stop()
			r = nil
			var e *streams.Error
			if !errors.Is(err, io.EOF) {
				if errors.As(err, &e) && e.Kind == streams.KindNotFound {
					w.p.s.setProcessingResult(ctx, w.p.m.UUID, "PROBLEM: Stream consumer not found: "+w.p.m.EventSourceArn)
					return
				}
				w.p.s.logger.Warn("event source mapping: subscription ended", "uuid", w.p.m.UUID, "shard", w.shardID, "err", err)
				sleep(ctx, throttlePause)
			}
		}
	}
}

// gatherSubscribed takes the next records from the subscription: what the
// next event holds (waiting up to first for it), then, with a batching
// window, more events until BatchSize records per lane or the window's
// end. ended is true at the end of a closed shard; err is the error that
// ended the subscription, returned with the records taken before it.
func (w *shardWorker) gatherSubscribed(ctx context.Context, r *subReader, first time.Duration) (recs []streams.Record, ended bool, err error) {
	m := w.p.m
	want := int(m.BatchSize) * int(m.ParallelizationFactor)
	take := func(d time.Duration) (bool, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
			return false, nil
		case e := <-r.events:
			if e.err != nil {
				return false, e.err
			}
			recs = append(recs, e.ev.Records...)
			// Only the shard-end event has no continuation.
			return e.ev.ContinuationSequenceNumber == "", nil
		}
	}
	if ended, err = take(first); err != nil || ended || len(recs) == 0 || m.Window <= 0 {
		return recs, ended, err
	}
	deadline := time.Now().Add(time.Duration(m.Window) * time.Second)
	for len(recs) < want {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if ended, err = take(left); err != nil || ended {
			break
		}
	}
	return recs, ended, err
}

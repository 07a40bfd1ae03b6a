package consumer

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

// batch is what a fetcher returns: records in shard order, and whether the
// shard ended after them.
type batch struct {
	records      []types.Record
	millisBehind int64
	shardEnd     bool
	children     []types.ChildShard
	fetched      time.Time
}

// fetcher reads a shard from a position.
type fetcher interface {
	// next blocks until records arrive, the shard ends or ctx ends.
	next(ctx context.Context) (batch, error)
	close()
}

// runShard processes one held lease until it is lost, its shard ends, or
// the worker shuts down.
func (w *Worker) runShard(h *heldLease) {
	defer w.shards.Done()
	log := w.log.With("lease", h.lease.Key)
	if h.stream == nil {
		w.release(h)
		return
	}
	// A dead worker (abort) leaves its leases to expire.
	aborted := func() bool { return w.procCtx.Err() != nil }
	ctx := w.procCtx

	if !w.waitForParents(h) {
		if aborted() {
			w.forget(h)
		} else {
			w.release(h)
		}
		return
	}
	h.mu.Lock()
	lease := h.lease
	h.mu.Unlock()
	if lease.Finished() {
		w.release(h)
		return
	}
	rng, hasRange := w.hashRange(h, &lease)

	proc := w.factory()
	cp := &Checkpointer{w: w, h: h}
	in := InitializationInput{ShardID: h.shardID, Checkpoint: lease.Checkpoint,
		PendingCheckpoint: lease.PendingCheckpoint, PendingCheckpointState: lease.PendingCheckpointState}
	if w.cfg.multiStream() {
		in.StreamName = h.stream.ident
	}
	proc.Initialize(ctx, in)

	// Records at or before the checkpoint were processed already.
	var after *ExtendedSequenceNumber
	if !lease.Checkpoint.IsSentinel() && lease.Checkpoint.SequenceNumber != "" {
		c := lease.Checkpoint
		after = &c
	}
	var f fetcher
	newFetcher := func() fetcher {
		if w.cfg.Retrieval == FanOut {
			return w.newFanOut(h, lease.Checkpoint, after)
		}
		return w.newPolling(h, lease.Checkpoint, after)
	}
	f = newFetcher()
	defer func() { f.close() }()

	shardLabel := h.stream.name + "/" + h.shardID
	for {
		select {
		case <-h.lostCh:
			if aborted() {
				w.forget(h)
				return
			}
			w.forget(h)
			proc.LeaseLost(ctx, LeaseLostInput{})
			log.Info("processor ended: lease lost")
			return
		case <-h.shutdownCh:
			w.shutdownProcessor(h, proc, cp)
			return
		default:
		}
		b, err := f.next(h.fetchCtx)
		if err != nil {
			if aborted() {
				w.forget(h)
				return
			}
			if h.fetchCtx.Err() != nil {
				continue // lost or shutting down: handled above
			}
			log.Warn("reading the shard failed", "err", err)
			_ = sleep(h.fetchCtx, w.cfg.TaskBackoff)
			continue
		}
		var recs []Record
		if hasRange {
			recs = aggregation.DeaggregateInRange(b.records, rng, aggregation.DropOutside)
		} else {
			recs = aggregation.Deaggregate(b.records)
		}
		if after != nil {
			recs = slices.DeleteFunc(recs, func(r Record) bool {
				return compareESN(ExtendedSequenceNumber{r.SequenceNumber, r.SubSequenceNumber}, *after) <= 0
			})
		}
		if n := len(recs); n > 0 {
			last := ExtendedSequenceNumber{recs[n-1].SequenceNumber, recs[n-1].SubSequenceNumber}
			after = &last
			cp.setDelivered(last)
		}
		w.metrics.observeBatch(shardLabel, h.stream.name, len(recs), b.millisBehind)
		if len(recs) > 0 || w.cfg.CallProcessRecordsEvenForEmptyRecordList || b.shardEnd {
			proc.ProcessRecords(ctx, ProcessRecordsInput{
				Records: recs, Checkpointer: cp, MillisBehindLatest: b.millisBehind,
				IsAtShardEnd: b.shardEnd, ChildShards: b.children,
				CacheEntryTime: b.fetched, CacheExitTime: time.Now(),
			})
			w.metrics.recordsProcessed.Add(uint64(len(recs)))
		}
		if b.shardEnd {
			w.endShard(h, proc, cp, b.children)
			return
		}
	}
}

// waitForParents blocks until every parent lease has ended or is gone. It
// returns false when the lease was lost or the worker is stopping.
func (w *Worker) waitForParents(h *heldLease) bool {
	h.mu.Lock()
	parents := slices.Clone(h.lease.ParentShardIDs)
	h.mu.Unlock()
	for _, p := range parents {
		key := w.leaseKey(h.stream, p)
		for {
			l, err := w.table.get(w.procCtx, key)
			if err == nil && (l == nil || l.Finished()) {
				break
			}
			wait := w.cfg.ParentShardPollInterval
			if err != nil {
				w.log.Warn("reading a parent lease failed", "lease", key, "err", err)
				wait = w.cfg.TaskBackoff
			}
			select {
			case <-h.lostCh:
				return false
			case <-h.shutdownCh:
				return false
			case <-w.procCtx.Done():
				return false
			case <-time.After(wait):
			}
		}
	}
	return true
}

// hashRange returns the shard's hash range, from the lease or the last
// shard sync.
func (w *Worker) hashRange(h *heldLease, l *Lease) (aggregation.HashRange, bool) {
	start, end := l.StartingHashKey, l.EndingHashKey
	if start == "" || end == "" {
		h.stream.mu.Lock()
		r, ok := h.stream.ranges[h.shardID]
		h.stream.mu.Unlock()
		if !ok {
			return aggregation.HashRange{}, false
		}
		start, end = r[0], r[1]
	}
	rng, err := aggregation.ParseHashRange(start, end)
	if err != nil {
		return aggregation.HashRange{}, false
	}
	return rng, true
}

// endShard creates the children's leases, then has the processor record
// SHARD_END, and releases the finished lease.
func (w *Worker) endShard(h *heldLease, proc RecordProcessor, cp *Checkpointer, children []types.ChildShard) {
	ctx := w.procCtx
	var ids []string
	for _, c := range children {
		ids = append(ids, aws.ToString(c.ShardId))
	}
	for {
		err := w.createChildLeases(ctx, h.stream, children)
		if err == nil {
			break
		}
		w.log.Warn("creating child leases failed", "lease", h.lease.Key, "err", err)
		if !w.pause(h, w.cfg.TaskBackoff) {
			return
		}
	}
	cp.endShard(ids)
	for {
		proc.ShardEnded(ctx, ShardEndedInput{Checkpointer: cp})
		h.mu.Lock()
		ended, lost := h.lease.Finished(), h.lost
		h.mu.Unlock()
		if ended {
			break
		}
		if lost {
			w.forget(h)
			if ctx.Err() == nil {
				proc.LeaseLost(ctx, LeaseLostInput{})
			}
			return
		}
		w.log.Error("the processor did not checkpoint at shard end; its children wait", "lease", h.lease.Key)
		if !w.pause(h, w.cfg.TaskBackoff) {
			return
		}
	}
	w.log.Info("shard ended", "lease", h.lease.Key, "children", ids)
	w.release(h)
	w.poke(w.takeNow)
}

// pause waits d; false when the worker stops or the lease is lost.
func (w *Worker) pause(h *heldLease, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-h.lostCh:
		w.forget(h)
		return false
	case <-w.procCtx.Done():
		w.forget(h)
		return false
	}
}

// shutdownProcessor lets the processor checkpoint, then releases the lease.
func (w *Worker) shutdownProcessor(h *heldLease, proc RecordProcessor, cp *Checkpointer) {
	ctx := w.procCtx
	proc.ShutdownRequested(ctx, ShutdownRequestedInput{Checkpointer: cp})
	if ctx.Err() != nil {
		w.forget(h)
		return
	}
	w.release(h)
	proc.LeaseLost(ctx, LeaseLostInput{})
}

// startPosition is the iterator position for a checkpoint.
func (w *Worker) startPosition(cp ExtendedSequenceNumber, after *ExtendedSequenceNumber) (types.ShardIteratorType, *string, *time.Time) {
	if after != nil {
		return types.ShardIteratorTypeAtSequenceNumber, aws.String(after.SequenceNumber), nil
	}
	switch cp.SequenceNumber {
	case TrimHorizon:
		return types.ShardIteratorTypeTrimHorizon, nil, nil
	case AtTimestamp:
		t := w.cfg.InitialTimestamp
		return types.ShardIteratorTypeAtTimestamp, nil, &t
	case Latest, "":
		return types.ShardIteratorTypeLatest, nil, nil
	}
	return types.ShardIteratorTypeAtSequenceNumber, aws.String(cp.SequenceNumber), nil
}

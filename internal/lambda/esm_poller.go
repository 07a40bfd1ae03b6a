package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// How a mapping's poller paces itself. Lambda polls an idle shard about
// once a second; Millrace reads a shard again as soon as an append to it
// is durable (the domain's append signal), and at least every idlePoll.
const (
	idlePoll       = time.Second
	throttlePause  = 200 * time.Millisecond
	scanInterval   = time.Second
	errorPause     = time.Second
	retryBaseDelay = 100 * time.Millisecond
	retryMaxDelay  = 5 * time.Second
	// functionReuse is how long a mapping's workers use the function
	// they loaded before reading it from the catalog again: a catalog
	// read and decode costs about as much server CPU as the Runtime API
	// exchange of a batch of the default 100 records. A change of the
	// function (code, configuration, concurrency) reaches the mapping's
	// invocations within it.
	functionReuse = time.Second
	// maxEventBytes is the synchronous payload limit a batch fits in.
	maxEventBytes = maxSyncPayload
	// eventOverhead is the event's bytes around its records.
	eventOverhead = len(`{"Records":[]}`)
)

// checkpoint is a mapping's progress in one shard: the sequence number of
// the last record it is done with, and whether the shard is finished (a
// closed shard read to its end), after which its children start.
type checkpoint struct {
	Seq  string `json:"seq,omitempty"`
	Done bool   `json:"done,omitempty"`
	// WindowStart (ms, 0: none open) and State are the open tumbling
	// window and the state its last invocation returned (esm_window.go).
	WindowStart int64           `json:"windowStart,omitempty"`
	State       json.RawMessage `json:"state,omitempty"`
}

// unitName is the background unit that runs a mapping.
func unitName(uuid string) string { return "lambda/esm/" + uuid }

// startMapping (re)starts the mapping's unit, which settles its state
// (Creating, Enabling and Updating become Enabled, Disabling Disabled, a
// Deleting mapping goes) and polls while it is enabled.
func (s *Service) startMapping(uuid string) {
	s.opts.Runner.Go(unitName(uuid), func(ctx context.Context) { s.runMapping(ctx, uuid) })
}

// resumeMappings starts the units of the stored mappings when the
// service starts: they resume at their checkpoints.
func (s *Service) resumeMappings(ctx context.Context) error {
	if s.opts.Streams == nil {
		return nil
	}
	all, err := s.allMappings(ctx)
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.State != stateDisabled {
			s.startMapping(m.UUID)
		}
	}
	return nil
}

// resultKey is where a mapping's LastProcessingResult is kept: apart
// from the mapping, whose record changes only through the API (an
// update's compare-and-set must not fail because a batch finished), and
// in the catalog, so that it survives a restart and every node of a
// cluster reads the same.
func resultKey(uuid string) string { return "lambda/esm-results/" + uuid }

// storedResult is the LastProcessingResult this process last stored for
// a mapping, and its catalog revision.
type storedResult struct {
	value string
	rev   uint64
}

// setProcessingResult records a mapping's LastProcessingResult. It is
// written only when it changes, not once a batch.
func (s *Service) setProcessingResult(ctx context.Context, uuid, result string) {
	s.esmResultsMu.Lock()
	defer s.esmResultsMu.Unlock()
	cur, ok := s.esmResults[uuid]
	if ok && cur.value == result {
		return
	}
	for range 2 {
		if !ok {
			// First write of this process, or the stored one changed
			// under it (another node ran the mapping): read its revision.
			raw, rev, err := s.cat.Get(ctx, resultKey(uuid))
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				s.logger.Warn("event source mapping: reading its last processing result", "uuid", uuid, "err", err)
				return
			}
			cur, ok = storedResult{value: string(raw), rev: rev}, true
			if err == nil && cur.value == result {
				s.esmResults[uuid] = cur
				return
			}
		}
		rev, err := s.cat.Put(ctx, resultKey(uuid), []byte(result), cur.rev)
		if err == nil {
			s.esmResults[uuid] = storedResult{value: result, rev: rev}
			return
		}
		if !errors.Is(err, storage.ErrConflict) {
			if ctx.Err() == nil {
				s.logger.Warn("event source mapping: storing its last processing result", "uuid", uuid, "err", err)
			}
			return
		}
		ok = false
	}
}

// processingResult is a mapping's stored LastProcessingResult, else the
// one it was created with.
func (s *Service) processingResult(ctx context.Context, m *mapping) string {
	raw, _, err := s.cat.Get(ctx, resultKey(m.UUID))
	if err != nil {
		return m.LastProcessingResult
	}
	return string(raw)
}

// settle moves the mapping out of a transitional state and reports
// whether it is enabled (its poller runs).
func (s *Service) settle(ctx context.Context, uuid string) (*mapping, bool) {
	for ctx.Err() == nil {
		m, enabled, err := s.settleOnce(ctx, uuid)
		if err == nil {
			return m, enabled
		}
		s.logger.Warn("event source mapping: settling its state", "uuid", uuid, "err", err)
		sleep(ctx, errorPause)
	}
	return nil, false
}

func (s *Service) settleOnce(ctx context.Context, uuid string) (*mapping, bool, error) {
	s.esmMu.Lock()
	defer s.esmMu.Unlock()
	m, rev, err := s.loadMapping(ctx, uuid)
	if err != nil || m == nil {
		return nil, false, err
	}
	switch m.State {
	case stateDeleting:
		kvs, err := s.cat.List(ctx, checkpointPrefix(uuid))
		if err != nil {
			return nil, false, err
		}
		for _, kv := range kvs {
			if err := s.cat.Delete(ctx, kv.Key, kv.Rev); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, false, err
			}
		}
		if _, rrev, err := s.cat.Get(ctx, resultKey(uuid)); err == nil {
			if err := s.cat.Delete(ctx, resultKey(uuid), rrev); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, false, err
			}
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, false, err
		}
		if err := s.cat.Delete(ctx, esmKey(uuid), rev); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, false, err
		}
		s.esmResultsMu.Lock()
		delete(s.esmResults, uuid)
		s.esmResultsMu.Unlock()
		s.stats.dropMapping(uuid)
		return nil, false, nil
	case stateDisabled:
		return m, false, nil
	case stateDisabling:
		m.State = stateDisabled
		m.LastModified = s.now().UnixMilli()
		_, err := s.storeMapping(ctx, m, rev)
		return m, false, err
	case stateEnabled:
		return m, true, nil
	}
	m.State = stateEnabled
	m.LastModified = s.now().UnixMilli()
	_, err = s.storeMapping(ctx, m, rev)
	return m, true, err
}

// runMapping is a mapping's unit.
func (s *Service) runMapping(ctx context.Context, uuid string) {
	m, enabled := s.settle(ctx, uuid)
	if !enabled || s.opts.Streams == nil {
		return
	}
	ref, err := streams.ResourceRef(m.streamArn())
	if err != nil {
		s.logger.Error("event source mapping: bad source", "uuid", uuid, "err", err)
		return
	}
	p := &poller{s: s, m: m, ref: ref, running: map[string]bool{}, wake: make(chan struct{}, 1),
		counters: s.stats.mapping(m)}
	for _, pat := range m.Filters {
		f, err := parseFilter(pat)
		if err != nil {
			s.logger.Error("event source mapping: bad filter", "uuid", uuid, "err", err)
			return
		}
		p.filters = append(p.filters, f)
	}
	p.run(ctx)
}

// poller reads one mapping's stream: a worker per shard being read, each
// shard started once its parents are finished.
type poller struct {
	s   *Service
	m   *mapping
	ref streams.StreamRef

	counters *MappingCounters
	filters  []*eventFilter // FilterCriteria: a record must pass one

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
	wake    chan struct{}

	// fn is the mapped function as loaded at fnAt, shared by the shard
	// workers and their lanes (function).
	fnMu sync.Mutex
	fn   *function
	fnAt time.Time
}

// function returns the mapped function (nil when it does not exist):
// the one loaded less than functionReuse ago, else read from the catalog.
// cached says which: an invocation that fails with a reused function is
// tried again with the function read afresh before a problem is reported.
func (p *poller) function(ctx context.Context) (f *function, cached bool, err error) {
	p.fnMu.Lock()
	defer p.fnMu.Unlock()
	if p.fn != nil && time.Since(p.fnAt) < functionReuse {
		return p.fn, true, nil
	}
	m := p.m
	f, _, err = p.s.load(ctx, m.Account, m.Region, m.FunctionName)
	p.fn = nil
	if err == nil && f != nil {
		p.fn, p.fnAt = f, time.Now()
	}
	return f, false, err
}

// forget drops the reused function, so that the next use reads it.
func (p *poller) forget() {
	p.fnMu.Lock()
	p.fn = nil
	p.fnMu.Unlock()
}

func (p *poller) run(ctx context.Context) {
	defer p.wg.Wait()
	for {
		p.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-time.After(scanInterval):
		}
	}
}

// scan starts a worker for every shard that is ready: not finished, not
// being read, and whose parents are finished.
func (p *poller) scan(ctx context.Context) {
	st, err := p.s.opts.Streams.Describe(p.ref)
	if err != nil {
		p.s.setProcessingResult(ctx, p.m.UUID, "PROBLEM: Stream not found: "+p.m.EventSourceArn)
		return
	}
	kvs, err := p.s.cat.List(ctx, checkpointPrefix(p.m.UUID))
	if err != nil {
		return
	}
	done := map[string]bool{}
	cks := map[string]storage.KV{}
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.Key, checkpointPrefix(p.m.UUID))
		cks[id] = kv
		var ck checkpoint
		if json.Unmarshal(kv.Value, &ck) == nil && ck.Done {
			done[id] = true
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range st.Shards {
		sh := &st.Shards[i]
		id := sh.ID()
		if done[id] || p.running[id] {
			continue
		}
		ready := true
		for _, parent := range []int64{sh.ParentIndex, sh.AdjacentParentIndex} {
			if parent >= 0 && int(parent) < len(st.Shards) && !done[st.Shards[parent].ID()] {
				ready = false
			}
		}
		if !ready {
			continue
		}
		var ck checkpoint
		kv, ok := cks[id]
		if ok {
			if err := json.Unmarshal(kv.Value, &ck); err != nil {
				p.s.logger.Error("event source mapping: bad checkpoint", "uuid", p.m.UUID, "shard", id, "err", err)
				continue
			}
		}
		p.running[id] = true
		p.wg.Add(1)
		w := &shardWorker{p: p, shardID: id, ck: ck, rev: kv.Rev}
		go func() {
			defer p.wg.Done()
			defer func() {
				p.mu.Lock()
				delete(p.running, id)
				p.mu.Unlock()
				if r := recover(); r != nil {
					p.s.logger.Error("event source mapping: shard worker panicked", "uuid", p.m.UUID, "shard", id, "panic", r)
				}
			}()
			w.run(ctx)
		}()
	}
}

// shardWorker reads one shard of a mapping's stream.
type shardWorker struct {
	p       *poller
	shardID string
	ck      checkpoint
	rev     uint64 // the checkpoint's catalog revision (0: none stored)
	// readSeq is the last record read: the lanes may hold records read
	// past the checkpoint, so a new iterator or subscription starts
	// after it (empty: after the checkpoint).
	readSeq string
	// lanes deliver the records with a ParallelizationFactor above 1
	// (esm_lanes.go); nil with one lane.
	lanes *lanes
}

func (w *shardWorker) run(ctx context.Context) {
	if pf := int(w.p.m.ParallelizationFactor); pf > 1 && !w.windowed() {
		w.lanes = w.startLanes(ctx, pf)
		defer w.lanes.stop()
		// A lane that cannot save the checkpoint stops the reader too.
		ctx = w.lanes.ctx
	}
	if w.p.m.viaConsumer() {
		w.runSubscribed(ctx)
		return
	}
	var iter string
	for ctx.Err() == nil {
		if iter == "" {
			var err error
			if iter, err = w.iterator(ctx); err != nil {
				w.p.s.logger.Warn("event source mapping: shard iterator", "uuid", w.p.m.UUID, "shard", w.shardID, "err", err)
				sleep(ctx, errorPause)
				continue
			}
		}
		// The signal is taken before the read, so that an append landing
		// between the read and the wait wakes the wait.
		signal, _ := w.p.s.opts.Streams.AppendSignal(w.p.ref, w.shardID)
		recs, next, ended, err := w.gather(ctx, iter)
		if err != nil {
			var e *streams.Error
			if errors.As(err, &e) && e.Kind == streams.KindExpiredIterator {
				iter = ""
				continue
			}
			if errors.As(err, &e) && e.Kind == streams.KindNotFound {
				// The stream went: the scan stops finding it.
				return
			}
			// Throttled (the shard's read limit is shared with its other
			// consumers) or a passing failure.
			sleep(ctx, throttlePause)
			continue
		}
		if !w.settle(ctx, recs, ended) {
			return
		}
		iter = next
		if due, left := w.windowDue(); due {
			if !w.closeWindow(ctx) {
				return
			}
		} else if len(recs) == 0 {
			wait(ctx, signal, min(idlePoll, left))
		}
	}
}

// settle finishes what one read returned: it delivers the records,
// advances and saves the checkpoint and, at the shard's end, closes its
// window, marks the shard done and wakes the scan so that the children
// start. It reports whether the worker goes on reading (false: the shard
// is done, or the worker is stopping).
func (w *shardWorker) settle(ctx context.Context, recs []streams.Record, ended bool) bool {
	if len(recs) > 0 {
		w.readSeq = recs[len(recs)-1].SequenceNumber
	}
	if w.lanes != nil {
		return w.settleLanes(ctx, recs, ended)
	}
	dirty := false
	if len(recs) > 0 {
		if !w.process(ctx, recs) {
			return false
		}
		// With one lane the batches are checkpointed already.
		if last := recs[len(recs)-1].SequenceNumber; last != w.ck.Seq {
			w.ck.Seq, dirty = last, true
		}
	}
	if ended {
		// A shard's end closes its window: children start fresh.
		if w.ck.WindowStart != 0 && !w.closeWindow(ctx) {
			return false
		}
		w.ck.Done, dirty = true, true
	}
	if dirty && !w.save(ctx) {
		return false
	}
	if ended {
		select {
		case w.p.wake <- struct{}{}:
		default:
		}
		return false
	}
	return true
}

// settleLanes is settle with lanes: the records are queued to the lanes,
// and the next read waits until the lanes have room. At the shard's end
// it waits until the lanes are done with every record, then marks the
// shard done.
func (w *shardWorker) settleLanes(ctx context.Context, recs []streams.Record, ended bool) bool {
	if len(recs) > 0 {
		all := w.encode(ctx, recs)
		if !w.lanes.dispatch(all, w.filter(all)) {
			return false
		}
	}
	if !ended {
		return w.lanes.room()
	}
	if !w.lanes.drain() {
		return false
	}
	w.lanes.mu.Lock()
	w.ck.Done = true
	ok := w.save(ctx)
	w.lanes.mu.Unlock()
	if ok {
		select {
		case w.p.wake <- struct{}{}:
		default:
		}
	}
	return false
}

// position is the record after which the next read starts: the last
// record read, else the checkpoint's.
func (w *shardWorker) position() string {
	if w.readSeq != "" {
		return w.readSeq
	}
	return w.ck.Seq
}

// iterator positions the worker: after its position, else at the
// mapping's starting position. LATEST is the mapping's creation time, so
// that a shard first read after a restart skips nothing put since.
func (w *shardWorker) iterator(ctx context.Context) (string, error) {
	p := streams.IteratorParams{Ref: w.p.ref, ShardID: w.shardID}
	switch {
	case w.position() != "":
		p.Type, p.StartingSequenceNumber = streams.AfterSequenceNumber, w.position()
	case w.p.m.StartingPosition == streams.TrimHorizon:
		p.Type = streams.TrimHorizon
	default:
		t := time.UnixMilli(w.p.m.CreatedAt)
		if w.p.m.StartingPosition == streams.AtTimestamp {
			t = time.UnixMilli(w.p.m.StartingPositionTimestamp)
		}
		p.Type, p.Timestamp = streams.AtTimestamp, &t
	}
	return w.p.s.opts.Streams.GetShardIterator(ctx, p)
}

// gather reads the next records: up to BatchSize for each of the
// ParallelizationFactor lanes, waiting up to the batching window for more
// once it has some. ended is true at the end of a closed shard.
func (w *shardWorker) gather(ctx context.Context, iter string) (recs []streams.Record, next string, ended bool, err error) {
	m := w.p.m
	// With one lane a read takes what GetRecords gives; with lanes,
	// BatchSize records per lane.
	want := min(int(m.BatchSize)*int(m.ParallelizationFactor), streams.MaxGetRecordsLimit)
	limit := want
	if m.ParallelizationFactor <= 1 {
		limit = streams.MaxGetRecordsLimit
	}
	res, err := w.p.s.opts.Streams.GetRecords(ctx, iter, limit)
	if err != nil {
		return nil, "", false, err
	}
	recs, next = res.Records, res.NextShardIterator
	if m.Window > 0 && len(recs) > 0 {
		deadline := time.Now().Add(time.Duration(m.Window) * time.Second)
		for next != "" && len(recs) < want && ctx.Err() == nil {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			sleep(ctx, min(left, throttlePause))
			more, err := w.p.s.opts.Streams.GetRecords(ctx, next, max(want-len(recs), 1))
			if err != nil {
				break
			}
			recs, next = append(recs, more.Records...), more.NextShardIterator
		}
	}
	return recs, next, next == "", nil
}

// save stores the checkpoint; false when another unit took the shard
// over (the compare-and-set failed) or the server is stopping.
func (w *shardWorker) save(ctx context.Context) bool {
	raw, _ := json.Marshal(w.ck)
	for ctx.Err() == nil {
		rev, err := w.p.s.cat.Put(ctx, checkpointKey(w.p.m.UUID, w.shardID), raw, w.rev)
		if err == nil {
			w.rev = rev
			return true
		}
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrClosed) {
			w.p.s.logger.Warn("event source mapping: checkpoint not saved", "uuid", w.p.m.UUID, "shard", w.shardID, "err", err)
			return false
		}
		sleep(ctx, errorPause)
	}
	return false
}

// encode renders a read's records as the event's items, with the
// function's role as their invokeIdentityArn.
func (w *shardWorker) encode(ctx context.Context, recs []streams.Record) []item {
	role := ""
	if f, _, err := w.p.function(ctx); err == nil && f != nil {
		role = f.Role
	}
	w.p.counters.Polled.Add(int64(len(recs)))
	return w.p.encode(w.shardID, role, recs)
}

// filter returns the items that pass a filter of the FilterCriteria, in
// order; without filters, all of them. Records that pass no filter are
// skipped (the checkpoint still moves past them).
func (w *shardWorker) filter(items []item) []item {
	if len(w.p.filters) == 0 {
		return items
	}
	kept := make([]item, 0, len(items))
	for i := range items {
		if passes(w.p.filters, &items[i]) {
			kept = append(kept, items[i])
		}
	}
	w.p.counters.FilteredOut.Add(int64(len(items) - len(kept)))
	return kept
}

// process delivers records read from the shard with one lane: in
// batches, in order, each batch checkpointed once it is done, so that a
// crash sends at most the batch in flight again; with a tumbling window,
// window by window. It returns false when delivery stopped before the
// end (the server is stopping, or the mapping changed).
func (w *shardWorker) process(ctx context.Context, recs []streams.Record) bool {
	items := w.filter(w.encode(ctx, recs))
	if w.windowed() {
		return w.deliverWindows(ctx, items)
	}
	return w.deliverLane(ctx, items, func(batch []item) bool {
		w.ck.Seq = batch[len(batch)-1].rec.SequenceNumber
		return w.save(ctx)
	})
}

// deliverLane sends a lane's records in batches of at most BatchSize
// records and 6 MB of event; done, when set, is called with every batch
// done and may stop the lane (false).
func (w *shardWorker) deliverLane(ctx context.Context, items []item, done func(batch []item) bool) bool {
	size := int(w.p.m.BatchSize)
	for len(items) > 0 {
		n, bytes := 0, eventOverhead
		for n < len(items) && n < size {
			b := len(items[n].json) + 1
			if n > 0 && bytes+b > maxEventBytes {
				break
			}
			bytes += b
			n++
		}
		if !w.deliver(ctx, items[:n], 0) {
			return false
		}
		if done != nil && !done(items[:n]) {
			return false
		}
		items = items[n:]
	}
	return true
}

// deliver invokes the function with a batch until it succeeds or the
// mapping gives up on it (MaximumRetryAttempts, MaximumRecordAgeInSeconds;
// the batch then goes to the on-failure destination and is passed). A
// failed batch is split in two when BisectBatchOnFunctionError is on; the
// split is not a retry. retries is how many retries the batch had.
func (w *shardWorker) deliver(ctx context.Context, batch []item, retries int) bool {
	m, s := w.p.m, w.p.s
	invokes := 0
	for ctx.Err() == nil {
		if m.MaximumRecordAge >= 0 && s.now().UnixMilli()-batch[0].rec.Arrival > int64(m.MaximumRecordAge)*1000 {
			w.p.failed(ctx, w.shardID, batch, "RecordAgeExceeded", invokes, result{})
			return true
		}
		f, cached, err := w.p.function(ctx)
		if err != nil || f == nil {
			// Before the invocation: not a retry.
			s.setProcessingResult(ctx, m.UUID, "PROBLEM: Function not found: "+m.functionArn())
			sleep(ctx, errorPause)
			continue
		}
		payload := eventPayload(batch)
		if w.windowed() {
			payload = w.windowPayload(batch, false)
		}
		res, err := s.call(ctx, f, payload)
		if err != nil && cached && ctx.Err() == nil {
			// The function may have changed or gone since it was
			// read: read it again before reporting a problem.
			w.p.forget()
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.setProcessingResult(ctx, m.UUID, "PROBLEM: "+err.Error())
				sleep(ctx, errorPause)
			}
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		invokes++
		w.p.counters.Invoked.Add(int64(len(batch)))
		from := w.p.failedFrom(res, batch)
		if w.windowed() {
			// A windowed invocation must answer the window's state.
			if st, ok := windowState(res); !ok {
				from = 0
			} else {
				w.ck.State = st
			}
		}
		if from < 0 {
			s.setProcessingResult(ctx, m.UUID, "OK")
			w.p.finished(f, batch)
			return true
		}
		if cached {
			// A function deleted under the invocation fails it (its
			// instances are stopped): read it again, and report it
			// missing rather than as a failure of its own.
			w.p.forget()
			if f, _, err := w.p.function(ctx); err != nil || f == nil {
				continue
			}
		}
		w.p.counters.FailedInvoke.Add(int64(len(batch) - from))
		s.setProcessingResult(ctx, m.UUID, "PROBLEM: Function call failed")
		batch = batch[from:]
		if m.Bisect && len(batch) > 1 && !w.windowed() {
			half := len(batch) / 2
			return w.deliver(ctx, batch[:half], retries) && w.deliver(ctx, batch[half:], retries)
		}
		if m.MaximumRetryAttempts >= 0 && retries >= int(m.MaximumRetryAttempts) {
			w.p.failed(ctx, w.shardID, batch, "RetryAttemptsExhausted", invokes, res)
			return true
		}
		retries++
		sleep(ctx, min(retryBaseDelay<<min(retries-1, 10), retryMaxDelay))
	}
	return false
}

// failedFrom reads an invocation's outcome: -1 when the whole batch
// succeeded, else the index of the first record to retry. Without
// ReportBatchItemFailures a function error fails the whole batch; with it,
// the response names the failed records and the batch is retried from the
// lowest one. As Lambda does, a response that is not valid, an item with
// an empty, null or missing itemIdentifier, or one that names no record of
// the batch fails the whole batch; an empty or null list, or an empty or
// null response, is a success.
func (p *poller) failedFrom(res result, batch []item) int {
	if res.functionError != "" {
		return 0
	}
	if !p.m.ReportBatchItemFailures {
		return -1
	}
	body := strings.TrimSpace(string(res.body))
	if body == "" || body == "null" {
		return -1
	}
	var resp struct {
		BatchItemFailures []map[string]json.RawMessage `json:"batchItemFailures"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return 0
	}
	lowest := -1
	for _, f := range resp.BatchItemFailures {
		var id string
		raw, ok := f["itemIdentifier"]
		if !ok || json.Unmarshal(raw, &id) != nil || id == "" {
			return 0
		}
		i := indexOf(batch, id)
		if i < 0 {
			return 0
		}
		if lowest < 0 || i < lowest {
			lowest = i
		}
	}
	return lowest
}

func indexOf(batch []item, seq string) int {
	for i := range batch {
		if batch[i].rec.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// wait waits for signal (nil: none), d or ctx, whichever comes first.
func wait(ctx context.Context, signal <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-signal:
	case <-t.C:
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

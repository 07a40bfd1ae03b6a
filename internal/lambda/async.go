package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Event (asynchronous) invocations are queued in the catalog before Invoke
// answers 202, so that an accepted event survives a restart, and run by
// one background unit (asyncUnit): on one node of a cluster, and moved
// with its lease. An event leaves the queue once its invocation ended:
// on success, or on a function error (the function's error, a runtime
// exit, a timeout: it goes to the server log) once the function's
// MaximumRetryAttempts (eventinvoke.go) are used up; until then a failed
// event is queued again under a key asyncRetryDelays later, its new
// entries written before its old ones go. An event older than its
// function's MaximumEventAgeInSeconds when its turn comes is dropped
// (logged, counted in AsyncEventsDropped). One stopped by the server's
// shutdown stays queued and runs again after the restart: at least
// once, as on Lambda.
//
// Each event is two catalog entries with the same name: the event itself
// (asyncPrefix, up to 256 KB of payload) and a small index entry
// (asyncIndexPrefix) naming its function. The unit lists the index only,
// and reads an event's payload when it starts it, so that a long queue
// costs a few dozen bytes per event to look at rather than its payloads:
// a function at its reserved concurrency keeps its events in the catalog,
// unread, without holding up other functions' events behind them.

const (
	asyncPrefix      = "lambda/async/"
	asyncIndexPrefix = "lambda/asyncq/"
	asyncUnit        = "lambda/async"
	// maxAsyncAdded bounds the events a node keeps for the unit between
	// its looks: on a node where the unit does not run (a cluster), the
	// unit elsewhere finds them by listing the index.
	maxAsyncAdded = 4096
)

// asyncRetryDelays are the waits before an Event invocation that failed
// is tried again: the first retry, then every later one (AWS waits about
// one minute, then two).
var asyncRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}

// retryDelay is the wait before retry number n (from 1).
func retryDelay(n int) time.Duration {
	return asyncRetryDelays[min(n, len(asyncRetryDelays))-1]
}

// asyncEvent is a queued Event invocation.
type asyncEvent struct {
	Account       string `json:"account"`
	Region        string `json:"region"`
	Function      string `json:"function"`
	RequestID     string `json:"requestId"`
	Payload       []byte `json:"payload"`
	ClientContext string `json:"clientContext,omitempty"`
	// Queued is when Invoke accepted it (Unix nanoseconds; 0 in events
	// queued before it was kept: the time in their key), and Retries how
	// many times it was tried again since.
	Queued  int64 `json:"queued,omitempty"`
	Retries int   `json:"retries,omitempty"`
}

// asyncTarget is an index entry's value: the event's function.
type asyncTarget struct {
	Account  string `json:"account"`
	Region   string `json:"region"`
	Function string `json:"function"`
}

// asyncEntry is one event as the index names it.
type asyncEntry struct {
	name   string // the key after the prefix: arrival, then request id
	rev    uint64 // the index entry's revision
	target asyncTarget
}

func (e asyncEntry) pool() string {
	return poolKey(e.target.Account, e.target.Region, e.target.Function)
}

// asyncKey orders the queue by arrival, or for a retry by the time it is
// due.
func asyncKey(now time.Time, requestID string) string {
	return fmt.Sprintf("%s%020d-%s", asyncPrefix, now.UnixNano(), requestID)
}

// due is when the event a queue entry names may run: the time in its key.
func (e asyncEntry) due() time.Time {
	if len(e.name) < 20 {
		return time.Time{}
	}
	n, err := strconv.ParseInt(e.name[:20], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// enqueue stores an Event invocation of f and wakes the queue's unit. The
// event is stored before its index entry, so that the unit never sees an
// index entry whose event is still to come.
func (s *Service) enqueue(ctx context.Context, f *function, inv *invocation) error {
	now := s.now()
	return s.queueEvent(ctx, asyncKey(now, inv.id), asyncEvent{Account: f.Account, Region: f.Region, Function: f.Name,
		RequestID: inv.id, Payload: inv.payload, ClientContext: inv.clientContext, Queued: now.UnixNano()})
}

// queueEvent stores ev under key, then its index entry, and wakes the
// queue's unit.
func (s *Service) queueEvent(ctx context.Context, key string, ev asyncEvent) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	rev, err := s.cat.Put(ctx, key, raw, 0)
	if err != nil {
		return storageError("queueing an asynchronous invocation", err)
	}
	e := asyncEntry{name: strings.TrimPrefix(key, asyncPrefix), target: asyncTarget{ev.Account, ev.Region, ev.Function}}
	idx, _ := json.Marshal(e.target)
	e.rev, err = s.cat.Put(ctx, asyncIndexPrefix+e.name, idx, 0)
	switch {
	case errors.Is(err, storage.ErrConflict):
		// The unit's start indexed it meanwhile (indexQueue).
		s.noteAsync(asyncEntry{}, true)
		return nil
	case err != nil:
		if derr := s.cat.Delete(ctx, key, rev); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
			s.logger.Warn("asynchronous invocations: taking back an event not indexed", "key", key, "err", derr)
		}
		return storageError("queueing an asynchronous invocation", err)
	}
	s.noteAsync(e, false)
	return nil
}

// noteAsync hands an event queued here to the unit and wakes it; missed:
// the unit must list the index to find it.
func (s *Service) noteAsync(e asyncEntry, missed bool) {
	s.asyncMu.Lock()
	if missed || len(s.asyncAdded) >= maxAsyncAdded {
		s.asyncMissed = true
	} else {
		s.asyncAdded = append(s.asyncAdded, e)
	}
	s.asyncMu.Unlock()
	select {
	case s.asyncWake <- struct{}{}:
	default:
	}
}

// takeAsync returns the events queued here since the last call, and
// whether some were left out.
func (s *Service) takeAsync() ([]asyncEntry, bool) {
	s.asyncMu.Lock()
	defer s.asyncMu.Unlock()
	added, missed := s.asyncAdded, s.asyncMissed
	s.asyncAdded, s.asyncMissed = nil, false
	return added, missed
}

// listAsync reads the queue's index, in arrival order.
func (s *Service) listAsync(ctx context.Context) ([]asyncEntry, error) {
	kvs, err := s.cat.List(ctx, asyncIndexPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]asyncEntry, 0, len(kvs))
	for _, kv := range kvs {
		e := asyncEntry{name: strings.TrimPrefix(kv.Key, asyncIndexPrefix), rev: kv.Rev}
		if err := json.Unmarshal(kv.Value, &e.target); err != nil {
			// Its event is read and dropped as unreadable if it is too.
			s.logger.Warn("asynchronous invocations: unreadable index entry", "key", kv.Key, "err", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// indexQueue gives an index entry to every queued event without one: an
// event whose enqueue stopped between its two writes, or one queued
// before the index existed. It reads every event, once per start of the
// unit.
func (s *Service) indexQueue(ctx context.Context) error {
	kvs, err := s.cat.List(ctx, asyncPrefix)
	if err != nil {
		return err
	}
	indexed, err := s.cat.List(ctx, asyncIndexPrefix)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(indexed))
	for _, kv := range indexed {
		have[strings.TrimPrefix(kv.Key, asyncIndexPrefix)] = true
	}
	for _, kv := range kvs {
		name := strings.TrimPrefix(kv.Key, asyncPrefix)
		if have[name] {
			continue
		}
		var ev asyncEvent
		_ = json.Unmarshal(kv.Value, &ev) // an unreadable one is dropped when it runs
		idx, _ := json.Marshal(asyncTarget{ev.Account, ev.Region, ev.Function})
		if _, err := s.cat.Put(ctx, asyncIndexPrefix+name, idx, 0); err != nil && !errors.Is(err, storage.ErrConflict) {
			return err
		}
	}
	return nil
}

// asyncState is what the unit knows of the events it started.
type asyncState struct {
	mu      sync.Mutex
	running map[string]bool
	// finished are the events taken off the queue since the last List of
	// the index began: that List may still hold them.
	finished map[string]bool
	// failed are the events whose run ended without taking them off the
	// queue (a storage error, the function unreadable): tried again after
	// the next List, and their function's later events wait for them.
	failed map[string]bool
	// inFlight counts the running events per function (poolKey), and
	// total all of them.
	inFlight map[string]int
	total    int
	// limits are the functions' reserved concurrency (-1: none), read
	// again after each List; only the unit's loop uses them.
	limits map[string]int
}

// runAsync is the queue's unit. It starts queued events in arrival order
// as far as the limits allow: a function's events one after another
// within its reserved concurrency (a function at its limit has its later
// events wait, unread, while other functions' events go by), and up to
// the server's concurrency at once. It looks again whenever an event is
// queued here or ends, and lists the index at least every scanInterval
// (an event queued on another node of a cluster).
func (s *Service) runAsync(ctx context.Context) {
	st := &asyncState{running: map[string]bool{}, finished: map[string]bool{}, failed: map[string]bool{},
		inFlight: map[string]int{}, limits: map[string]int{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	ended := make(chan struct{}, 1)
	var (
		queue   []asyncEntry
		indexed bool
		list    = true
	)
	tick := time.NewTicker(scanInterval)
	defer tick.Stop()
	// What this node noted while the unit ran elsewhere (a cluster) is
	// stale, and in the List below if still queued.
	s.takeAsync()
	for ctx.Err() == nil {
		if !indexed {
			if err := s.indexQueue(ctx); err != nil {
				if ctx.Err() == nil {
					s.logger.Warn("asynchronous invocations: indexing the queue", "err", err)
				}
			} else {
				indexed = true
			}
		}
		added, missed := s.takeAsync()
		if list || missed {
			st.mu.Lock()
			clear(st.finished)
			clear(st.failed)
			st.mu.Unlock()
			clear(st.limits)
			if q, err := s.listAsync(ctx); err == nil {
				queue = q
			} else if ctx.Err() == nil {
				s.logger.Warn("asynchronous invocations: reading the queue", "err", err)
			}
		}
		for _, e := range added {
			if i, found := slices.BinarySearchFunc(queue, e.name, func(q asyncEntry, name string) int {
				return strings.Compare(q.name, name)
			}); !found {
				queue = slices.Insert(queue, i, e)
			}
		}
		var next time.Time
		queue, next = s.startAsync(ctx, st, queue, &wg, ended)
		list = false
		var due *time.Timer
		var dueC <-chan time.Time
		if !next.IsZero() {
			due = time.NewTimer(max(next.Sub(s.now()), 0))
			dueC = due.C
		}
		select {
		case <-ctx.Done():
		case <-s.asyncWake:
		case <-ended:
		case <-dueC:
		case <-tick.C:
			list = true
		}
		if due != nil {
			due.Stop()
		}
	}
}

// startAsync starts what queue's events it may and returns the queue
// without the finished ones, and when the first retry it left waiting is
// due (zero: none). A retry not yet due holds up no other event.
func (s *Service) startAsync(ctx context.Context, st *asyncState, queue []asyncEntry, wg *sync.WaitGroup, ended chan struct{}) ([]asyncEntry, time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	queue = slices.DeleteFunc(queue, func(e asyncEntry) bool { return st.finished[e.name] })
	blocked := map[string]bool{}
	now := s.now()
	var next time.Time
	for _, e := range queue {
		if st.total >= s.opts.Concurrency {
			break
		}
		pool := e.pool()
		if st.running[e.name] || blocked[pool] {
			continue
		}
		if due := e.due(); due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		if st.failed[e.name] {
			blocked[pool] = true
			continue
		}
		limit, ok := st.limits[pool]
		if !ok {
			st.mu.Unlock()
			f, _, err := s.load(ctx, e.target.Account, e.target.Region, e.target.Function)
			st.mu.Lock()
			switch {
			case err != nil:
				blocked[pool] = true
				continue
			case f != nil && f.Reserved != nil:
				limit = int(*f.Reserved)
			default:
				limit = -1 // a function gone: its events are dropped as they run
			}
			st.limits[pool] = limit
		}
		if limit >= 0 && st.inFlight[pool] >= limit {
			blocked[pool] = true
			continue
		}
		st.running[e.name] = true
		st.inFlight[pool]++
		st.total++
		wg.Go(func() {
			done := s.runQueued(ctx, e)
			st.mu.Lock()
			delete(st.running, e.name)
			st.inFlight[pool]--
			if st.inFlight[pool] == 0 {
				delete(st.inFlight, pool)
			}
			st.total--
			if done {
				st.finished[e.name] = true
			} else {
				st.failed[e.name] = true
			}
			st.mu.Unlock()
			select {
			case ended <- struct{}{}:
			default:
			}
		})
	}
	return queue, next
}

// runQueued reads an indexed event and runs it; it reports whether the
// event left the queue.
func (s *Service) runQueued(ctx context.Context, e asyncEntry) bool {
	key := asyncPrefix + e.name
	raw, rev, err := s.cat.Get(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Its run ended but the server stopped before the index entry
		// went.
		return s.dequeue(ctx, storage.KV{}, e)
	case err != nil:
		if ctx.Err() == nil {
			s.logger.Warn("asynchronous invocations: reading an event", "key", key, "err", err)
		}
		return false
	}
	return s.runEvent(ctx, storage.KV{Key: key, Value: raw, Rev: rev}, e)
}

// runEvent runs one queued event and takes it off the queue, unless the
// unit is stopping (it then runs again after the restart). It reports
// whether the event left the queue.
func (s *Service) runEvent(ctx context.Context, kv storage.KV, e asyncEntry) bool {
	var ev asyncEvent
	if err := json.Unmarshal(kv.Value, &ev); err != nil {
		s.logger.Error("asynchronous invocation dropped: unreadable", "key", kv.Key, "err", err)
		return s.dequeue(ctx, kv, e)
	}
	f, _, err := s.load(ctx, ev.Account, ev.Region, ev.Function)
	switch {
	case err != nil:
		return false // read again after the next List
	case f == nil:
		s.logger.Warn("asynchronous invocation dropped: the function is gone", "function", ev.Function, "request_id", ev.RequestID)
		return s.dequeue(ctx, kv, e)
	}
	queued := time.Unix(0, ev.Queued)
	if ev.Queued == 0 {
		queued = e.due()
	}
	if age := s.now().Sub(queued); age > f.maxEventAge() {
		s.logger.Warn("asynchronous invocation dropped: older than the function's MaximumEventAgeInSeconds",
			"function", f.Name, "request_id", ev.RequestID, "age", age.Round(time.Second), "retries", ev.Retries)
		s.stats.function(f.Account, f.Region, f.Name).AsyncEventsDropped.Add(1)
		return s.dequeue(ctx, kv, e)
	}
	res, err := s.callWith(ctx, f, &invocation{id: ev.RequestID, payload: ev.Payload, clientContext: ev.ClientContext})
	if err != nil || ctx.Err() != nil {
		return false
	}
	if res.functionError != "" {
		if ev.Retries < f.retryAttempts() {
			s.logger.Info("asynchronous invocation failed, to be retried", "function", f.Name, "request_id", ev.RequestID,
				"retries", ev.Retries, "error", string(res.body))
			return s.retry(ctx, kv, e, ev)
		}
		s.logger.Info("asynchronous invocation failed", "function", f.Name, "request_id", ev.RequestID,
			"retries", ev.Retries, "error", string(res.body))
	}
	return s.dequeue(ctx, kv, e)
}

// retry queues a failed event again, due asyncRetryDelays later, and
// then takes its old entries off the queue: a stop in between runs it
// twice rather than never.
func (s *Service) retry(ctx context.Context, kv storage.KV, e asyncEntry, ev asyncEvent) bool {
	if ev.Queued == 0 {
		ev.Queued = e.due().UnixNano()
	}
	ev.Retries++
	if err := s.queueEvent(ctx, asyncKey(s.now().Add(retryDelay(ev.Retries)), ev.RequestID), ev); err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("asynchronous invocations: queueing a retry", "request_id", ev.RequestID, "err", err)
		}
		return false
	}
	return s.dequeue(ctx, kv, e)
}

// dequeue takes an event (kv, none when its Key is empty) and then its
// index entry off the queue, and reports whether both are gone. The
// event goes first: an index entry left alone is dropped when it runs,
// while an event left alone would be indexed and run again.
func (s *Service) dequeue(ctx context.Context, kv storage.KV, e asyncEntry) bool {
	gone := func(what, key string, err error) bool {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			if ctx.Err() == nil {
				s.logger.Warn("asynchronous invocations: taking "+what+" off the queue", "key", key, "err", err)
			}
			return false
		}
		return true
	}
	if kv.Key != "" && !gone("an event", kv.Key, s.cat.Delete(ctx, kv.Key, kv.Rev)) {
		return false
	}
	key := asyncIndexPrefix + e.name
	return gone("an index entry", key, s.cat.Delete(ctx, key, e.rev))
}

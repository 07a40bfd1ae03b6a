package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Event (asynchronous) invocations are queued in the catalog before Invoke
// answers 202, so that an accepted event survives a restart, and run by
// one background unit (asyncUnit): on one node of a cluster, and moved
// with its lease. An event leaves the queue once its invocation ended
// (success or function error, which goes to the server log); one stopped
// by the server's shutdown stays queued and runs again after the
// restart: at least once, as on Lambda.

const (
	asyncPrefix = "lambda/async/"
	asyncUnit   = "lambda/async"
)

// asyncEvent is a queued Event invocation.
type asyncEvent struct {
	Account       string `json:"account"`
	Region        string `json:"region"`
	Function      string `json:"function"`
	RequestID     string `json:"requestId"`
	Payload       []byte `json:"payload"`
	ClientContext string `json:"clientContext,omitempty"`
}

// asyncKey orders the queue by arrival.
func asyncKey(now time.Time, requestID string) string {
	return fmt.Sprintf("%s%020d-%s", asyncPrefix, now.UnixNano(), requestID)
}

// enqueue stores an Event invocation of f and wakes the queue's unit.
func (s *Service) enqueue(ctx context.Context, f *function, inv *invocation) error {
	raw, err := json.Marshal(asyncEvent{Account: f.Account, Region: f.Region, Function: f.Name,
		RequestID: inv.id, Payload: inv.payload, ClientContext: inv.clientContext})
	if err != nil {
		return err
	}
	if _, err := s.cat.Put(ctx, asyncKey(s.now(), inv.id), raw, 0); err != nil {
		return storageError("queueing an asynchronous invocation", err)
	}
	select {
	case s.asyncWake <- struct{}{}:
	default:
	}
	return nil
}

// runAsync is the queue's unit: it starts every queued event not yet
// running, up to the server's concurrency at once (each then waits for an
// execution slot of its function), when woken and at least every
// scanInterval (an event queued on another node of a cluster).
func (s *Service) runAsync(ctx context.Context) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		running = map[string]bool{}
		// finished are the events taken off the queue since the scan's
		// List began: that List may still hold them.
		finished = map[string]bool{}
		slots    = make(chan struct{}, s.opts.Concurrency)
	)
	defer wg.Wait()
	for ctx.Err() == nil {
		mu.Lock()
		clear(finished)
		mu.Unlock()
		kvs, err := s.cat.List(ctx, asyncPrefix)
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("asynchronous invocations: reading the queue", "err", err)
		}
		for _, kv := range kvs {
			mu.Lock()
			busy := running[kv.Key] || finished[kv.Key]
			running[kv.Key] = true
			mu.Unlock()
			if busy {
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				done := s.runEvent(ctx, kv)
				<-slots
				mu.Lock()
				delete(running, kv.Key)
				if done {
					finished[kv.Key] = true
				}
				mu.Unlock()
			})
		}
		select {
		case <-ctx.Done():
		case <-s.asyncWake:
		case <-time.After(scanInterval):
		}
	}
}

// runEvent runs one queued event and takes it off the queue, unless the
// unit is stopping (it then runs again after the restart). It reports
// whether the event left the queue.
func (s *Service) runEvent(ctx context.Context, kv storage.KV) bool {
	var ev asyncEvent
	if err := json.Unmarshal(kv.Value, &ev); err != nil {
		s.logger.Error("asynchronous invocation dropped: unreadable", "key", kv.Key, "err", err)
		return s.dequeue(ctx, kv)
	}
	f, _, err := s.load(ctx, ev.Account, ev.Region, ev.Function)
	switch {
	case err != nil:
		return false // read again at the next scan
	case f == nil:
		s.logger.Warn("asynchronous invocation dropped: the function is gone", "function", ev.Function, "request_id", ev.RequestID)
		return s.dequeue(ctx, kv)
	}
	res, err := s.callWith(ctx, f, &invocation{id: ev.RequestID, payload: ev.Payload, clientContext: ev.ClientContext})
	if err != nil || ctx.Err() != nil {
		return false
	}
	if res.functionError != "" {
		s.logger.Info("asynchronous invocation failed", "function", f.Name, "request_id", ev.RequestID, "error", string(res.body))
	}
	return s.dequeue(ctx, kv)
}

// dequeue takes an event off the queue and reports whether it is gone.
func (s *Service) dequeue(ctx context.Context, kv storage.KV) bool {
	err := s.cat.Delete(ctx, kv.Key, kv.Rev)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		if ctx.Err() == nil {
			s.logger.Warn("asynchronous invocations: taking an event off the queue", "key", kv.Key, "err", err)
		}
		return false
	}
	return true
}

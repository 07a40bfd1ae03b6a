// Package background runs the server's background units: the long-running
// work that is no request's (the CloudWatch aggregator, event source
// mapping pollers, delivery loops, analytics applications). Every service
// starts its units through one Runner, so that the server stops them all
// before the storage closes and so that, in cluster mode, the Runner is the
// one place where a unit first takes a lease and runs on exactly one node.
//
// A unit is a named function that runs until its context is done. A unit
// that panics is logged and started again after a pause; one that returns
// is done. Services keep a unit's progress in storage (never only in
// memory), so a unit started again, here or on another node, resumes from
// it.
package background

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Runner starts, supervises and stops units.
type Runner struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger
	// RestartPause is how long a unit that panicked waits before it runs
	// again. Set it before the first Go.
	RestartPause time.Duration

	mu     sync.Mutex
	units  map[string]*Unit
	leases *Leases // nil: every unit runs here at once (lease.go)
}

// New returns a Runner; Stop ends it.
func New(logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{ctx: ctx, cancel: cancel, log: logger, RestartPause: 5 * time.Second, units: make(map[string]*Unit)}
}

// Unit is one started unit.
type Unit struct {
	name   string
	r      *Runner
	cancel context.CancelFunc
	done   chan struct{}
}

// Name is the name the unit was started under.
func (u *Unit) Name() string { return u.name }

// Done is closed when the unit has returned for good.
func (u *Unit) Done() <-chan struct{} { return u.done }

// Stop cancels the unit's context and waits until it has returned. It is
// safe to call more than once and after the Runner stopped.
func (u *Unit) Stop() {
	u.cancel()
	<-u.done
}

// Go starts a unit under a name unique among the running units (a service
// prefixes its own, e.g. "lambda/esm/<uuid>"). Starting a name that is
// still running stops the running one first, so a unit whose definition
// changed can simply be started again. After Stop, Go returns a unit that
// is already done.
//
// In a cluster (SetLeases), the unit first takes the lease on its name, so
// that it runs on one node at a time (see Leases).
func (r *Runner) Go(name string, fn func(ctx context.Context)) *Unit {
	return r.start(name, fn, true)
}

// GoLocal is Go for a unit that runs on every node, never under a lease:
// work that is this node's own (it counts this node's requests, say).
func (r *Runner) GoLocal(name string, fn func(ctx context.Context)) *Unit {
	return r.start(name, fn, false)
}

func (r *Runner) start(name string, fn func(ctx context.Context), leased bool) *Unit {
	r.mu.Lock()
	old := r.units[name]
	leases := r.leases
	r.mu.Unlock()
	if !leased {
		leases = nil
	}
	if old != nil {
		old.Stop()
	}
	ctx, cancel := context.WithCancel(r.ctx)
	u := &Unit{name: name, r: r, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		cancel()
		close(u.done)
		return u
	}
	r.units[name] = u
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer close(u.done)
		defer func() {
			r.mu.Lock()
			if r.units[name] == u {
				delete(r.units, name)
			}
			r.mu.Unlock()
		}()
		for ctx.Err() == nil {
			var panicked bool
			if leases == nil {
				panicked = r.runOnce(ctx, name, fn)
			} else {
				var lost bool
				if panicked, lost = r.runLeased(ctx, leases, name, fn); lost {
					continue // another node holds it now: wait for it again
				}
			}
			if !panicked {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(r.RestartPause):
			}
		}
	}()
	return u
}

// Running lists the names of the units that are running, for health and
// tests.
func (r *Runner) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.units))
	for n := range r.units {
		names = append(names, n)
	}
	return names
}

// runLeased takes the lease on name, runs fn under it and gives it up
// after. It reports whether fn panicked and whether the lease was lost
// while fn ran (fn's context was cancelled then).
func (r *Runner) runLeased(ctx context.Context, leases *Leases, name string, fn func(ctx context.Context)) (panicked, lost bool) {
	le, err := leases.acquire(ctx, name)
	if err != nil {
		return false, false // ctx done
	}
	uctx, ucancel := context.WithCancel(ctx)
	defer ucancel()
	hctx, hcancel := context.WithCancel(ctx)
	held := make(chan struct{})
	var lostLease bool
	go func() {
		defer close(held)
		le.hold(hctx, func() { lostLease = true; ucancel() })
	}()
	panicked = r.runOnce(uctx, name, fn)
	hcancel()
	<-held
	if lostLease {
		r.log.Warn("background unit stopped: its lease could not be renewed", "unit", name)
		return panicked, ctx.Err() == nil
	}
	le.release()
	return panicked, false
}

// runOnce runs fn and reports whether it panicked.
func (r *Runner) runOnce(ctx context.Context, name string, fn func(ctx context.Context)) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("background unit panicked; restarting it", "unit", name,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			panicked = true
		}
	}()
	fn(ctx)
	return false
}

// Stop cancels every unit and waits until all have returned. Units started
// after Stop are done at once.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.cancel()
	r.mu.Unlock()
	r.wg.Wait()
}

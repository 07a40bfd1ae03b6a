package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// runner starts, supervises and stops the server's background units: the
// long-running tasks that are no request's work (the CloudWatch
// aggregator today; delivery loops and pollers as they come). Each unit is
// a named function that runs until its context is done. A unit that panics
// is logged and started again after a pause; one that returns is done.
// Stop cancels every unit and waits for them.
//
// This is the one place where, in cluster mode, a unit will first take a
// lease (in the catalog) so that it runs on exactly one node.
type runner struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger
	// restartPause is how long a unit that panicked waits before it
	// runs again.
	restartPause time.Duration
}

func newRunner(logger *slog.Logger) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{ctx: ctx, cancel: cancel, log: logger, restartPause: 5 * time.Second}
}

// Go starts a unit.
func (r *runner) Go(name string, fn func(ctx context.Context)) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for r.ctx.Err() == nil {
			if !r.runOnce(name, fn) {
				return
			}
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(r.restartPause):
			}
		}
	}()
}

// runOnce runs fn and reports whether it panicked.
func (r *runner) runOnce(name string, fn func(ctx context.Context)) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("background unit panicked; restarting it", "unit", name,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			panicked = true
		}
	}()
	fn(r.ctx)
	return false
}

// Stop cancels every unit and waits until all have returned.
func (r *runner) Stop() {
	r.cancel()
	r.wg.Wait()
}

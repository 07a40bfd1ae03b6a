package lambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// runner keeps the warm instances of every function and enforces the
// concurrency limits. An instance runs one invocation at a time; a
// function has as many instances as it has invocations in flight (up to
// its reserved concurrency and the server-wide limit), and idle ones stay
// warm for the next invocation until the function changes or goes.
type runner struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	pools   map[string]*pool
	running int           // executions in flight, server-wide
	freed   chan struct{} // closed (and replaced) whenever a slot frees
	closed  bool

	// wg counts every goroutine the runner starts.
	wg sync.WaitGroup
	// endpoint invokes the HTTP endpoint functions.
	endpoint *endpointInvoker
	// mem limits and measures the instances' memory (memory.go).
	mem *memoryControl
	// sandbox isolates the instances (sandbox.go).
	sandbox *sandbox
}

// pool is one function's instances.
type pool struct {
	revision string // the function revision its instances run
	idle     []*instance
	all      map[*instance]bool
	busy     int
}

func newRunner(opts Options, log *slog.Logger, mem *memoryControl, sb *sandbox) *runner {
	return &runner{opts: opts, log: log, pools: map[string]*pool{}, freed: make(chan struct{}),
		endpoint: newEndpointInvoker(), mem: mem, sandbox: sb}
}

func poolKey(account, region, name string) string { return account + "/" + region + "/" + name }

// errClosed is returned to invocations once the server stops.
var errClosed = errors.New("lambda: the server is stopping")

// throttled is acquire's answer when a limit is reached: the reason of
// the TooManyRequestsException.
type throttled struct{ reason string }

func (t *throttled) Error() string { return "throttled: " + t.reason }

// acquire takes an execution slot for f and an instance to run it on,
// starting one when no warm instance is idle. With wait false a reached
// limit returns *throttled; with wait true it waits for a free slot until
// ctx is done. release gives the slot and the instance back.
func (r *runner) acquire(ctx context.Context, f *function, code func() ([]byte, error), wait bool) (*instance, error) {
	key := poolKey(f.Account, f.Region, f.Name)
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, errClosed
		}
		p := r.pools[key]
		if p == nil {
			p = &pool{revision: f.RevisionID, all: map[*instance]bool{}}
			r.pools[key] = p
		}
		if p.revision != f.RevisionID {
			// The function changed: its idle instances go, busy ones go
			// when they finish.
			r.retireLocked(p)
			p.revision = f.RevisionID
		}
		var reason string
		switch {
		case f.Reserved != nil && p.busy >= int(*f.Reserved):
			reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
		case r.running >= r.opts.Concurrency:
			reason = "ConcurrentInvocationLimitExceeded"
		}
		if reason != "" {
			freed := r.freed
			r.mu.Unlock()
			if !wait {
				return nil, &throttled{reason: reason}
			}
			select {
			case <-freed:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		p.busy++
		r.running++
		var inst *instance
		for inst == nil && len(p.idle) > 0 {
			n := len(p.idle)
			inst, p.idle = p.idle[n-1], p.idle[:n-1]
			if inst.dead() {
				// Exited while idle: it goes, and another is used.
				delete(p.all, inst)
				r.stopLaterLocked(inst)
				inst = nil
			}
		}
		r.mu.Unlock()
		if inst != nil || f.endpoint() {
			// An endpoint function takes the slot only.
			return inst, nil
		}
		inst, err := r.start(f, code)
		if err != nil {
			r.release(f, nil)
			return nil, err
		}
		r.mu.Lock()
		closed := r.closed
		if closed || p.revision != f.RevisionID {
			// Stopped or changed while starting: this one runs the
			// invocation and then goes.
			inst.retired = true
		}
		p.all[inst] = true
		r.mu.Unlock()
		if closed {
			inst.stop()
			r.release(f, nil)
			return nil, errClosed
		}
		return inst, nil
	}
}

// busy returns how many invocations of each function (poolKey) run now.
func (r *runner) busy() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.pools))
	for k, p := range r.pools {
		if p.busy > 0 {
			out[k] = p.busy
		}
	}
	return out
}

// release gives back f's slot and its instance (nil: none was started).
// A dead or retired instance is stopped rather than kept warm.
func (r *runner) release(f *function, inst *instance) {
	key := poolKey(f.Account, f.Region, f.Name)
	r.mu.Lock()
	p := r.pools[key]
	if p != nil {
		p.busy--
	}
	r.running--
	close(r.freed)
	r.freed = make(chan struct{})
	stop := false
	if inst != nil {
		if p == nil || inst.retired || inst.dead() || r.closed || p.revision != f.RevisionID {
			stop = true
			if p != nil {
				delete(p.all, inst)
			}
		} else {
			p.idle = append(p.idle, inst)
		}
	}
	if p != nil && p.busy == 0 && len(p.all) == 0 {
		delete(r.pools, key)
	}
	r.mu.Unlock()
	if stop {
		inst.stop()
	}
}

// retireLocked stops p's idle instances and marks the busy ones to stop
// when their invocation ends.
func (r *runner) retireLocked(p *pool) {
	for inst := range p.all {
		inst.retired = true
	}
	for _, inst := range p.idle {
		delete(p.all, inst)
		r.stopLaterLocked(inst)
	}
	p.idle = nil
}

// stopLaterLocked stops inst in the background (stopping waits for the
// process), counted so that close waits for it.
func (r *runner) stopLaterLocked(inst *instance) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		inst.stop()
	}()
}

// retire makes a function's instances go (its code or configuration
// changed).
func (r *runner) retire(account, region, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pools[poolKey(account, region, name)]; p != nil {
		r.retireLocked(p)
	}
}

// remove stops every instance of a deleted function, busy ones included:
// their invocations end with an error.
func (r *runner) remove(account, region, name string) {
	key := poolKey(account, region, name)
	r.mu.Lock()
	p := r.pools[key]
	var all []*instance
	if p != nil {
		for inst := range p.all {
			inst.retired = true
			all = append(all, inst)
		}
		p.idle = nil
		p.all = map[*instance]bool{}
		if p.busy == 0 {
			delete(r.pools, key)
		}
	}
	r.mu.Unlock()
	for _, inst := range all {
		inst.stop()
	}
}

// instanceCount is how many instances a function has, for tests.
func (r *runner) instanceCount(account, region, name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pools[poolKey(account, region, name)]; p != nil {
		return len(p.all)
	}
	return 0
}

// invokeOn runs inv on inst and releases it. When inst's runtime exited
// before taking the invocation, a fresh instance takes it, once: Lambda
// starts a new runtime after one exits.
func (r *runner) invokeOn(ctx context.Context, f *function, code func() ([]byte, error), inst *instance, inv *invocation, wait bool) result {
	res := inst.invoke(ctx, inv, f)
	r.release(f, inst)
	if !res.undelivered {
		return res
	}
	fresh, err := r.acquire(ctx, f, code, wait)
	if err != nil {
		return res
	}
	res = fresh.invoke(ctx, inv, f)
	r.release(f, fresh)
	return res
}

// close stops every instance and waits for the runner's goroutines.
func (r *runner) close() error {
	r.mu.Lock()
	r.closed = true
	var all []*instance
	for _, p := range r.pools {
		for inst := range p.all {
			all = append(all, inst)
		}
		p.idle = nil
	}
	r.mu.Unlock()
	for _, inst := range all {
		inst.stop()
	}
	r.wg.Wait()
	r.endpoint.close()
	r.mem.close()
	return nil
}

// start starts an instance of f: its code unpacked into a directory of
// its own, its process and its Runtime API listener.
func (r *runner) start(f *function, code func() ([]byte, error)) (*instance, error) {
	zip, err := code()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(r.opts.TempDir, "millrace-lambda-")
	if err != nil {
		return nil, fmt.Errorf("lambda: creating the code directory: %w", err)
	}
	if err := unpack(zip, dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lambda: unpacking the code of %s: %w", f.Name, err)
	}
	id := r.sandbox.instanceID()
	if err := r.sandbox.own(dir, id); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	inst, err := startInstance(r, f, dir, id)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return inst, nil
}

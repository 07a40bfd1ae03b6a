package background

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Leases make every unit of a Runner (except those started with GoLocal)
// run on exactly one node of a cluster: before it runs, a unit takes a
// lease on its name in the catalog (a compare-and-set create, or a take-
// over of a lease whose holder let it expire), renews it every TTL/3, and
// is cancelled when it cannot renew it, before the lease expires. Another
// node's unit of the same name waits, trying every TTL/3, and takes over
// within about TTL of the holder's death, resuming from the progress the
// unit keeps in storage.
//
// Expiry compares the holder's deadline with the taker's clock: the nodes'
// clocks must agree to well within TTL/3 (NTP does).
type Leases struct {
	// Catalog holds the leases, under Prefix + unit name.
	Catalog storage.Catalog
	// Node names this node in the leases it holds.
	Node string
	// TTL is how long a lease lasts without renewal; default 10 s.
	TTL time.Duration
	// Prefix starts every lease's key; default "background/lease/".
	Prefix string
	// now is the clock, for tests.
	now func() time.Time
}

type leaseValue struct {
	Node    string `json:"node"`
	Expires int64  `json:"expires"` // ms since the epoch
}

func (l *Leases) ensureDefaults() {
	if l.TTL <= 0 {
		l.TTL = 10 * time.Second
	}
	if l.Prefix == "" {
		l.Prefix = "background/lease/"
	}
	if l.now == nil {
		l.now = time.Now
	}
}

// SetLeases makes the units started after it take a lease first (see
// Leases). Call it before the first Go; a Runner without leases runs every
// unit at once, as a single node does.
func (r *Runner) SetLeases(l *Leases) {
	l.ensureDefaults()
	r.mu.Lock()
	r.leases = l
	r.mu.Unlock()
}

// lease is one held lease.
type lease struct {
	l   *Leases
	key string
	rev uint64
}

// acquire waits until this node holds the lease on name, or ctx is done.
func (l *Leases) acquire(ctx context.Context, name string) (*lease, error) {
	key := l.Prefix + name
	for {
		le, err := l.try(ctx, key)
		if le != nil || ctx.Err() != nil {
			return le, ctx.Err()
		}
		_ = err // the catalog unreachable or the lease taken: try again
		t := time.NewTimer(l.TTL / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// try takes the lease if it is free or expired.
func (l *Leases) try(ctx context.Context, key string) (*lease, error) {
	val, rev, err := l.Catalog.Get(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		rev = 0
	case err != nil:
		return nil, err
	default:
		var cur leaseValue
		if json.Unmarshal(val, &cur) == nil && cur.Expires > l.now().UnixMilli() && cur.Node != l.Node {
			return nil, nil // held
		}
	}
	le := &lease{l: l, key: key, rev: rev}
	if err := le.renew(ctx); err != nil {
		return nil, err
	}
	return le, nil
}

// renew extends the lease by TTL with compare-and-set on its revision.
func (le *lease) renew(ctx context.Context) error {
	v, _ := json.Marshal(leaseValue{Node: le.l.Node, Expires: le.l.now().Add(le.l.TTL).UnixMilli()})
	ctx, cancel := context.WithTimeout(ctx, le.l.TTL/3)
	defer cancel()
	rev, err := le.l.Catalog.Put(ctx, le.key, v, le.rev)
	if err != nil {
		return err
	}
	le.rev = rev
	return nil
}

// hold renews the lease until ctx is done, and calls lost when it could
// not renew it in time (the unit must stop before another node's starts).
func (le *lease) hold(ctx context.Context, lost func()) {
	deadline := le.l.now().Add(le.l.TTL)
	t := time.NewTicker(le.l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := le.renew(ctx)
		switch {
		case err == nil:
			deadline = le.l.now().Add(le.l.TTL)
		case errors.Is(err, storage.ErrConflict) || le.l.now().After(deadline.Add(-le.l.TTL/3)):
			// Taken over, or about to expire unrenewed.
			lost()
			return
		}
	}
}

// release gives the lease up, so another node may take it at once.
func (le *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), le.l.TTL/3)
	defer cancel()
	_ = le.l.Catalog.Delete(ctx, le.key, le.rev)
}

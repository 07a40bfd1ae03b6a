package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/millrace/millrace/internal/storage"
)

// Catalog revisions come from one counter for the whole catalog, stored
// beside the entries and bumped in the same batch as each Put and Delete. A
// key that is deleted and created again therefore never gets back a
// revision it had before, so a writer holding a stale revision cannot win
// against the new incarnation.
//
// A write checks its expected revision and applies its batch under
// catalogMu, then waits for the WAL sync after releasing it, so that
// concurrent writers (shard checkpoints, lease renewals) share fsyncs
// instead of queueing behind one another's. A write is visible to readers
// from the moment it is applied, before it is durable; catalogSync tracks
// which revisions are durable, and a read that would let its caller see a
// write a crash could still take away waits for that write's sync first.

// catalogSync tracks which catalog revisions are durable.
type catalogSync struct {
	// assigned is the highest revision given to a write that is applied or
	// about to be; it is raised before the batch is applied, so a reader
	// that loads it after reading has seen every write its read could see.
	assigned atomic.Uint64
	// durable is a revision up to which every write is synced: every
	// revision at or below it is durable or was never used.
	durable atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]struct{} // revisions applied or being applied, not yet synced
	changed chan struct{}       // closed and replaced when durable rises or a write fails
}

// begin registers rev as applied but not durable. Requires catalogMu.
func (c *catalogSync) begin(rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = make(map[uint64]struct{})
	}
	c.pending[rev] = struct{}{}
	c.assigned.Store(rev)
}

// synced marks rev durable and raises durable as far as no earlier write is
// still waiting for its sync.
func (c *catalogSync) synced(rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, rev)
	d := c.assigned.Load()
	for r := range c.pending {
		d = min(d, r-1)
	}
	if d > c.durable.Load() {
		c.durable.Store(d)
	}
	c.notifyLocked()
}

// notify wakes every reader waiting for durable to rise.
func (c *catalogSync) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notifyLocked()
}

func (c *catalogSync) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// waitChan returns a channel closed at the next change, or nil if rev is
// already durable.
func (c *catalogSync) waitChan(rev uint64) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.durable.Load() >= rev {
		return nil
	}
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// catalogWaitHook, when set (by tests), is called when a read or write
// starts waiting for a sync.
var catalogWaitHook func()

// waitDurable returns once every catalog write up to rev is durable, or
// with the engine's failure if a sync failed, or with ctx's error if ctx is
// done first.
func (e *Engine) waitDurable(ctx context.Context, rev uint64) error {
	c := &e.catSync
	if c.durable.Load() >= rev {
		return nil
	}
	if catalogWaitHook != nil {
		catalogWaitHook()
	}
	for {
		ch := c.waitChan(rev)
		if ch == nil {
			return nil
		}
		if err := e.failure(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func catalogKey(key string) []byte {
	b := make([]byte, 1+len(key))
	b[0] = prefixCatalog
	copy(b[1:], key)
	return b
}

var catalogRevKey = []byte{prefixCatalogRev}

// Get returns a copy of the value stored at key and its revision.
func (e *Engine) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	v, rev, err := e.catalogGet(key)
	switch {
	case err == nil:
		// An entry above assigned was written before this process opened
		// the database.
		err = e.waitDurable(ctx, min(rev, e.catSync.assigned.Load()))
	case errors.Is(err, storage.ErrNotFound):
		// The key may be missing because of a Delete not yet synced.
		if werr := e.waitDurable(ctx, e.catSync.assigned.Load()); werr != nil {
			err = werr
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return v, rev, nil
}

func (e *Engine) catalogGet(key string) ([]byte, uint64, error) {
	v, closer, err := e.db.Get(catalogKey(key))
	if errors.Is(err, pdb.ErrNotFound) {
		return nil, 0, storage.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("pebble: catalog get: %w", err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return nil, 0, fmt.Errorf("%w: catalog key %q", errCorrupt, key)
	}
	return append([]byte{}, v[8:]...), binary.BigEndian.Uint64(v), nil
}

// currentRev returns the key's revision, 0 if it does not exist.
func (e *Engine) currentRev(key string) (uint64, error) {
	_, rev, err := e.catalogGet(key)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	return rev, err
}

// lastRev returns the catalog's last revision, reading it once.
// Requires catalogMu.
func (e *Engine) lastRev() (uint64, error) {
	if e.revLoaded {
		return e.catalogRev, nil
	}
	v, closer, err := e.db.Get(catalogRevKey)
	switch {
	case errors.Is(err, pdb.ErrNotFound):
		e.catalogRev = 0
	case err != nil:
		return 0, fmt.Errorf("pebble: catalog revision: %w", err)
	default:
		defer closer.Close()
		if len(v) != 8 {
			return 0, fmt.Errorf("%w: catalog revision", errCorrupt)
		}
		e.catalogRev = binary.BigEndian.Uint64(v)
	}
	// What the database held when it was opened counts as durable.
	e.catSync.durable.Store(e.catalogRev)
	e.revLoaded = true
	return e.catalogRev, nil
}

// Put stores value at key if the key's revision is expectRev, fsync'd
// before it returns.
func (e *Engine) Put(ctx context.Context, key string, value []byte, expectRev uint64) (uint64, error) {
	return e.catalogWrite(ctx, key, value, false, expectRev)
}

// Delete removes key if its revision is expectRev, fsync'd before it
// returns.
func (e *Engine) Delete(ctx context.Context, key string, expectRev uint64) error {
	_, err := e.catalogWrite(ctx, key, nil, true, expectRev)
	return err
}

// catalogSyncHook, when set (by tests), is called by a catalog write after
// its batch is applied and catalogMu released, before it waits for the
// sync.
var catalogSyncHook func(rev uint64)

// catalogWrite is Put, or Delete when del is set.
func (e *Engine) catalogWrite(ctx context.Context, key string, value []byte, del bool, expectRev uint64) (uint64, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := e.failure(); err != nil {
		return 0, err
	}
	b, rev, seen, err := e.catalogApply(key, value, del, expectRev)
	if err != nil {
		if seen > 0 {
			// The conflict may come from a write not yet synced: the
			// caller must not learn of it before it is durable.
			if werr := e.waitDurable(ctx, seen); werr != nil {
				return 0, werr
			}
		}
		return 0, err
	}
	if catalogSyncHook != nil {
		catalogSyncHook(rev)
	}
	err = b.SyncWait()
	b.Close()
	if err != nil {
		err = e.fail(err)
		e.catSync.notify()
		return 0, err
	}
	e.catSync.synced(rev)
	// This write was checked against earlier ones: return once they are
	// durable too (they nearly always are, being earlier in the same WAL).
	if err := e.waitDurable(context.WithoutCancel(ctx), rev); err != nil {
		return 0, err
	}
	return rev, nil
}

// catalogApply checks key's revision and applies the write without waiting
// for its WAL sync, under catalogMu. On success the caller must SyncWait
// and Close the returned batch. On a conflict (or a Delete of a missing
// key) it returns the highest revision the check may have seen.
func (e *Engine) catalogApply(key string, value []byte, del bool, expectRev uint64) (b *pdb.Batch, rev, seen uint64, err error) {
	e.catalogMu.Lock()
	defer e.catalogMu.Unlock()
	cur, err := e.currentRev(key)
	if err != nil {
		return nil, 0, 0, err
	}
	if del && cur == 0 {
		return nil, 0, e.catSync.assigned.Load(), storage.ErrNotFound
	}
	if cur != expectRev {
		return nil, 0, e.catSync.assigned.Load(), storage.ErrConflict
	}
	last, err := e.lastRev()
	if err != nil {
		return nil, 0, 0, err
	}
	rev = last + 1
	op := "put"
	if del {
		op = "delete"
	}
	var rv [8]byte
	binary.BigEndian.PutUint64(rv[:], rev)
	b = e.db.NewBatch()
	if del {
		err = b.Delete(catalogKey(key), nil)
	} else {
		v := make([]byte, 8+len(value))
		binary.BigEndian.PutUint64(v, rev)
		copy(v[8:], value)
		err = b.Set(catalogKey(key), v, nil)
	}
	if err == nil {
		err = b.Set(catalogRevKey, rv[:], nil)
	}
	if err != nil {
		b.Close()
		return nil, 0, 0, fmt.Errorf("pebble: catalog %s: %w", op, err)
	}
	e.catSync.begin(rev)
	if err := e.db.ApplyNoSyncWait(b, syncWrite); err != nil {
		b.Close()
		// The write may be visible yet never become durable: stop the
		// engine rather than let readers wait for it or see it.
		err = e.fail(fmt.Errorf("catalog %s: %w", op, err))
		e.catSync.notify()
		return nil, 0, 0, err
	}
	e.catalogRev = rev
	return b, rev, 0, nil
}

// List returns copies of every entry under prefix, in key order.
func (e *Engine) List(ctx context.Context, prefix string) ([]storage.KV, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	lower := catalogKey(prefix)
	it, err := e.db.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, fmt.Errorf("pebble: catalog list: %w", err)
	}
	defer it.Close()
	var out []storage.KV
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("pebble: catalog list: %w", err)
		}
		if len(v) < 8 {
			return nil, fmt.Errorf("%w: catalog key %q", errCorrupt, it.Key()[1:])
		}
		out = append(out, storage.KV{
			Key:   string(it.Key()[1:]),
			Value: append([]byte{}, v[8:]...),
			Rev:   binary.BigEndian.Uint64(v),
		})
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: catalog list: %w", err)
	}
	// Any write not yet synced may have shaped what the scan saw.
	if err := e.waitDurable(ctx, e.catSync.assigned.Load()); err != nil {
		return nil, err
	}
	return out, nil
}

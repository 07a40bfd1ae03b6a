package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/millrace/millrace/internal/storage"
)

// Catalog revisions come from one counter for the whole catalog, stored
// beside the entries and bumped in the same batch as each Put. A key that is
// deleted and created again therefore never gets back a revision it had
// before, so a writer holding a stale revision cannot win against the new
// incarnation.

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
	return e.catalogGet(key)
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
	e.revLoaded = true
	return e.catalogRev, nil
}

// Put stores value at key if the key's revision is expectRev, fsync'd
// before it returns.
func (e *Engine) Put(ctx context.Context, key string, value []byte, expectRev uint64) (uint64, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := e.failure(); err != nil {
		return 0, err
	}
	e.catalogMu.Lock()
	defer e.catalogMu.Unlock()
	cur, err := e.currentRev(key)
	if err != nil {
		return 0, err
	}
	if cur != expectRev {
		return 0, storage.ErrConflict
	}
	last, err := e.lastRev()
	if err != nil {
		return 0, err
	}
	rev := last + 1
	v := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(v, rev)
	copy(v[8:], value)
	var rv [8]byte
	binary.BigEndian.PutUint64(rv[:], rev)
	b := e.db.NewBatch()
	defer b.Close()
	if err := b.Set(catalogKey(key), v, nil); err != nil {
		return 0, fmt.Errorf("pebble: catalog put: %w", err)
	}
	if err := b.Set(catalogRevKey, rv[:], nil); err != nil {
		return 0, fmt.Errorf("pebble: catalog put: %w", err)
	}
	if err := e.db.Apply(b, syncWrite); err != nil {
		return 0, fmt.Errorf("pebble: catalog put: %w", err)
	}
	e.catalogRev = rev
	return rev, nil
}

// Delete removes key if its revision is expectRev, fsync'd before it
// returns.
func (e *Engine) Delete(ctx context.Context, key string, expectRev uint64) error {
	done, err := e.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := e.failure(); err != nil {
		return err
	}
	e.catalogMu.Lock()
	defer e.catalogMu.Unlock()
	cur, err := e.currentRev(key)
	if err != nil {
		return err
	}
	if cur == 0 {
		return storage.ErrNotFound
	}
	if cur != expectRev {
		return storage.ErrConflict
	}
	if err := e.db.Delete(catalogKey(key), syncWrite); err != nil {
		return fmt.Errorf("pebble: catalog delete: %w", err)
	}
	return nil
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
	return out, nil
}

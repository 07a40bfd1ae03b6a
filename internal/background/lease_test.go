package background_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

func catalog(t *testing.T) storage.Catalog {
	t.Helper()
	e, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// cutOff is a catalog whose writes fail once cut: a node that lost the
// catalog (or died without giving its leases up).
type cutOff struct {
	storage.Catalog
	cut atomic.Bool
}

func (c *cutOff) Put(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if c.cut.Load() {
		return 0, errors.New("unreachable")
	}
	return c.Catalog.Put(ctx, key, value, rev)
}

// tally counts how many copies of a unit run at once, and where.
type tally struct {
	mu      sync.Mutex
	running map[string]bool
	most    int
	started chan string
}

func (ta *tally) unit(node string) func(ctx context.Context) {
	return func(ctx context.Context) {
		ta.mu.Lock()
		ta.running[node] = true
		ta.most = max(ta.most, len(ta.running))
		ta.mu.Unlock()
		ta.started <- node
		<-ctx.Done()
		ta.mu.Lock()
		delete(ta.running, node)
		ta.mu.Unlock()
	}
}

func waitStart(t *testing.T, ta *tally, want string) {
	t.Helper()
	select {
	case got := <-ta.started:
		if got != want {
			t.Fatalf("the unit started on %s, want %s", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the unit did not start on %s", want)
	}
}

func TestLeasedUnitRunsOnOneNodeAndMoves(t *testing.T) {
	cat := catalog(t)
	ta := &tally{running: map[string]bool{}, started: make(chan string, 4)}
	a, b := background.New(nil), background.New(nil)
	defer a.Stop()
	defer b.Stop()
	cutA := &cutOff{Catalog: cat}
	a.SetLeases(&background.Leases{Catalog: cutA, Node: "a", TTL: 300 * time.Millisecond})
	b.SetLeases(&background.Leases{Catalog: cat, Node: "b", TTL: 300 * time.Millisecond})

	a.Go("delivery", ta.unit("a"))
	waitStart(t, ta, "a")
	b.Go("delivery", ta.unit("b"))
	// b waits while a renews its lease.
	select {
	case n := <-ta.started:
		t.Fatalf("the unit started on %s while a held its lease", n)
	case <-time.After(time.Second):
	}
	// a loses the catalog: its unit stops before its lease expires, and b
	// takes the lease over.
	cutA.cut.Store(true)
	waitStart(t, ta, "b")
	// a stopping gives nothing up (its lease is gone); b stopping gives its
	// lease up at once, and a takes it once its catalog is back.
	cutA.cut.Store(false)
	b.Stop()
	waitStart(t, ta, "a")
	if ta.most != 1 {
		t.Fatalf("%d copies of the unit ran at once", ta.most)
	}
}

func TestGoLocalTakesNoLease(t *testing.T) {
	cat := catalog(t)
	ta := &tally{running: map[string]bool{}, started: make(chan string, 4)}
	a, b := background.New(nil), background.New(nil)
	defer a.Stop()
	defer b.Stop()
	a.SetLeases(&background.Leases{Catalog: cat, Node: "a"})
	b.SetLeases(&background.Leases{Catalog: cat, Node: "b"})
	a.GoLocal("aggregator", ta.unit("a"))
	waitStart(t, ta, "a")
	b.GoLocal("aggregator", ta.unit("b"))
	waitStart(t, ta, "b")
	if kvs, err := cat.List(context.Background(), ""); err != nil || len(kvs) != 0 {
		t.Fatalf("local units wrote %d catalog entries (%v)", len(kvs), err)
	}
}

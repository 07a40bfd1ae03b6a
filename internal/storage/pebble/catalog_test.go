package pebble

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

func openTest(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A write is visible once applied, before its WAL sync: Get and List must
// not return it until the sync is done.
func TestCatalogReadWaitsForSync(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	r1, err := e.Put(ctx, "cp/a", []byte("v1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Put(ctx, "cp/b", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}

	applied := make(chan uint64, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	// On failure too, or Close would wait for the held Put forever.
	defer releaseOnce.Do(func() { close(release) })
	waiting := make(chan struct{}, 100)
	catalogSyncHook = func(rev uint64) {
		applied <- rev
		<-release
	}
	catalogWaitHook = func() { waiting <- struct{}{} }
	defer func() { catalogSyncHook, catalogWaitHook = nil, nil }()

	type putResult struct {
		rev uint64
		err error
	}
	put := make(chan putResult, 1)
	go func() {
		rev, err := e.Put(ctx, "cp/a", []byte("v2"), r1)
		put <- putResult{rev, err}
	}()
	r2 := <-applied
	catalogSyncHook = nil

	type getResult struct {
		v   string
		rev uint64
		err error
	}
	get := make(chan getResult, 1)
	go func() {
		v, rev, err := e.Get(ctx, "cp/a")
		get <- getResult{string(v), rev, err}
	}()
	list := make(chan []storage.KV, 1)
	go func() {
		kvs, err := e.List(ctx, "cp/")
		if err != nil {
			t.Error(err)
		}
		list <- kvs
	}()
	// Both readers see the applied write and must wait for it.
	for range 2 {
		select {
		case <-waiting:
		case g := <-get:
			t.Fatalf("Get returned %+v while revision %d was not yet synced", g, r2)
		case l := <-list:
			t.Fatalf("List returned %+v while revision %d was not yet synced", l, r2)
		case p := <-put:
			t.Fatalf("Put returned %+v before its sync", p)
		}
	}
	releaseOnce.Do(func() { close(release) })
	if p := <-put; p.err != nil || p.rev != r2 {
		t.Fatalf("Put: %d, %v; want %d", p.rev, p.err, r2)
	}
	if g := <-get; g.err != nil || g.v != "v2" || g.rev != r2 {
		t.Fatalf("Get: %+v, want v2 at %d", g, r2)
	}
	l := <-list
	if len(l) != 2 || string(l[0].Value) != "v2" || l[0].Rev != r2 {
		t.Fatalf("List: %+v", l)
	}
}

// A Put that loses to a write not yet synced must not report the conflict
// before that write is durable, nor a Delete report the key missing.
func TestCatalogConflictWaitsForSync(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	r1, err := e.Put(ctx, "lease", []byte("a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	applied := make(chan uint64, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	// On failure too, or Close would wait for the held Put forever.
	defer releaseOnce.Do(func() { close(release) })
	waiting := make(chan struct{}, 100)
	catalogSyncHook = func(rev uint64) {
		applied <- rev
		<-release
	}
	catalogWaitHook = func() { waiting <- struct{}{} }
	defer func() { catalogSyncHook, catalogWaitHook = nil, nil }()

	del := make(chan error, 1)
	go func() { del <- e.Delete(ctx, "lease", r1) }()
	<-applied
	catalogSyncHook = nil

	lost := make(chan error, 2)
	go func() {
		_, err := e.Put(ctx, "lease", []byte("b"), r1)
		lost <- err
	}()
	go func() { lost <- e.Delete(ctx, "lease", r1) }()
	for range 2 {
		select {
		case <-waiting:
		case err := <-lost:
			t.Fatalf("losing write returned %v before the winner's sync", err)
		}
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-del; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-lost; !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("losing write: %v, want ErrConflict or ErrNotFound", err)
		}
	}
}

// Racers Put the same key with the same expected revision, round after
// round: exactly one wins each round, with a revision above every earlier
// one, and Get returns the winner's value.
func TestCatalogConcurrentSameKey(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	const racers, rounds = 16, 40
	expect := uint64(0)
	for round := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		type win struct {
			racer int
			rev   uint64
		}
		var mu sync.Mutex
		var wins []win
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rev, err := e.Put(ctx, "lease", []byte(fmt.Sprint(round, i)), expect)
				switch {
				case err == nil:
					mu.Lock()
					wins = append(wins, win{i, rev})
					mu.Unlock()
				case !errors.Is(err, storage.ErrConflict):
					t.Errorf("round %d racer %d: %v", round, i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("round %d: %d Puts with expected revision %d succeeded: %+v", round, len(wins), expect, wins)
		}
		if wins[0].rev <= expect {
			t.Fatalf("round %d: winner got revision %d, not above %d", round, wins[0].rev, expect)
		}
		v, rev, err := e.Get(ctx, "lease")
		if err != nil || rev != wins[0].rev || string(v) != fmt.Sprint(round, wins[0].racer) {
			t.Fatalf("round %d: Get: %q %d %v, want the winner's %q at %d", round, v, rev, err, fmt.Sprint(round, wins[0].racer), wins[0].rev)
		}
		expect = rev
	}
}

// Writers Put keys of their own concurrently: revisions are unique across
// the catalog and increase for each key, and after a reopen every key holds
// its last acknowledged value and new revisions stay above the old ones.
func TestCatalogConcurrentDistinctKeys(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	ctx := context.Background()
	const writers, puts = 8, 30
	revs := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "cp/" + strconv.Itoa(w)
			var rev uint64
			for n := range puts {
				r, err := e.Put(ctx, key, []byte(strconv.Itoa(n)), rev)
				if err != nil {
					t.Errorf("writer %d Put %d: %v", w, n, err)
					return
				}
				if r <= rev {
					t.Errorf("writer %d Put %d: revision %d not above %d", w, n, r, rev)
				}
				rev = r
				revs[w] = append(revs[w], r)
			}
			if n := len(revs[w]); w%2 == 0 && n > 0 {
				// Delete and re-create half the keys.
				if err := e.Delete(ctx, key, rev); err != nil {
					t.Errorf("writer %d Delete: %v", w, err)
					return
				}
				r, err := e.Put(ctx, key, []byte(strconv.Itoa(puts)), 0)
				if err != nil || r <= rev {
					t.Errorf("writer %d re-create: %d, %v; want a revision above %d", w, r, err, rev)
					return
				}
				revs[w] = append(revs[w], r)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var all []uint64
	for _, rs := range revs {
		all = append(all, rs...)
	}
	slices.Sort(all)
	if len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Fatalf("a revision was handed out twice: %v", all)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openTest(t, dir)
	defer e.Close()
	for w := range writers {
		key := "cp/" + strconv.Itoa(w)
		want := strconv.Itoa(puts - 1)
		if w%2 == 0 {
			want = strconv.Itoa(puts)
		}
		v, rev, err := e.Get(ctx, key)
		if err != nil || string(v) != want || rev != revs[w][len(revs[w])-1] {
			t.Fatalf("%s after reopen: %q %d %v, want %q at %d", key, v, rev, err, want, revs[w][len(revs[w])-1])
		}
	}
	r, err := e.Put(ctx, "cp/new", nil, 0)
	if err != nil || r <= all[len(all)-1] {
		t.Fatalf("Put after reopen: %d, %v; want a revision above %d", r, err, all[len(all)-1])
	}
}

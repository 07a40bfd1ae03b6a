package storagetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

func (s *suite) testCatalogCAS(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	if _, _, err := e.Get(ctx, "streams/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := e.Put(ctx, "streams/a", []byte("v1"), 5); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Put of a missing key with revision 5: %v, want ErrConflict", err)
	}
	in := []byte("v1")
	r1, err := e.Put(ctx, "streams/a", in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r1 == 0 {
		t.Fatal("Put returned revision 0")
	}
	in[0] = 'X' // the engine must have copied the value
	if _, err := e.Put(ctx, "streams/a", []byte("again"), 0); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	v, rev, err := e.Get(ctx, "streams/a")
	if err != nil || string(v) != "v1" || rev != r1 {
		t.Fatalf("Get = %q, %d, %v; want v1, %d", v, rev, err, r1)
	}
	v[0] = 'Y' // returned values belong to the caller
	r2, err := e.Put(ctx, "streams/a", []byte("v2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	if r2 <= r1 {
		t.Fatalf("update got revision %d, not above %d", r2, r1)
	}
	if _, err := e.Put(ctx, "streams/a", []byte("stale"), r1); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Put with a stale revision: %v, want ErrConflict", err)
	}
	if err := e.Delete(ctx, "streams/a", r1); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Delete with a stale revision: %v, want ErrConflict", err)
	}
	if v, rev, _ := e.Get(ctx, "streams/a"); string(v) != "v2" || rev != r2 {
		t.Fatalf("after failed writes: %q, %d; want v2, %d", v, rev, r2)
	}
	if err := e.Delete(ctx, "streams/missing", 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete of a missing key: %v, want ErrNotFound", err)
	}
	if err := e.Delete(ctx, "streams/a", r2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Get(ctx, "streams/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := e.Put(ctx, "streams/a", []byte("v3"), r2); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Put of a deleted key with its old revision: %v, want ErrConflict", err)
	}
	if _, err := e.Put(ctx, "streams/a", []byte("v3"), 0); err != nil {
		t.Fatalf("re-create after Delete: %v", err)
	}
	// Empty values are values.
	if _, err := e.Put(ctx, "empty", nil, 0); err != nil {
		t.Fatal(err)
	}
	if v, _, err := e.Get(ctx, "empty"); err != nil || len(v) != 0 {
		t.Fatalf("Get of an empty value: %q, %v", v, err)
	}
}

// testCatalogRace has writers race on one key: each round exactly one wins.
func (s *suite) testCatalogRace(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	const racers = 8
	// A racer loses with ErrConflict, or, when it tries to delete a key
	// another racer already deleted, with ErrNotFound.
	race := func(do func(i int) error, lost ...error) int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := do(i)
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case errors.Is(err, storage.ErrConflict):
				case len(lost) > 0 && errors.Is(err, lost[0]):
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		return wins
	}
	if wins := race(func(i int) error {
		_, err := e.Put(ctx, "lease", []byte(strconv.Itoa(i)), 0)
		return err
	}); wins != 1 {
		t.Fatalf("%d racers created the key, want exactly 1", wins)
	}
	for round := range 5 {
		_, rev, err := e.Get(ctx, "lease")
		if err != nil {
			t.Fatal(err)
		}
		if wins := race(func(i int) error {
			_, err := e.Put(ctx, "lease", []byte(strconv.Itoa(i)), rev)
			return err
		}); wins != 1 {
			t.Fatalf("round %d: %d racers updated revision %d, want exactly 1", round, wins, rev)
		}
	}
	_, rev, err := e.Get(ctx, "lease")
	if err != nil {
		t.Fatal(err)
	}
	if wins := race(func(int) error { return e.Delete(ctx, "lease", rev) }, storage.ErrNotFound); wins != 1 {
		t.Fatalf("%d racers deleted the key, want exactly 1", wins)
	}
}

func (s *suite) testCatalogList(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	keys := []string{"b", "a/2", "a", "a/10", "ab", "a/1", "z\xff", "z\xff\xff", "z\xff\x00", "\x00"}
	revs := map[string]uint64{}
	for _, k := range keys {
		rev, err := e.Put(ctx, k, []byte("v:"+k), 0)
		if err != nil {
			t.Fatal(err)
		}
		revs[k] = rev
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"\x00", "a", "a/1", "a/10", "a/2", "ab", "b", "z\xff", "z\xff\x00", "z\xff\xff"}},
		{"a", []string{"a", "a/1", "a/10", "a/2", "ab"}},
		{"a/", []string{"a/1", "a/10", "a/2"}},
		{"a/1", []string{"a/1", "a/10"}},
		{"z\xff", []string{"z\xff", "z\xff\x00", "z\xff\xff"}},
		{"z\xff\xff", []string{"z\xff\xff"}},
		{"c", nil},
	}
	for _, tt := range tests {
		got, err := e.List(ctx, tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("List(%q): %d entries, want %d: %+v", tt.prefix, len(got), len(tt.want), got)
		}
		for i, kv := range got {
			if kv.Key != tt.want[i] || string(kv.Value) != "v:"+kv.Key || kv.Rev != revs[kv.Key] {
				t.Fatalf("List(%q)[%d] = %q %q rev %d, want %q rev %d",
					tt.prefix, i, kv.Key, kv.Value, kv.Rev, tt.want[i], revs[tt.want[i]])
			}
		}
	}
}

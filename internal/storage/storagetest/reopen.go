package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

// testReopen closes an engine and opens it again on the same directory:
// records, bounds, trims and the catalog all survive, and numbering
// continues above every number handed out before.
func (s *suite) testReopen(t *testing.T) {
	if s.cfg.volatile {
		t.Skip("engine keeps nothing across Close")
	}
	ctx := context.Background()
	dir := t.TempDir()
	e := s.openAt(t, dir)
	trimmed := storage.ShardKey{Stream: 3, Shard: 2}
	mustAppend(t, e, shardA, 100, entries("a", 10, 50)...)
	mustAppend(t, e, shardA, 200, entries("b", 5, 2000)...)
	mustAppend(t, e, shardB, 150, entries("c", 3, 10)...)
	mustAppend(t, e, trimmed, 100, entries("d", 4, 10)...)
	if err := e.Trim(ctx, shardA, 150); err != nil {
		t.Fatal(err)
	}
	if err := e.Trim(ctx, trimmed, 1000); err != nil {
		t.Fatal(err)
	}
	rev, err := e.Put(ctx, "k", []byte("v"), 0)
	if err != nil {
		t.Fatal(err)
	}
	type shardView struct {
		bounds storage.Bounds
		recs   []storage.Record
	}
	view := func(e Engine) map[storage.ShardKey]shardView {
		m := map[storage.ShardKey]shardView{}
		for _, sk := range []storage.ShardKey{shardA, shardB, trimmed} {
			m[sk] = shardView{mustBounds(t, e, sk), readAll(t, e, sk)}
		}
		return m
	}
	before := view(e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = s.openAt(t, dir)
	after := view(e)
	for sk, b := range before {
		a := after[sk]
		if a.bounds.First != b.bounds.First || a.bounds.Next != b.bounds.Next {
			t.Fatalf("%v: bounds %+v before Close, %+v after", sk, b.bounds, a.bounds)
		}
		if len(a.recs) != len(b.recs) {
			t.Fatalf("%v: %d records before Close, %d after", sk, len(b.recs), len(a.recs))
		}
		for i := range a.recs {
			x, y := b.recs[i], a.recs[i]
			if x.Seq != y.Seq || x.Arrival != y.Arrival || string(x.PartitionKey) != string(y.PartitionKey) || string(x.Data) != string(y.Data) {
				t.Fatalf("%v record %d changed across reopen: seq %d -> %d", sk, i, x.Seq, y.Seq)
			}
		}
	}
	if n := len(after[shardA].recs); n != 5 {
		t.Fatalf("trimmed shard has %d records after reopen, want 5", n)
	}
	for sk, b := range before {
		r := mustAppend(t, e, sk, 50, entries("e", 1, 1)...)
		if r.FirstSeq < b.bounds.Next {
			t.Fatalf("%v: Append after reopen got seq %d, below %d", sk, r.FirstSeq, b.bounds.Next)
		}
		if b.bounds.LastArrival > 50 && r.Arrival < b.bounds.LastArrival {
			t.Fatalf("%v: Append after reopen got arrival %d, below the last arrival %d", sk, r.Arrival, b.bounds.LastArrival)
		}
	}
	if v, r, err := e.Get(ctx, "k"); err != nil || string(v) != "v" || r != rev {
		t.Fatalf("catalog after reopen: %q rev %d %v, want v rev %d", v, r, err, rev)
	}
	if _, err := e.Put(ctx, "k", []byte("w"), rev); err != nil {
		t.Fatalf("Put with the revision from before reopen: %v", err)
	}
	if _, err := e.Put(ctx, "k2", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Put(ctx, "k", nil, rev); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale Put after reopen: %v", err)
	}
}

package pebble_test

import (
	"context"
	"testing"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// TestImport checks that imported records keep their numbers and arrivals
// across a reopen, and that out-of-order imports are refused.
func TestImport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := pebble.Open(pebble.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sk := storage.ShardKey{Stream: 3, Shard: 1}
	recs := []storage.Record{
		{Seq: 70000, Arrival: 10, PartitionKey: []byte("a"), Data: []byte("1")},
		{Seq: 70001, Arrival: 10, PartitionKey: []byte("b"), Data: []byte("2")},
		{Seq: 140000, Arrival: 20, PartitionKey: []byte("c"), Data: []byte("3")},
	}
	if err := e.ImportRecords(ctx, sk, recs); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]storage.Record{
		{{Seq: 140000, Arrival: 30, PartitionKey: []byte("x")}}, // not above the last
		{{Seq: 150000, Arrival: 19, PartitionKey: []byte("x")}}, // arrival goes back
		{{Seq: 150002, Arrival: 30, PartitionKey: []byte("x")}, {Seq: 150001, Arrival: 30, PartitionKey: []byte("y")}},
	} {
		if err := e.ImportRecords(ctx, sk, bad); err == nil {
			t.Errorf("ImportRecords(%+v) succeeded", bad)
		}
	}
	if err := e.ImportBounds(ctx, sk, storage.Bounds{First: 70000, Next: 100, LastArrival: 20}); err == nil {
		t.Error("ImportBounds with Next below the records succeeded")
	}
	if err := e.ImportBounds(ctx, sk, storage.Bounds{First: 70000, Next: 200000, LastArrival: 25}); err != nil {
		t.Fatal(err)
	}
	want := storage.Bounds{First: 70000, Next: 200000, LastArrival: 25}
	check := func(e *pebble.Engine) {
		t.Helper()
		if b, err := e.Bounds(ctx, sk); err != nil || b != want {
			t.Errorf("Bounds %+v (%v), want %+v", b, err, want)
		}
		got, err := e.Read(ctx, sk, 0, 10, 1<<20)
		if err != nil || len(got) != 3 || got[2].Seq != 140000 || got[2].Arrival != 20 || string(got[1].Data) != "2" {
			t.Errorf("Read %+v (%v)", got, err)
		}
		if s, err := e.SeekTime(ctx, sk, 15); err != nil || s != 140000 {
			t.Errorf("SeekTime(15) = %d (%v), want 140000", s, err)
		}
	}
	check(e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = pebble.Open(pebble.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	check(e)
	res, err := e.Append(ctx, sk, 1, []storage.Entry{{PartitionKey: []byte("k")}})
	if err != nil || res.FirstSeq != 200000 || res.Arrival != 25 {
		t.Errorf("Append after the import: %+v (%v), want at 200000 arriving at 25", res, err)
	}
}

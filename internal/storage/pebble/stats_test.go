package pebble_test

import (
	"context"
	"testing"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

func TestEngineStats(t *testing.T) {
	e, err := pebble.Open(pebble.Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var r storage.StatsReporter = e
	before := r.EngineStats()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if _, err := e.Append(ctx, storage.ShardKey{Stream: 1}, 1, []storage.Entry{{PartitionKey: []byte("k"), Data: make([]byte, 1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	s := r.EngineStats()
	if s.DiskBytes == 0 {
		t.Error("DiskBytes is 0")
	}
	if s.WALBytesWritten < before.WALBytesWritten+20*1000 {
		t.Errorf("WALBytesWritten %d after 20 KB of appends (was %d)", s.WALBytesWritten, before.WALBytesWritten)
	}
	// Every durable append waits for a sync.
	if s.WALSync.Count < before.WALSync.Count+1 || s.WALSync.Sum <= 0 {
		t.Errorf("WAL syncs: %d (was %d), sum %v s", s.WALSync.Count, before.WALSync.Count, s.WALSync.Sum)
	}
	if len(s.WALSync.Bounds) == 0 || len(s.WALSync.Bounds) != len(s.WALSync.Counts) {
		t.Fatalf("WAL sync buckets %v %v", s.WALSync.Bounds, s.WALSync.Counts)
	}
	for i := 1; i < len(s.WALSync.Bounds); i++ {
		if s.WALSync.Bounds[i] <= s.WALSync.Bounds[i-1] || s.WALSync.Counts[i] < s.WALSync.Counts[i-1] {
			t.Fatalf("WAL sync buckets not ascending: %v %v", s.WALSync.Bounds, s.WALSync.Counts)
		}
	}
	if last := s.WALSync.Counts[len(s.WALSync.Counts)-1]; last > s.WALSync.Count {
		t.Errorf("cumulative count %d above the total %d", last, s.WALSync.Count)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.EngineStats(); got.DiskBytes != 0 || got.WALSync.Count != 0 {
		t.Errorf("stats of a closed engine: %+v", got)
	}
}

package streams

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// recordData is the data of the i-th record put by fillShards: its
// length and bytes tell it from every other record.
func recordData(i int) []byte {
	b := make([]byte, 500+i%1500)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

// fillShards puts n records, 500 per call, and returns the indexes of
// the records each shard holds, in order.
func fillShards(t *testing.T, e *env, name string, n int) map[string][]int {
	t.Helper()
	byShard := map[string][]int{}
	for start := 0; start < n; start += MaxPutRecordsEntries {
		var entries []PutEntry
		for i := start; i < min(n, start+MaxPutRecordsEntries); i++ {
			entries = append(entries, PutEntry{PartitionKey: fmt.Sprintf("key-%d", i), Data: recordData(i)})
		}
		res := put(t, e, name, entries...)
		for k, r := range res.Records {
			byShard[r.ShardID] = append(byShard[r.ShardID], start+k)
		}
	}
	return byShard
}

// readShardBuffered reads a shard from its start with GetRecordsBuffered
// until it has every record want lists, checking each record's partition
// key and data before releasing the call's memory.
func readShardBuffered(ctx context.Context, s *Streams, it string, limit int, want []int) error {
	next := 0
	for next < len(want) {
		res, release, err := s.GetRecordsBuffered(ctx, it, limit)
		if err != nil {
			return err
		}
		for _, r := range res.Records {
			if next >= len(want) {
				release()
				return fmt.Errorf("a record past the %d put", len(want))
			}
			i := want[next]
			if r.PartitionKey != fmt.Sprintf("key-%d", i) || !bytes.Equal(r.Data, recordData(i)) {
				release()
				return fmt.Errorf("record %d of the shard (put as %d) has key %q and %d bytes of data that differ", next, i, r.PartitionKey, len(r.Data))
			}
			next++
		}
		runtime.Gosched() // let other readers run while the memory is held
		it = res.NextShardIterator
		release()
	}
	return nil
}

func budgetEngines(t *testing.T) map[string]storage.Log {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return map[string]storage.Log{"pebble": eng, "memory": newMemLog()}
}

// TestGetRecordsBufferedBudget reads eight shards at once, two readers
// each, with a budget of two leases: never more than two are out, every
// record arrives whole and in order, and every lease comes back.
func TestGetRecordsBufferedBudget(t *testing.T) {
	for name, log := range budgetEngines(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) {
				o.Log = log
				if c, ok := log.(storage.Catalog); ok {
					o.Catalog = c
				}
				o.ReadBufferBudget = 2 * readLeaseBytes
			})
			e.s.readBufs.wait = time.Millisecond // overdrafts too, soon
			e.create("b", 8)
			byShard := fillShards(t, e, "b", 6000)
			if len(byShard) != 8 {
				t.Fatalf("records landed on %d shards, want 8", len(byShard))
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for shard, want := range byShard {
				for r, limit := range []int{0, 97} {
					it := iter(t, e, "b", shard, TrimHorizon, "")
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := readShardBuffered(ctx, e.s, it, limit, want); err != nil {
							errs <- fmt.Errorf("%s, reader %d: %w", shard, r, err)
						}
					}()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			b := e.s.readBufs
			if p := b.peak.Load(); p < 1 || p > 2 {
				t.Errorf("at most %d leases were out at once, want 1 or 2 (the budget)", p)
			}
			if n := b.out.Load(); n != 0 || len(b.slots) != 0 {
				t.Errorf("%d leases (%d slots) still out after every call released its own", n, len(b.slots))
			}
		})
	}
}

// TestGetRecordsBufferedOverdraft: with the budget taken, a call reads
// after the wait, without a lease and at most 1 MiB; once a lease is
// free, a call gets the full 10 MiB again.
func TestGetRecordsBufferedOverdraft(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	e := newEnv(t, func(o *Options) { o.Log, o.Catalog, o.ReadBufferBudget = eng, eng, 1 })
	e.s.readBufs.wait = time.Millisecond
	e.create("o", 1)
	want := fillShards(t, e, "o", 3000)["shardId-000000000000"] // about 3 MiB
	it := iter(t, e, "o", "shardId-000000000000", TrimHorizon, "")
	ctx := context.Background()

	held := e.s.readBufs.acquire(ctx) // the whole budget: one lease
	if held == nil {
		t.Fatal("no lease from an idle budget")
	}
	res, release, err := e.s.GetRecordsBuffered(ctx, it, 0)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for i, r := range res.Records {
		size += len(r.Data) + len(r.PartitionKey)
		if !bytes.Equal(r.Data, recordData(want[i])) {
			t.Fatalf("record %d differs", i)
		}
	}
	if len(res.Records) == 0 || size > overdraftBytes || len(res.Records) == len(want) {
		t.Errorf("without a lease: %d records, %d bytes; want some, at most %d bytes", len(res.Records), size, overdraftBytes)
	}
	if got := e.s.readBufs.overdrafts.Load(); got != 1 {
		t.Errorf("%d overdrafts counted, want 1", got)
	}
	release()
	e.s.readBufs.release(held)

	res, release, err = e.s.GetRecordsBuffered(ctx, it, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != len(want) {
		t.Errorf("with a lease free: %d records, want all %d", len(res.Records), len(want))
	}
	release()
	if e.s.readBufs.out.Load() != 0 {
		t.Error("a lease is still out")
	}
}

// TestReadLeaseGrowsToWhatReadsNeed: a new lease's record buffer is small;
// a read that needs more gets every record all the same (the rest in
// memory of the engine's own), and the lease comes back with a buffer that
// holds such a read, reused by the next call instead of a new lease.
func TestReadLeaseGrowsToWhatReadsNeed(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	e := newEnv(t, func(o *Options) { o.Log, o.Catalog, o.ReadBufferBudget = eng, eng, 1 })
	e.create("g", 1)
	want := fillShards(t, e, "g", 3000)["shardId-000000000000"] // about 3 MiB
	ctx := context.Background()
	for round := range 2 {
		it := iter(t, e, "g", "shardId-000000000000", TrimHorizon, "")
		if err := readShardBuffered(ctx, e.s, it, 0, want); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		l := <-e.s.readBufs.free
		if cap(l.buf) < 3<<20 || cap(l.buf) > maxGetRecordsBytes {
			t.Errorf("round %d: the lease's buffer holds %d bytes after a read of about 3 MiB", round, cap(l.buf))
		}
		e.s.readBufs.free <- l
		if n := len(e.s.readBufs.free); n != 1 {
			t.Errorf("round %d: %d free leases, want the one made", round, n)
		}
	}
}

package storagetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

var shardC = storage.ShardKey{Stream: 2, Shard: 7}

// testAppendMany checks AppendMany against Append: each part numbered after
// what the shard already holds, arrivals raised per shard, every part
// readable, and refused calls writing nothing.
func (s *suite) testAppendMany(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	r0 := mustAppend(t, e, shardA, 9000, entries("before", 2, 5)...)

	parts := []storage.ShardAppend{
		{Shard: shardB, Entries: entries("b", 3, 40)},
		{Shard: shardA, Entries: entries("a", 4, 30)},
		{Shard: shardC, Entries: entries("c", 1, 0)},
	}
	e.AppendMany(ctx, 8000, parts)
	for _, p := range parts {
		if p.Err != nil {
			t.Fatalf("AppendMany part %v: %v", p.Shard, p.Err)
		}
	}
	if a := parts[1].Result; a.FirstSeq < r0.FirstSeq+2 || a.Arrival != 9000 {
		t.Fatalf("part on shard A: seq %d arrival %d; want seq above %d and arrival raised to 9000",
			a.FirstSeq, a.Arrival, r0.FirstSeq+1)
	}
	for _, i := range []int{0, 2} {
		if r := parts[i].Result; r.FirstSeq < 1 || r.Arrival != 8000 {
			t.Fatalf("part on %v: seq %d arrival %d; want seq >= 1 and arrival 8000", parts[i].Shard, r.FirstSeq, r.Arrival)
		}
	}
	recsA := readAll(t, e, shardA)
	checkRecords(t, recsA[2:], parts[1].Result.FirstSeq, 9000, parts[1].Entries)
	checkRecords(t, readAll(t, e, shardB), parts[0].Result.FirstSeq, 8000, parts[0].Entries)
	checkRecords(t, readAll(t, e, shardC), parts[2].Result.FirstSeq, 8000, parts[2].Entries)

	// A later Append continues after the AppendMany part.
	r := mustAppend(t, e, shardB, 8001, entries("after", 1, 3)...)
	if r.FirstSeq < parts[0].Result.FirstSeq+3 {
		t.Fatalf("Append after AppendMany got seq %d, want above %d", r.FirstSeq, parts[0].Result.FirstSeq+2)
	}

	// Refused calls fail every part and write nothing.
	before := map[storage.ShardKey]int{}
	for _, sk := range []storage.ShardKey{shardA, shardB, shardC} {
		before[sk] = len(readAll(t, e, sk))
	}
	for name, bad := range map[string][]storage.ShardAppend{
		"same shard twice": {{Shard: shardA, Entries: entries("x", 1, 1)}, {Shard: shardB, Entries: entries("y", 1, 1)}, {Shard: shardA, Entries: entries("z", 1, 1)}},
		"empty part":       {{Shard: shardA, Entries: entries("x", 1, 1)}, {Shard: shardC}},
	} {
		e.AppendMany(ctx, 9100, bad)
		for _, p := range bad {
			if p.Err == nil {
				t.Fatalf("%s: part %v succeeded", name, p.Shard)
			}
		}
	}
	for sk, n := range before {
		if got := len(readAll(t, e, sk)); got != n {
			t.Fatalf("refused AppendMany calls changed %v: %d records, had %d", sk, got, n)
		}
	}
}

// testAppendManyConcurrent mixes Append and AppendMany calls over
// overlapping sets of shards from many goroutines (a lock-order mistake
// deadlocks here) and checks every acknowledged record is stored once, at
// its number.
func (s *suite) testAppendManyConcurrent(t *testing.T) {
	e := s.engine(t)
	shards := []storage.ShardKey{{Stream: 9, Shard: 0}, {Stream: 9, Shard: 1}, {Stream: 9, Shard: 2}, {Stream: 10, Shard: 0}}
	const writers, calls = 8, 40
	var mu sync.Mutex
	var acked []ack
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for n := range calls {
				perm := rng.Perm(len(shards))[:1+rng.IntN(len(shards))]
				parts := make([]storage.ShardAppend, len(perm))
				for p, i := range perm {
					es := make([]storage.Entry, 1+rng.IntN(30))
					for j := range es {
						es[j] = storage.Entry{PartitionKey: fmt.Appendf(nil, "w%d-c%d-p%d-e%d", w, n, p, j), Data: fmt.Appendf(nil, "%d/%d/%d/%d", w, n, p, j)}
					}
					parts[p] = storage.ShardAppend{Shard: shards[i], Entries: es}
				}
				if len(parts) == 1 && rng.IntN(2) == 0 {
					parts[0].Result, parts[0].Err = e.Append(context.Background(), parts[0].Shard, int64(2000+n), parts[0].Entries)
				} else {
					e.AppendMany(context.Background(), int64(2000+n), parts)
				}
				mu.Lock()
				for _, p := range parts {
					if p.Err != nil {
						t.Errorf("writer %d call %d on %v: %v", w, n, p.Shard, p.Err)
					}
					acked = append(acked, ack{writer: w, n: n, shard: p.Shard, res: p.Result, entries: p.Entries})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored := map[storage.ShardKey]map[uint64]storage.Record{}
	total := 0
	for _, sk := range shards {
		m := map[uint64]storage.Record{}
		for _, r := range readAll(t, e, sk) {
			m[r.Seq] = r
		}
		stored[sk] = m
		total += len(m)
	}
	want := 0
	for _, a := range acked {
		for i, en := range a.entries {
			r, ok := stored[a.shard][a.res.FirstSeq+uint64(i)]
			if !ok || string(r.PartitionKey) != string(en.PartitionKey) || string(r.Data) != string(en.Data) {
				t.Fatalf("writer %d call %d on %v entry %d: not stored at seq %d", a.writer, a.n, a.shard, i, a.res.FirstSeq+uint64(i))
			}
			want++
		}
	}
	if total != want {
		t.Fatalf("%d records stored, %d acknowledged", total, want)
	}
}

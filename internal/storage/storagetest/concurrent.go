package storagetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

type ack struct {
	writer, n int
	shard     storage.ShardKey
	res       storage.AppendResult
	entries   []storage.Entry
}

// testConcurrentAppends runs many writers against few shards and checks
// that every acknowledged record is stored exactly once, at the sequence
// number its Append returned, and that each writer's Appends to one shard
// are numbered in the order they were acknowledged.
func (s *suite) testConcurrentAppends(t *testing.T) {
	e := s.engine(t)
	const writers, appends = 12, 30
	shards := []storage.ShardKey{{Stream: 5, Shard: 0}, {Stream: 5, Shard: 1}, {Stream: 6, Shard: 0}}
	acks := make([][]ack, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := range appends {
				sk := shards[rng.IntN(len(shards))]
				es := make([]storage.Entry, 1+rng.IntN(20))
				for i := range es {
					es[i] = storage.Entry{
						PartitionKey: fmt.Appendf(nil, "w%d-a%d-e%d", w, n, i),
						Data:         make([]byte, rng.IntN(300)),
					}
					for j := range es[i].Data {
						es[i].Data[j] = byte(w*31 + n*7 + i + j)
					}
				}
				res, err := e.Append(context.Background(), sk, int64(1000+n), es)
				if err != nil {
					t.Errorf("writer %d Append %d: %v", w, n, err)
					return
				}
				acks[w] = append(acks[w], ack{writer: w, n: n, shard: sk, res: res, entries: es})
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	stored := map[storage.ShardKey]map[uint64]storage.Record{}
	for _, sk := range shards {
		m := map[uint64]storage.Record{}
		for _, r := range readAll(t, e, sk) {
			m[r.Seq] = r
		}
		stored[sk] = m
	}
	want := map[storage.ShardKey]int{}
	for w := range writers {
		last := map[storage.ShardKey]uint64{}
		for _, a := range acks[w] {
			if prev, ok := last[a.shard]; ok && a.res.FirstSeq <= prev {
				t.Fatalf("writer %d: Append %d to %v got seq %d, not after its previous Append's %d",
					w, a.n, a.shard, a.res.FirstSeq, prev)
			}
			last[a.shard] = a.res.FirstSeq + uint64(len(a.entries)) - 1
			for i, en := range a.entries {
				r, ok := stored[a.shard][a.res.FirstSeq+uint64(i)]
				if !ok {
					t.Fatalf("writer %d Append %d entry %d: seq %d missing from %v",
						w, a.n, i, a.res.FirstSeq+uint64(i), a.shard)
				}
				if string(r.PartitionKey) != string(en.PartitionKey) || string(r.Data) != string(en.Data) {
					t.Fatalf("seq %d of %v holds %q, want %q", r.Seq, a.shard, r.PartitionKey, en.PartitionKey)
				}
				if r.Arrival != a.res.Arrival {
					t.Fatalf("seq %d of %v: arrival %d, Append returned %d", r.Seq, a.shard, r.Arrival, a.res.Arrival)
				}
			}
			want[a.shard] += len(a.entries)
		}
	}
	for _, sk := range shards {
		if len(stored[sk]) != want[sk] {
			t.Fatalf("%v holds %d records, %d were acknowledged", sk, len(stored[sk]), want[sk])
		}
	}
}

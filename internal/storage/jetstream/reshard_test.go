package jetstream_test

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage/jetstream"
	"github.com/millrace/millrace/internal/streams"
)

// openDomains runs the streams domain on each engine, as the nodes of a
// cluster do: each node learns of the others' changes by reading the
// catalog every second.
// The engine links the nodes (streams.Peers) as the server wires it;
// adjust, when set, changes the options.
func openDomains(t *testing.T, engines []*jetstream.Engine, adjust func(*streams.Options)) []*streams.Streams {
	t.Helper()
	var out []*streams.Streams
	for i, e := range engines {
		o := streams.Options{Log: e, Catalog: e, CatalogSync: time.Second, Logger: testLogger(t), Peers: e}
		if adjust != nil {
			adjust(&o)
		}
		s, err := streams.New(context.Background(), o)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// ack is an acknowledged record: where PutRecords said it went.
type ack struct {
	shard, seq string
	key        string
	n          int // the writer's count of the record, per partition key
}

// TestReshardUnderWritesThroughEveryNode writes through all three nodes
// while one node splits, merges and rescales the stream. The other nodes
// route by the old layout until they read the new one (up to a second):
// their appends to a closed parent must then fail, never be acknowledged
// past the parent's end. Every acknowledged record is read back exactly
// once, from the shard and at the sequence number its acknowledgement
// gave, and each partition key's records in the order written.
func TestReshardUnderWritesThroughEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	engines := openCluster(t)
	nodes := openDomains(t, engines, nil)
	ctx := context.Background()
	const acct, region, name = "123456789012", "us-east-1", "reshard"
	ref := streams.StreamRef{Account: acct, Region: region, Name: name}
	if err := nodes[0].CreateStream(ctx, streams.CreateParams{Account: acct, Region: region, Name: name, ShardCount: 2}); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked = map[string]ack{} // data -> acknowledgement
		stop  atomic.Bool
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[w]
			counts := map[string]int{}
			for !stop.Load() {
				var entries []streams.PutEntry
				var ns []int
				for r := range 10 {
					key := fmt.Sprintf("w%d-k%d", w, r)
					entries = append(entries, streams.PutEntry{PartitionKey: key, Data: []byte(fmt.Sprintf("%s-%d", key, counts[key]))})
					ns = append(ns, counts[key])
					counts[key]++ // a refused record's number is not used again
				}
				res, err := node.PutRecords(ctx, ref, entries)
				if err != nil {
					fails.Add(int64(len(entries)))
					continue
				}
				mu.Lock()
				for i, r := range res.Records {
					if r.ErrorCode != "" {
						fails.Add(1)
						continue
					}
					key := entries[i].PartitionKey
					acked[string(entries[i].Data)] = ack{shard: r.ShardID, seq: r.SequenceNumber, key: key, n: ns[i]}
				}
				mu.Unlock()
			}
		}()
	}

	halt := func() { stop.Store(true); wg.Wait() }
	defer halt() // also when a reshard fails the test
	pause := func() { time.Sleep(400 * time.Millisecond) }
	pause()
	half := new(big.Int).Lsh(big.NewInt(1), 126) // the middle of shard 0's range
	if err := nodes[0].SplitShard(ctx, ref, "shardId-000000000000", half.String()); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	pause()
	// Shard 3 is shard 0's upper half, adjacent to shard 1.
	if err := nodes[0].MergeShards(ctx, ref, "shardId-000000000003", "shardId-000000000001"); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	pause()
	if _, err := nodes[0].UpdateShardCount(ctx, ref, 3, streams.UniformScaling); err != nil {
		t.Fatalf("UpdateShardCount: %v", err)
	}
	pause()
	halt()

	// Read every shard to its end through node 2, once it knows the last
	// layout (within a catalog sync).
	want, err := nodes[0].Describe(ref)
	if err != nil {
		t.Fatal(err)
	}
	var st *streams.Stream
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st, err = nodes[1].Describe(ref); err != nil {
			t.Fatal(err)
		}
		if len(st.Shards) == len(want.Shards) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 knows %d shards 10 s after node 1's last reshard; node 1 %d", len(st.Shards), len(want.Shards))
		}
	}
	type got struct {
		shard, seq, data string
		index            int
	}
	var read []got
	seen := map[string]bool{}
	for i, sh := range st.Shards {
		it, err := nodes[1].GetShardIterator(ctx, streams.IteratorParams{Ref: ref, ShardID: sh.ID(), Type: streams.TrimHorizon})
		if err != nil {
			t.Fatalf("%s: %v", sh.ID(), err)
		}
		for it != "" {
			res, err := nodes[1].GetRecords(ctx, it, 0)
			if err != nil {
				t.Fatalf("%s: %v", sh.ID(), err)
			}
			for _, r := range res.Records {
				read = append(read, got{shard: sh.ID(), seq: r.SequenceNumber, data: string(r.Data), index: i})
			}
			it = res.NextShardIterator
			if len(res.Records) == 0 && res.MillisBehindLatest == 0 && sh.IsOpen() {
				break
			}
		}
	}
	last := map[string]int{}
	for _, r := range read {
		if seen[r.data] {
			t.Fatalf("record %s read twice", r.data)
		}
		seen[r.data] = true
		a, ok := acked[r.data]
		if !ok {
			continue // stored, but its acknowledgement was an error
		}
		if a.shard != r.shard || a.seq != r.seq {
			t.Fatalf("record %s acknowledged as %s %s, read from %s at %s", r.data, a.shard, a.seq, r.shard, r.seq)
		}
	}
	var missing []string
	for data := range acked {
		if !seen[data] {
			missing = append(missing, data)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged records are not read back, e.g. %s (acknowledged as %+v)", len(missing), len(acked), missing[0], acked[missing[0]])
	}
	// Each key's records, shards in creation order (a parent before its
	// children) and by sequence number within a shard, in the order written.
	sort.SliceStable(read, func(i, j int) bool { return read[i].index < read[j].index })
	for _, r := range read {
		a, ok := acked[r.data]
		if !ok {
			continue
		}
		if prev, ok := last[a.key]; ok && a.n <= prev {
			t.Fatalf("key %s: record %d read after record %d", a.key, a.n, prev)
		}
		last[a.key] = a.n
	}
	if len(acked) < 300 {
		t.Fatalf("only %d records acknowledged (%d failed): the writers did not run", len(acked), fails.Load())
	}
	t.Logf("%d records acknowledged and read back, %d refused", len(acked), fails.Load())
}

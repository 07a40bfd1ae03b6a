package streams

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// loadSecond writes n records of 100 bytes with spread partition keys, as
// one second of load.
func loadSecond(t *testing.T, e *env, name string, n int) {
	t.Helper()
	for done := 0; done < n; done += MaxPutRecordsEntries {
		entries := make([]PutEntry, min(MaxPutRecordsEntries, n-done))
		for i := range entries {
			entries[i] = PutEntry{PartitionKey: "pk-" + strconv.Itoa(done+i), Data: make([]byte, 100)}
		}
		put(t, e, name, entries...)
	}
}

func TestOnDemandScalesUpUnderLoadAndDownWhenQuiet(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withLimits, func(o *Options) {
		o.Scaling.Window = 2 * time.Second
		o.Scaling.QuietPeriod = 3 * time.Second
	})
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "od"}); err != nil {
		t.Fatal(err)
	}
	e.create("prov", 1)
	open := func(name string) int { return len(e.describe(name).OpenShards()) }
	tick := func() {
		e.clk.advance(time.Second)
		e.s.scaleTick(ctx)
	}
	e.s.scaleTick(ctx)

	// 12,000 records/s is three shards' worth per initial shard.
	counts := []int{}
	for i := 0; i < 8; i++ {
		loadSecond(t, e, "od", 12000)
		loadSecond(t, e, "prov", 3000) // provisioned streams never scale
		tick()
		counts = append(counts, open("od"))
	}
	t.Logf("open shards per interval under load: %v", counts)
	if counts[0] != 4 {
		t.Fatalf("split before the window passed: %v", counts)
	}
	if last := counts[len(counts)-1]; last < 16 {
		t.Fatalf("open shards under sustained load %v, want at least 16 at the end", counts)
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] < counts[i-1] || counts[i] > 2*counts[i-1] {
			t.Fatalf("open shards %v: more than one doubling per interval or a drop under load", counts)
		}
	}
	if n := open("prov"); n != 1 {
		t.Fatalf("provisioned stream has %d open shards", n)
	}
	if st := e.describe("od"); st.Status != StatusActive {
		t.Fatalf("scaled stream is %s", st.Status)
	}

	// Quiet: merges bring it back to the on-demand minimum and no lower.
	prev := open("od")
	for i := 0; i < 30; i++ {
		tick()
		n := open("od")
		if n < OnDemandShardCount || n > prev {
			t.Fatalf("quiet stream went from %d to %d open shards", prev, n)
		}
		prev = n
	}
	if prev != OnDemandShardCount {
		t.Fatalf("quiet stream kept %d open shards, want %d", prev, OnDemandShardCount)
	}
}

func TestScaleDownKeepsWarmThroughput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withLimits, func(o *Options) { o.Scaling.QuietPeriod = time.Second })
	if _, err := e.s.SetMinimumThroughputCommitment(ctx, acct, region, true); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "w", WarmThroughputMiBps: 12}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UpdateStreamWarmThroughput(ctx, ref("w"), 6); err != nil {
		t.Fatal(err)
	}
	e.s.scaleTick(ctx)
	for i := 0; i < 10; i++ {
		e.clk.advance(time.Second)
		e.s.scaleTick(ctx)
	}
	if n := len(e.describe("w").OpenShards()); n < 6 || n >= 12 {
		t.Fatalf("quiet stream with a 6 MiBps target has %d open shards, want 6..11", n)
	}
}

func TestMidpoint(t *testing.T) {
	sh := Shard{StartingHashKey: HashKey{}, EndingHashKey: MaxHashKey}
	mid, ok := midpoint(&sh)
	if !ok || mid.String() != "170141183460469231731687303715884105728" {
		t.Fatalf("midpoint of the key space %s, %v", mid, ok)
	}
	narrow := Shard{StartingHashKey: mid, EndingHashKey: mid.Add1().Add1()}
	if _, ok := midpoint(&narrow); ok {
		t.Fatal("a 3-key shard was split")
	}
}

// TestOnDemandScalerSeesTheCluster writes through three nodes, each alone
// under half a shard's capacity (the split threshold) and together over
// it: the node holding the scaler's unit splits every shard, the others
// measure the same demand but do not reshard.
func TestOnDemandScalerSeesTheCluster(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3, withLimits, func(o *Options) { o.Scaling.Window = time.Second })
	// Whichever node took the scaler's unit's lease first comes first.
	var nodes []*Streams
	eventually(t, "a node to hold the scaler's unit", func() bool {
		for i, n := range c.nodes {
			if n.capacity.scaler.deciding.Load() {
				nodes = append([]*Streams{n}, append(append([]*Streams(nil), c.nodes[:i]...), c.nodes[i+1:]...)...)
				return true
			}
		}
		return false
	})
	if nodes[1].capacity.scaler.deciding.Load() || nodes[2].capacity.scaler.deciding.Load() {
		t.Fatal("more than one node decides")
	}
	if err := nodes[0].CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "od"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.scaleTick(ctx)
	}
	// 1,600 records over 4 shards per node: about 400 a shard, 40% of its
	// 1,000 records/s.
	var accepted [3]int64
	for i, n := range nodes {
		entries := spreadEntries(1600)
		for done := 0; done < len(entries); done += MaxPutRecordsEntries {
			batch := entries[done:min(done+MaxPutRecordsEntries, len(entries))]
			res, err := n.PutRecords(ctx, ref("od"), batch)
			if err != nil {
				t.Fatalf("node %d: %v", i+1, err)
			}
			accepted[i] += int64(len(batch) - res.FailedCount)
		}
	}
	st, err := nodes[0].Describe(ref("od"))
	if err != nil {
		t.Fatal(err)
	}
	demand := func(s *Streams) int64 {
		var n int64
		for _, sh := range st.OpenShards() {
			if sl := s.peekLimiter(st.Key(sh.Index)); sl != nil {
				sl.mu.Lock()
				n += sl.demandRecords
				sl.mu.Unlock()
			}
		}
		return n
	}
	want := 1600 + accepted[1] + accepted[2]
	eventually(t, "the deciding node to learn the other nodes' writes", func() bool { return demand(nodes[0]) == want })
	t.Logf("accepted per node %v; the deciding node measures %d records", accepted, want)

	c.clk.advance(time.Second)
	nodes[1].scaleTick(ctx)
	nodes[2].scaleTick(ctx)
	if n := len(c.stored(t, "od").Shards); n != 4 {
		t.Fatalf("a node without the scaler's unit resharded: %d shards", n)
	}
	nodes[0].scaleTick(ctx)
	if n := len(c.stored(t, "od").OpenShards()); n != 8 {
		t.Fatalf("%d open shards after the cluster wrote twice the split threshold to each of 4, want 8", n)
	}

	// The unit moves to another node when its holder stops.
	nodes[0].Close()
	eventually(t, "another node to hold the scaler's unit", func() bool {
		return nodes[1].capacity.scaler.deciding.Load() || nodes[2].capacity.scaler.deciding.Load()
	})
}

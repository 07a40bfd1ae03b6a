package streams

import (
	"context"
	"slices"
	"testing"
	"time"
)

// statsOf returns the Stats entry of a stream, or nil.
func statsOf(e *env, name string) *StreamStats {
	for _, s := range e.s.Stats() {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

func TestStatsCountFaultsPerRecord(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Faults = FaultOptions{ThrottleProbability: 0.2, InternalProbability: 0.1, Seed: 42}
	})
	e.create("s", 2)
	res := put(t, e, "s", sameKeyEntries(500, 10)...)
	th, in := failures(res)
	if th == 0 || in == 0 {
		t.Fatalf("%d throttled, %d internal: the seed gives no fault", th, in)
	}
	c := statsOf(e, "s").Counters
	for _, x := range []struct {
		name      string
		got, want int64
	}{
		{"PutRecordsRequests", c.PutRecordsRequests.Load(), 1},
		{"PutRecordsSuccess", c.PutRecordsSuccess.Load(), 1},
		{"PutRecordsTotalRecords", c.PutRecordsTotalRecords.Load(), 500},
		{"PutRecordsSuccessfulRecords", c.PutRecordsSuccessfulRecords.Load(), int64(500 - th - in)},
		{"PutRecordsThrottledRecords", c.PutRecordsThrottledRecords.Load(), int64(th)},
		{"PutRecordsFailedRecords", c.PutRecordsFailedRecords.Load(), int64(in)},
		{"WriteThroughputExceeded", c.WriteThroughputExceeded.Load(), int64(th)},
		{"IncomingRecords", c.IncomingRecords.Load(), int64(500 - th - in)},
	} {
		if x.got != x.want {
			t.Errorf("%s = %d, want %d", x.name, x.got, x.want)
		}
	}
	var shardThrottled int64
	for _, sh := range statsOf(e, "s").Shards {
		shardThrottled += sh.Counters.WriteThroughputExceeded.Load()
	}
	if shardThrottled != int64(th) {
		t.Errorf("shards' WriteThroughputExceeded add up to %d, want %d", shardThrottled, th)
	}
}

func TestStatsIteratorAge(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("one")})
	e.clk.advance(2 * time.Second)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("two")})
	e.clk.advance(3 * time.Second)
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	// The first record only: it was written 5 s ago and one is unread.
	res, err := e.s.GetRecords(context.Background(), it, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GetRecords(context.Background(), res.NextShardIterator, 0); err != nil {
		t.Fatal(err)
	}
	st := statsOf(e, "s")
	age := st.Counters.GetRecordsIteratorAge.Snapshot()
	if age.Count != 2 || age.Sum != 5000 {
		t.Errorf("iterator age: %d samples, sum %d ms; want 2 and 5000 (5 s behind, then caught up)", age.Count, age.Sum)
	}
	if got := st.Shards[0].Counters.IteratorAge.Snapshot(); got.Count != 2 || got.Sum != 5000 {
		t.Errorf("shard iterator age: %d samples, sum %d ms", got.Count, got.Sum)
	}
	if n, b := st.Counters.GetRecordsRecords.Load(), st.Counters.GetRecordsBytes.Load(); n != 2 || b != 8 {
		t.Errorf("GetRecords: %d records, %d bytes; want 2 and 8", n, b)
	}
}

func TestStatsLifetime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("x")})
	// A metadata change publishes a new snapshot with the same counters.
	if _, err := e.s.SetEnhancedMonitoring(ctx, ref("s"), []string{MetricAll}, true); err != nil {
		t.Fatal(err)
	}
	st := statsOf(e, "s")
	if n := st.Counters.IncomingRecords.Load(); n != 1 {
		t.Fatalf("IncomingRecords after EnableEnhancedMonitoring = %d, want 1", n)
	}
	if len(st.ShardLevelMetrics) != len(ShardLevelMetricNames) {
		t.Errorf("ShardLevelMetrics %v", st.ShardLevelMetrics)
	}
	// Consumers are listed while registered.
	c := e.register("s", "app")
	if st := statsOf(e, "s"); len(st.Consumers) != 1 || st.Consumers[0].Name != "app" || st.Consumers[0].ARN != c.ARN {
		t.Fatalf("consumers %+v", st.Consumers)
	}
	if err := e.s.DeregisterConsumer(ctx, ConsumerRef{ARN: c.ARN}); err != nil {
		t.Fatal(err)
	}
	if st := statsOf(e, "s"); len(st.Consumers) != 0 {
		t.Errorf("a deregistered consumer is still listed: %+v", st.Consumers)
	}
	// A deleted stream is gone; created again, it starts from zero.
	if err := e.s.DeleteStream(ctx, ref("s"), true); err != nil {
		t.Fatal(err)
	}
	if statsOf(e, "s") != nil {
		t.Fatal("a deleted stream is still listed")
	}
	e.create("s", 1)
	if n := statsOf(e, "s").Counters.IncomingRecords.Load(); n != 0 {
		t.Errorf("a stream created again starts at %d records", n)
	}
}

func TestCountingDoesNotAllocate(t *testing.T) {
	e := newEnv(t)
	e.create("s", 2)
	put(t, e, "s", sameKeyEntries(10, 10)...) // creates the shard's counters
	st := e.describe("s")
	n := testing.AllocsPerRun(100, func() {
		st.stats.shardStored(0, 10, 100)
		st.stats.writeRefused(0, 1, 1, true)
		st.stats.putRecordsDone(time.Now(), &putTally{total: 10, stored: 8, bytes: 80})
		st.stats.putRecordStored(0, 10)
	})
	if n != 0 {
		t.Errorf("counting allocates %v times per call", n)
	}
}

func TestStatsSubscription(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	c := e.register("s", "app")
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("abc")}, PutEntry{PartitionKey: "k", Data: []byte("de")})
	sub := e.subscribe(c.ARN, "shardId-000000000000", TrimHorizon, "")
	collect(t, sub, 2)
	_, err := e.s.Subscribe(context.Background(), SubscribeParams{ConsumerARN: c.ARN, ShardID: "shardId-000000000000", Type: Latest})
	wantErr(t, err, KindInUse, "Another active subscription")
	st := statsOf(e, "s")
	if len(st.Consumers) != 1 {
		t.Fatalf("consumers %+v", st.Consumers)
	}
	cc := st.Consumers[0].Counters
	if got := [...]int64{cc.SubscribeSuccess.Load(), cc.SubscribeRateExceeded.Load(), cc.EventRecords.Load(), cc.EventBytes.Load()}; got != [...]int64{1, 1, 2, 7} {
		t.Errorf("success, rate exceeded, records, bytes = %v, want [1 1 2 7]", got)
	}
	if ev := cc.EventSuccess.Load(); ev < 1 || cc.MillisBehindLatest.Snapshot().Count != uint64(ev) {
		t.Errorf("%d events, %d MillisBehindLatest samples", ev, cc.MillisBehindLatest.Snapshot().Count)
	}
	sh := st.Shards[0].Counters
	if sh.OutgoingRecords.Load() != 2 || sh.OutgoingBytes.Load() != 7 {
		t.Errorf("shard outgoing: %d records, %d bytes; want 2 and 7", sh.OutgoingRecords.Load(), sh.OutgoingBytes.Load())
	}
	if n := e.s.OpenSubscriptions(); n != 1 {
		t.Errorf("OpenSubscriptions = %d, want 1", n)
	}
	sub.Close()
	if n := e.s.OpenSubscriptions(); n != 0 {
		t.Errorf("OpenSubscriptions after Close = %d, want 0", n)
	}
}

// Counters created one at a time (the data path) and all at once (Stats)
// are the same counters, whichever comes first, with no shard left out.
func TestStatsAllShards(t *testing.T) {
	m := newStreamStats()
	first := m.shard(7)
	all := m.allShards(10)
	if len(all) != 10 || all[7] != first || slices.Contains(all, nil) {
		t.Fatalf("allShards after shard(7): %d counters, 7 kept %v", len(all), all[7] == first)
	}
	for i := range all {
		if m.shard(uint32(i)) != all[i] {
			t.Fatalf("shard(%d) differs from allShards", i)
		}
	}
	later := m.shard(12)
	more := m.allShards(20)
	if more[12] != later || more[3] != all[3] || slices.Contains(more, nil) {
		t.Fatal("allShards(20) lost counters")
	}
	if got := m.allShards(5); len(got) < 5 || got[4] != all[4] {
		t.Fatal("allShards(5) of a longer list")
	}
}

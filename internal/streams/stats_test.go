package streams

import (
	"context"
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

// Stats creates no counters for shards that have counted nothing: they
// share zero counters that nothing writes, and a shard's first count gives
// it counters of its own, which the next Stats shows.
func TestStatsIdleShardsShareZeroCounters(t *testing.T) {
	e := newEnv(t)
	e.create("s", 4)
	st := statsOf(e, "s")
	if len(st.Shards) != 4 {
		t.Fatalf("%d shards", len(st.Shards))
	}
	for _, sh := range st.Shards {
		if sh.Counters != idleShard || !sh.Counters.Idle() {
			t.Fatalf("shard %s of an unused stream has counters of its own", sh.ShardID)
		}
	}
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("one")})
	if !idleShard.Idle() {
		t.Fatal("a put wrote the shared idle counters")
	}
	var used, idle int
	for _, sh := range statsOf(e, "s").Shards {
		switch {
		case sh.Counters == idleShard:
			idle++
		case sh.Counters.IncomingRecords.Load() == 1 && sh.Counters.IncomingBytes.Load() == 4: // data and key
			used++
		default:
			t.Fatalf("shard %s: counters of its own with %d records", sh.ShardID, sh.Counters.IncomingRecords.Load())
		}
	}
	if used != 1 || idle != 3 {
		t.Fatalf("%d shards with the record's counts, %d idle; want 1 and 3", used, idle)
	}
	// The data path and Stats see the same counters.
	m := newStreamStats()
	c := m.shard(7)
	if got := shardForStats(*m.shards.Load(), 7); got != c {
		t.Fatal("Stats and the data path disagree on shard 7")
	}
	if got := shardForStats(*m.shards.Load(), 3); got != idleShard {
		t.Fatal("shard 3 has counters before counting")
	}
	if got := shardForStats(*m.shards.Load(), 12); got != idleShard {
		t.Fatal("shard 12, past the list, has counters")
	}
}

package streams

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// withLimits turns the per-shard limits on; the scaler waits an hour so
// that only the tests drive it.
func withLimits(o *Options) {
	o.Limits.Enabled = true
	o.Scaling.Interval = time.Hour
}

func sameKeyEntries(n, size int) []PutEntry {
	out := make([]PutEntry, n)
	data := bytes.Repeat([]byte("x"), size)
	for i := range out {
		out[i] = PutEntry{PartitionKey: "k", Data: data}
	}
	return out
}

func failures(res *PutRecordsResult) (throttled, internal int) {
	for _, r := range res.Records {
		switch r.ErrorCode {
		case "ProvisionedThroughputExceededException":
			throttled++
		case "InternalFailure":
			internal++
		}
	}
	return throttled, internal
}

func TestWriteRecordLimit(t *testing.T) {
	e := newEnv(t, withLimits)
	e.create("s", 1)
	for i := 0; i < 2; i++ {
		if res := put(t, e, "s", sameKeyEntries(500, 10)...); res.FailedCount != 0 {
			t.Fatalf("call %d within the first 1,000 records/s: %d failed", i, res.FailedCount)
		}
	}
	res := put(t, e, "s", sameKeyEntries(500, 10)...)
	if th, _ := failures(res); th != 500 || res.FailedCount != 500 {
		t.Fatalf("records beyond 1,000/s: %d throttled, %d failed; want 500", th, res.FailedCount)
	}
	want := "Rate exceeded for shard shardId-000000000000 in stream s under account " + acct + "."
	if got := res.Records[0].ErrorMessage; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	e.clk.advance(250 * time.Millisecond)
	res = put(t, e, "s", sameKeyEntries(500, 10)...)
	if res.FailedCount != 250 || res.Records[249].ErrorCode != "" || res.Records[250].ErrorCode == "" {
		t.Fatalf("after 250 ms: %d failed, want the last 250 of 500", res.FailedCount)
	}
	stats, err := e.s.ThrottleStats(ref("s"), "shardId-000000000000")
	if err != nil || stats.ThrottledRecords != 750 || stats.ThrottledBytes != 750*11 {
		t.Fatalf("stats %+v, %v; want 750 records, %d bytes", stats, err, 750*11)
	}
	if _, _, err := e.s.PutRecord(context.Background(), ref("s"), PutEntry{PartitionKey: "k", Data: []byte("x")}, ""); err == nil {
		t.Fatal("PutRecord on a shard with no capacity left succeeded")
	} else {
		wantErr(t, err, KindThroughputExceeded, want)
	}
}

func TestWriteByteLimitAndLargeRecords(t *testing.T) {
	e := newEnv(t, withLimits)
	e.create("s", 1)
	// 100 KiB per record counting the partition key: ten fill a second.
	res := put(t, e, "s", sameKeyEntries(11, 100<<10-1)...)
	if res.FailedCount != 1 || res.Records[10].ErrorCode == "" {
		t.Fatalf("11 records of 100 KiB: %d failed, want the last one", res.FailedCount)
	}
	// A record larger than a second of capacity passes on a full bucket and
	// leaves the shard in debt.
	if err := e.s.UpdateMaxRecordSize(context.Background(), ref("s"), 4096); err != nil {
		t.Fatal(err)
	}
	e.clk.advance(time.Second)
	if res := put(t, e, "s", sameKeyEntries(1, 3<<20)...); res.FailedCount != 0 {
		t.Fatalf("3 MiB record on an idle shard: %+v", res.Records[0])
	}
	e.clk.advance(time.Second)
	if res := put(t, e, "s", sameKeyEntries(1, 1)...); res.FailedCount != 1 {
		t.Fatal("a write 1 s after a 3 MiB record passed; the shard owes 2 MiB")
	}
	e.clk.advance(2100 * time.Millisecond)
	if res := put(t, e, "s", sameKeyEntries(1, 1)...); res.FailedCount != 0 {
		t.Fatal("a write after the debt is paid was throttled")
	}
}

func TestLimitsOffNeverThrottle(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	for i := 0; i < 6; i++ {
		if res := put(t, e, "s", sameKeyEntries(500, 1000)...); res.FailedCount != 0 {
			t.Fatalf("limits off, call %d: %d failed", i, res.FailedCount)
		}
	}
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	for i := 0; i < 20; i++ {
		it = get(t, e, it, 10).NextShardIterator
	}
}

func TestReadCallLimit(t *testing.T) {
	e := newEnv(t, withLimits)
	e.create("s", 1)
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	for i := 0; i < 5; i++ {
		it = get(t, e, it, 0).NextShardIterator
	}
	_, err := e.s.GetRecords(context.Background(), it, 0)
	wantErr(t, err, KindThroughputExceeded, "Rate exceeded for shard shardId-000000000000 in stream s under account "+acct+".")
	e.clk.advance(200 * time.Millisecond)
	get(t, e, it, 0) // one call back per 200 ms
	if _, err := e.s.GetRecords(context.Background(), it, 0); err == nil {
		t.Fatal("second call within 200 ms succeeded")
	}
	if st, _ := e.s.ThrottleStats(ref("s"), "shardId-000000000000"); st.ThrottledReads != 2 {
		t.Fatalf("throttled reads %d, want 2", st.ThrottledReads)
	}
}

func TestTenMiBResponseBlocksReadsFiveSeconds(t *testing.T) {
	e := newEnv(t, withLimits)
	e.create("s", 1)
	if err := e.s.UpdateMaxRecordSize(context.Background(), ref("s"), 2048); err != nil {
		t.Fatal(err)
	}
	// Eleven 1 MiB records, one per second of write capacity.
	for i := 0; i < 11; i++ {
		if res := put(t, e, "s", sameKeyEntries(1, 1<<20-1)...); res.FailedCount != 0 {
			t.Fatalf("write %d throttled", i)
		}
		e.clk.advance(time.Second)
	}
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	res := get(t, e, it, 0)
	if len(res.Records) != 10 {
		t.Fatalf("first read returned %d records, want the 10 MiB cap (10)", len(res.Records))
	}
	e.clk.advance(4900 * time.Millisecond)
	_, err := e.s.GetRecords(context.Background(), res.NextShardIterator, 0)
	wantErr(t, err, KindThroughputExceeded, "Rate exceeded")
	e.clk.advance(200 * time.Millisecond)
	if got := get(t, e, res.NextShardIterator, 0); len(got.Records) != 1 {
		t.Fatalf("read after 5 s returned %d records, want 1", len(got.Records))
	}
}

func TestFaultInjectionIsSeededAndPerRecord(t *testing.T) {
	run := func() (pattern string, th, in int) {
		e := newEnv(t, func(o *Options) {
			o.Faults = FaultOptions{ThrottleProbability: 0.2, InternalProbability: 0.1, Seed: 42}
		})
		e.create("s", 2)
		var b strings.Builder
		for i := 0; i < 4; i++ {
			res := put(t, e, "s", sameKeyEntries(500, 10)...)
			a, c := failures(res)
			th, in = th+a, in+c
			if res.FailedCount != a+c {
				t.Fatalf("FailedCount %d, want %d", res.FailedCount, a+c)
			}
			for _, r := range res.Records {
				b.WriteByte("-TI"[map[string]int{"": 0, "ProvisionedThroughputExceededException": 1, "InternalFailure": 2}[r.ErrorCode]])
			}
		}
		return b.String(), th, in
	}
	p1, th, in := run()
	p2, _, _ := run()
	if p1 != p2 {
		t.Fatal("the same seed gave different faults")
	}
	// 2,000 draws: expect about 400 throttles and 200 internal failures.
	if th < 300 || th > 500 || in < 130 || in > 270 {
		t.Fatalf("%d throttled and %d internal of 2000 at p=0.2 and 0.1", th, in)
	}

	e := newEnv(t, func(o *Options) { o.Faults = FaultOptions{InternalProbability: 1, Seed: 1} })
	e.create("s", 1)
	_, _, err := e.s.PutRecord(context.Background(), ref("s"), PutEntry{PartitionKey: "k", Data: []byte("x")}, "")
	wantErr(t, err, KindInternal, "Internal service failure.")
	e = newEnv(t, func(o *Options) { o.Faults = FaultOptions{ThrottleProbability: 1, Seed: 1} })
	e.create("s", 1)
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	_, err = e.s.GetRecords(context.Background(), it, 0)
	wantErr(t, err, KindThroughputExceeded, "Rate exceeded for shard shardId-000000000000")
}

// BenchmarkPutRecordsAdmission measures the limiter on the PutRecords path:
// one lock per shard group, no allocation per record.
func BenchmarkPutRecordsAdmission(b *testing.B) {
	s := &Streams{opts: Options{Now: time.Now, Limits: ThroughputLimits{Enabled: true, WriteBytesPerSec: 1 << 40, WriteRecordsPerSec: 1 << 40}}}
	s.opts.Limits.ensureDefaults()
	st := &Stream{ID: 1, Name: "s", Account: acct, Shards: newShards(1, 0)}
	entries := sameKeyEntries(500, 100)
	idx := make([]int, 500)
	group := make([]storage.Entry, 500)
	out := &PutRecordsResult{Records: make([]PutResult, 500)}
	b.ReportAllocs()
	for b.Loop() {
		for i := range idx {
			idx[i] = i
		}
		s.admitPutGroup(st, &st.Shards[0], entries, idx, group, out)
	}
}

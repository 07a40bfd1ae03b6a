package streams

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

func put(t *testing.T, e *env, name string, entries ...PutEntry) *PutRecordsResult {
	t.Helper()
	res, err := e.s.PutRecords(context.Background(), ref(name), entries)
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	return res
}

func iter(t *testing.T, e *env, name, shard, typ, seq string) string {
	t.Helper()
	it, err := e.s.GetShardIterator(context.Background(), IteratorParams{Ref: ref(name), ShardID: shard, Type: typ, StartingSequenceNumber: seq})
	if err != nil {
		t.Fatalf("GetShardIterator(%s %s %s): %v", shard, typ, seq, err)
	}
	return it
}

func get(t *testing.T, e *env, it string, limit int) *GetRecordsResult {
	t.Helper()
	res, err := e.s.GetRecords(context.Background(), it, limit)
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	return res
}

func seqBig(s string) *big.Int { v, _ := new(big.Int).SetString(s, 10); return v }

func TestPutRecordsRoutesByMD5(t *testing.T) {
	e := newEnv(t)
	e.create("s", 4)
	st := e.describe("s")
	var entries []PutEntry
	for i := 0; i < 200; i++ {
		entries = append(entries, PutEntry{PartitionKey: "pk-" + strconv.Itoa(i), Data: []byte(strconv.Itoa(i))})
	}
	res := put(t, e, "s", entries...)
	if res.FailedCount != 0 || len(res.Records) != 200 || res.EncryptionType != "NONE" {
		t.Fatalf("failed %d, %d results, encryption %q", res.FailedCount, len(res.Records), res.EncryptionType)
	}
	last := map[string]*big.Int{}
	for i, r := range res.Records {
		k := HashPartitionKey([]byte(entries[i].PartitionKey))
		var want *Shard
		for j := range st.Shards {
			if st.Shards[j].StartingHashKey.Cmp(k) <= 0 && k.Cmp(st.Shards[j].EndingHashKey) <= 0 {
				want = &st.Shards[j]
			}
		}
		if r.ShardID != want.ID() {
			t.Errorf("record %d on %s, want %s", i, r.ShardID, want.ID())
		}
		// Numbers grow in request order within a shard.
		n := seqBig(r.SequenceNumber)
		if p := last[r.ShardID]; p != nil && n.Cmp(p) <= 0 {
			t.Errorf("record %d: %s not above %s", i, n, p)
		}
		last[r.ShardID] = n
		if n.Cmp(seqBig(st.StartingSequenceNumber(want))) <= 0 {
			t.Errorf("record %d: %s not above the shard's starting number", i, n)
		}
	}
	// Each shard holds its records, in request order.
	total := 0
	for j := range st.Shards {
		got := get(t, e, iter(t, e, "s", st.Shards[j].ID(), TrimHorizon, ""), 0)
		total += len(got.Records)
		prev := -1
		for _, r := range got.Records {
			i, _ := strconv.Atoi(string(r.Data))
			if res.Records[i].ShardID != st.Shards[j].ID() || res.Records[i].SequenceNumber != r.SequenceNumber || i <= prev {
				t.Errorf("shard %d: record %d out of place", j, i)
			}
			if r.PartitionKey != entries[i].PartitionKey || r.EncryptionType != "" {
				t.Errorf("record %d: %+v", i, r)
			}
			prev = i
		}
	}
	if total != 200 {
		t.Errorf("read %d records, want 200", total)
	}
}

func TestPutExplicitHashKey(t *testing.T) {
	e := newEnv(t)
	e.create("s", 3)
	st := e.describe("s")
	for j := range st.Shards {
		for _, k := range []HashKey{st.Shards[j].StartingHashKey, st.Shards[j].EndingHashKey} {
			r, enc, err := e.s.PutRecord(context.Background(), ref("s"), PutEntry{PartitionKey: "x", Data: []byte("d"), ExplicitHashKey: k.String()}, "")
			if err != nil || r.ShardID != st.Shards[j].ID() || enc != "NONE" {
				t.Errorf("key %s: %+v %v, want %s", k, r, err, st.Shards[j].ID())
			}
		}
	}
	_, _, err := e.s.PutRecord(context.Background(), ref("s"), PutEntry{PartitionKey: "x", ExplicitHashKey: "340282366920938463463374607431768211456"}, "")
	wantErr(t, err, KindInvalidArgument, "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was 340282366920938463463374607431768211456")
	_, err = e.s.PutRecords(context.Background(), ref("s"), []PutEntry{{PartitionKey: "a"}, {PartitionKey: "b", ExplicitHashKey: "1" + strings.Repeat("0", 39)}})
	wantErr(t, err, KindInvalidArgument, "Invalid ExplicitHashKey")
}

func TestPutSizeLimits(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	ctx := context.Background()
	max := 1024 * 1024
	// Exactly the limit, data plus key, is fine.
	if _, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k", Data: make([]byte, max-1)}, ""); err != nil {
		t.Fatalf("record at the limit: %v", err)
	}
	_, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "kk", Data: make([]byte, max-1)}, "")
	wantErr(t, err, KindInvalidArgument, "exceeds the maximum record size of 1048576 bytes")
	_, err = e.s.PutRecords(ctx, ref("s"), []PutEntry{{PartitionKey: "k"}, {PartitionKey: "k", Data: make([]byte, max+1)}})
	wantErr(t, err, KindValidation, "Value at 'records.2.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576")
	// Six records of just under 1 MiB pass each check but not the request's.
	six := make([]PutEntry, 6)
	for i := range six {
		six[i] = PutEntry{PartitionKey: "k", Data: make([]byte, max-1)}
	}
	_, err = e.s.PutRecords(ctx, ref("s"), six)
	wantErr(t, err, KindInvalidArgument, "Records size exceeds 5 MB limit")
	if _, err := e.s.PutRecords(ctx, ref("s"), six[:5]); err != nil {
		t.Errorf("5 MiB request: %v", err)
	}
	// Nothing of the refused requests was written: 1 + 5 records.
	b, _ := e.log.Bounds(ctx, e.describe("s").Key(0))
	if b.Next != 7 {
		t.Errorf("next seq %d, want 7", b.Next)
	}
}

func TestPutRequiresWritableStream(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CreateDelay = time.Hour })
	if err := e.s.CreateStream(context.Background(), CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.PutRecords(context.Background(), ref("s"), []PutEntry{{PartitionKey: "k"}})
	wantErr(t, err, KindNotFound, "Stream s under account 123456789012 not found.")
	_, _, err = e.s.PutRecord(context.Background(), ref("nope"), PutEntry{PartitionKey: "k"}, "")
	wantErr(t, err, KindNotFound, "Stream nope under account 123456789012 not found.")
}

func TestPutSequenceNumberForOrdering(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	ctx := context.Background()
	r1, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k", Data: []byte("1")}, "")
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k", Data: []byte("2")}, r1.SequenceNumber)
	if err != nil || seqBig(r2.SequenceNumber).Cmp(seqBig(r1.SequenceNumber)) <= 0 {
		t.Fatalf("%+v %v", r2, err)
	}
	_, _, err = e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k"}, "12345")
	wantErr(t, err, KindInvalidArgument, "ExclusiveMinimumSequenceNumber 12345 used in PutRecord on stream s under account 123456789012 is invalid.")
}

// failingLog fails appends to one shard index.
type failingLog struct {
	storage.Log
	shard uint32
}

func (f *failingLog) Append(ctx context.Context, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	if sk.Shard == f.shard {
		return storage.AppendResult{}, errors.New("disk on fire")
	}
	return f.Log.Append(ctx, sk, arrival, entries)
}

func (f *failingLog) AppendMany(ctx context.Context, arrival int64, appends []storage.ShardAppend) {
	var rest []storage.ShardAppend
	var at []int
	for i := range appends {
		if appends[i].Shard.Shard == f.shard {
			appends[i].Err = errors.New("disk on fire")
			continue
		}
		rest = append(rest, appends[i])
		at = append(at, i)
	}
	if len(rest) > 0 {
		f.Log.AppendMany(ctx, arrival, rest)
	}
	for j, i := range at {
		appends[i].Result, appends[i].Err = rest[j].Result, rest[j].Err
	}
}

func TestPutRecordsPartialFailure(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Log = &failingLog{Log: o.Log, shard: 1} })
	e.create("s", 2)
	st := e.describe("s")
	var entries []PutEntry
	for i := 0; i < 50; i++ {
		entries = append(entries, PutEntry{PartitionKey: strconv.Itoa(i), Data: []byte("x")})
	}
	res := put(t, e, "s", entries...)
	failed := 0
	for i, r := range res.Records {
		onBad := st.Shards[1].StartingHashKey.Cmp(HashPartitionKey([]byte(entries[i].PartitionKey))) <= 0
		if onBad {
			failed++
			if r.ErrorCode != "InternalFailure" || r.ErrorMessage == "" || r.SequenceNumber != "" {
				t.Errorf("record %d: %+v", i, r)
			}
		} else if r.ErrorCode != "" || r.ShardID != "shardId-000000000000" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if failed == 0 || failed == len(entries) || res.FailedCount != failed {
		t.Errorf("FailedRecordCount %d, want %d of %d", res.FailedCount, failed, len(entries))
	}
}

func TestGetShardIteratorTypes(t *testing.T) {
	e := newEnv(t)
	e.create("s", 2)
	ctx := context.Background()
	var seqs []string
	for i := 0; i < 5; i++ {
		r, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k", Data: []byte{byte(i)}, ExplicitHashKey: "0"}, "")
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.SequenceNumber)
		e.clk.advance(time.Second)
	}
	latest := iter(t, e, "s", "shardId-000000000000", Latest, "")
	first := func(it string) (int, int) {
		res := get(t, e, it, 0)
		if len(res.Records) == 0 {
			return -1, 0
		}
		return int(res.Records[0].Data[0]), len(res.Records)
	}
	for _, c := range []struct {
		typ, seq    string
		shard       string
		want, want2 int
	}{
		{TrimHorizon, "", "shardId-000000000000", 0, 5},
		{TrimHorizon, "", "shardId-0", 0, 5},
		{TrimHorizon, "", "0", 0, 5},
		{AtSequenceNumber, seqs[2], "shardId-000000000000", 2, 3},
		{AfterSequenceNumber, seqs[2], "shardId-000000000000", 3, 2},
		{AfterSequenceNumber, seqs[4], "shardId-000000000000", -1, 0},
		{AtSequenceNumber, e.describe("s").StartingSequenceNumber(&e.describe("s").Shards[0]), "shardId-000000000000", 0, 5},
		{Latest, "", "shardId-000000000000", -1, 0},
	} {
		got, n := first(iter(t, e, "s", c.shard, c.typ, c.seq))
		if got != c.want || n != c.want2 {
			t.Errorf("%s %s on %s: first %d of %d, want %d of %d", c.typ, c.seq, c.shard, got, n, c.want, c.want2)
		}
	}
	// AT_TIMESTAMP: records arrived at t0, t0+1s, ...
	t0 := e.clk.now().Add(-5 * time.Second)
	for i, ts := range []time.Time{t0.Add(-time.Hour), t0, t0.Add(1500 * time.Millisecond), t0.Add(4 * time.Second), e.clk.now()} {
		it, err := e.s.GetShardIterator(ctx, IteratorParams{Ref: ref("s"), ShardID: "shardId-000000000000", Type: AtTimestamp, Timestamp: &ts})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := first(it)
		want := []int{0, 0, 2, 4, -1}[i]
		if got != want {
			t.Errorf("AT_TIMESTAMP %v: first %d, want %d", ts, got, want)
		}
	}
	future := e.clk.now().Add(time.Second)
	_, err := e.s.GetShardIterator(ctx, IteratorParams{Ref: ref("s"), ShardID: "shardId-000000000000", Type: AtTimestamp, Timestamp: &future})
	wantErr(t, err, KindInvalidArgument, fmt.Sprintf("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", future.UnixMilli(), e.clk.now().UnixMilli()))
	_, err = e.s.GetShardIterator(ctx, IteratorParams{Ref: ref("s"), ShardID: "shardId-000000000000", Type: AtTimestamp})
	wantErr(t, err, KindInvalidArgument, "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.")

	// LATEST sees what is written after it.
	if _, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k", Data: []byte{9}, ExplicitHashKey: "0"}, ""); err != nil {
		t.Fatal(err)
	}
	if got, n := first(latest); got != 9 || n != 1 {
		t.Errorf("LATEST then put: first %d of %d", got, n)
	}
}

func TestGetShardIteratorErrors(t *testing.T) {
	e := newEnv(t)
	e.create("s", 2)
	e.create("other", 2)
	ctx := context.Background()
	r, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "k", ExplicitHashKey: "0"}, "")
	if err != nil {
		t.Fatal(err)
	}
	gsi := func(name, shard, typ, seq string) error {
		_, err := e.s.GetShardIterator(ctx, IteratorParams{Ref: ref(name), ShardID: shard, Type: typ, StartingSequenceNumber: seq})
		return err
	}
	wantErr(t, gsi("s", "shardId-000000000001", AtSequenceNumber, r.SequenceNumber), KindInvalidArgument,
		"Invalid StartingSequenceNumber. It encodes shardId-000000000000, while it was used in a call to a shard with shardId-000000000001")
	// Another stream created at another second.
	e.clk.advance(2 * time.Second)
	e.create("later", 1)
	wantErr(t, gsi("later", "shardId-000000000000", AtSequenceNumber, r.SequenceNumber), KindInvalidArgument,
		"StartingSequenceNumber "+r.SequenceNumber+" used in GetShardIterator on shard shardId-000000000000 in stream later under account 123456789012 is invalid because it did not come from this stream.")
	wantErr(t, gsi("s", "shardId-000000000000", AtSequenceNumber, "12345"), KindInvalidArgument,
		"StartingSequenceNumber 12345 used in GetShardIterator on shard shardId-000000000000 in stream s under account 123456789012 is invalid.")
	wantErr(t, gsi("s", "shardId-000000000000", TrimHorizon, r.SequenceNumber), KindInvalidArgument,
		"Request specified TRIM_HORIZON and also a StartingSequenceNumber.")
	wantErr(t, gsi("s", "shardId-000000000000", AfterSequenceNumber, ""), KindInvalidArgument,
		"Request specified AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber.")
	wantErr(t, gsi("s", "shardId-000000000002", Latest, ""), KindNotFound,
		"Shard shardId-000000000002 in stream s under account 123456789012 does not exist")
	wantErr(t, gsi("s", "shardId-x", Latest, ""), KindNotFound,
		"Could not find shard shardId-x in stream s under account 123456789012.")
	wantErr(t, gsi("missing", "shardId-000000000000", Latest, ""), KindNotFound,
		"Shard shardId-000000000000 in stream missing under account 123456789012 does not exist")
}

func TestGetRecordsPaging(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	for i := 0; i < 25; i++ {
		put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{byte(i)}})
	}
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	seen := 0
	for round := 0; round < 5; round++ {
		res := get(t, e, it, 10)
		if res.NextShardIterator == "" || res.NextShardIterator == it {
			t.Fatalf("round %d: no new iterator", round)
		}
		for _, r := range res.Records {
			if int(r.Data[0]) != seen {
				t.Fatalf("got record %d, want %d", r.Data[0], seen)
			}
			seen++
		}
		if seen == 25 && res.MillisBehindLatest != 0 {
			t.Errorf("caught up but MillisBehindLatest %d", res.MillisBehindLatest)
		}
		it = res.NextShardIterator
	}
	if seen != 25 {
		t.Errorf("read %d records, want 25", seen)
	}
	for _, limit := range []int{-1, 10001} {
		_, err := e.s.GetRecords(context.Background(), it, limit)
		wantErr(t, err, KindInvalidArgument, "Limit")
	}
}

func TestGetRecordsMillisBehindLatest(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{0}})
	e.clk.advance(10 * time.Second)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{1}})
	e.clk.advance(5 * time.Second)
	res := get(t, e, it, 1)
	if res.MillisBehindLatest != 15000 {
		t.Errorf("MillisBehindLatest %d, want 15000", res.MillisBehindLatest)
	}
	res = get(t, e, res.NextShardIterator, 1)
	if len(res.Records) != 1 || res.MillisBehindLatest != 0 {
		t.Errorf("%d records, MillisBehindLatest %d, want 1 and 0", len(res.Records), res.MillisBehindLatest)
	}
}

func TestGetRecordsRetention(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	for i := 0; i < 3; i++ {
		put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{byte(i)}})
	}
	old := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	e.clk.advance(25 * time.Hour)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{3}})
	// Untrimmed but expired records are skipped, from TRIM_HORIZON...
	res := get(t, e, iter(t, e, "s", "shardId-000000000000", TrimHorizon, ""), 0)
	if len(res.Records) != 1 || res.Records[0].Data[0] != 3 {
		t.Errorf("TRIM_HORIZON after expiry: %d records", len(res.Records))
	}
	// ...and from an older position (through a fresh iterator: the old one
	// has expired).
	_, err := e.s.GetRecords(context.Background(), old, 0)
	wantErr(t, err, KindExpiredIterator, "Iterator expired.")
	st := e.describe("s")
	at := iter(t, e, "s", "shardId-000000000000", AtSequenceNumber, st.SequenceNumber(&st.Shards[0], 1, 0))
	res = get(t, e, at, 0)
	if len(res.Records) != 1 || res.Records[0].Data[0] != 3 {
		t.Errorf("AT_SEQUENCE_NUMBER of an expired record: %d records", len(res.Records))
	}
}

func TestGetRecordsStreamRecreated(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	if err := e.s.DeleteStream(context.Background(), ref("s"), false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion", func() bool { _, err := e.s.Describe(ref("s")); return err != nil })
	_, err := e.s.GetRecords(context.Background(), it, 0)
	wantErr(t, err, KindNotFound, "Shard shardId-000000000000 in stream s under account 123456789012 does not exist")
	e.create("s", 1)
	_, err = e.s.GetRecords(context.Background(), it, 0)
	wantErr(t, err, KindNotFound, "does not exist")
	_, err = e.s.GetRecords(context.Background(), "bogus", 0)
	wantErr(t, err, KindInvalidArgument, "Invalid ShardIterator.")
}

// publish replaces a stream's snapshot, as resharding will.
func (e *env) publish(st *Stream) {
	e.s.mu.Lock()
	e.s.streams[st.mapKey()] = st
	e.s.mu.Unlock()
}

// splitShard0 closes shard 0 of a 1-shard stream at its last record and adds
// two children, the way SplitShard leaves a stream.
func splitShard0(t *testing.T, e *env, name string) *Stream {
	t.Helper()
	st := e.describe(name).clone()
	b, err := e.log.Bounds(context.Background(), st.Key(0))
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.now().UnixMilli()
	mid := HashKey{Hi: 1 << 63}
	st.Shards[0].ClosedAt = now
	st.Shards[0].EndingSeq = b.Next - 1
	st.Shards = append(st.Shards,
		Shard{Index: 1, StartingHashKey: HashKey{}, EndingHashKey: mid.Sub1(), ParentIndex: 0, AdjacentParentIndex: -1, CreatedAt: now},
		Shard{Index: 2, StartingHashKey: mid, EndingHashKey: MaxHashKey, ParentIndex: 0, AdjacentParentIndex: -1, CreatedAt: now})
	e.publish(st)
	return st
}

func TestGetRecordsClosedShard(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	for i := 0; i < 3; i++ {
		put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{byte(i)}})
	}
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	e.clk.advance(time.Second)
	st := splitShard0(t, e, "s")
	if st.EndingSequenceNumber(&st.Shards[0]) == "" || seqBig(st.EndingSequenceNumber(&st.Shards[0])).Cmp(seqBig(st.StartingSequenceNumber(&st.Shards[0]))) <= 0 {
		t.Fatalf("ending number %q", st.EndingSequenceNumber(&st.Shards[0]))
	}
	// Reading to the end returns the records, then the children and no
	// iterator.
	res := get(t, e, it, 2)
	if len(res.Records) != 2 || res.NextShardIterator == "" || res.ChildShards != nil {
		t.Fatalf("first page: %d records, iterator %q, children %v", len(res.Records), res.NextShardIterator, res.ChildShards)
	}
	res = get(t, e, res.NextShardIterator, 0)
	if len(res.Records) != 1 || res.NextShardIterator != "" || len(res.ChildShards) != 2 {
		t.Fatalf("last page: %d records, iterator %q, children %v", len(res.Records), res.NextShardIterator, res.ChildShards)
	}
	c := res.ChildShards[1]
	if c.ShardID != "shardId-000000000002" || len(c.ParentShards) != 1 || c.ParentShards[0] != "shardId-000000000000" || c.StartingHashKey != (HashKey{Hi: 1 << 63}) {
		t.Errorf("child %+v", c)
	}
	// The ending sequence number names the last record.
	res = get(t, e, iter(t, e, "s", "shardId-000000000000", AtSequenceNumber, st.EndingSequenceNumber(&st.Shards[0])), 0)
	if len(res.Records) != 1 || res.Records[0].Data[0] != 2 || len(res.ChildShards) != 2 {
		t.Errorf("AT ending number: %+v", res)
	}
	res = get(t, e, iter(t, e, "s", "shardId-000000000000", Latest, ""), 0)
	if len(res.Records) != 0 || res.NextShardIterator != "" || len(res.ChildShards) != 2 {
		t.Errorf("LATEST on a closed shard: %+v", res)
	}
	// Writes go to the children.
	r := put(t, e, "s", PutEntry{PartitionKey: "k", ExplicitHashKey: "0"})
	if r.Records[0].ShardID != "shardId-000000000001" {
		t.Errorf("put after split went to %s", r.Records[0].ShardID)
	}
}

// A deleted stream leaves no per-stream state behind in the domain.
func TestDeletedStreamStateDropped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 3)
	id := e.describe("s").ID
	put(t, e, "s", PutEntry{PartitionKey: "a", Data: []byte("x")}, PutEntry{PartitionKey: "b", Data: []byte("y")})
	if _, ok := e.s.rs.layouts.Load(id); !ok {
		t.Fatal("no layout lock after a write")
	}
	if err := e.s.DeleteStream(ctx, ref("s"), false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stream to be gone", func() bool {
		_, err := e.s.Describe(ref("s"))
		return err != nil
	})
	if _, ok := e.s.rs.layouts.Load(id); ok {
		t.Fatal("the deleted stream's layout lock is still kept")
	}
}

// A shortened retention hour (Options.RetentionHour) applies to reads and
// to the trim alike: with an hour of one second, the 24-hour minimum keeps
// records for 24 seconds.
func TestRetentionHour(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RetentionHour = time.Second })
	e.create("s", 1)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{0}})
	e.clk.advance(20 * time.Second)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte{1}})
	if res := get(t, e, iter(t, e, "s", "shardId-000000000000", TrimHorizon, ""), 0); len(res.Records) != 2 {
		t.Fatalf("after 20 s: %d records, want 2", len(res.Records))
	}
	e.clk.advance(5 * time.Second)
	res := get(t, e, iter(t, e, "s", "shardId-000000000000", TrimHorizon, ""), 0)
	if len(res.Records) != 1 || res.Records[0].Data[0] != 1 {
		t.Fatalf("after 25 s: %d records, want only the second", len(res.Records))
	}
	e.s.trimAll(context.Background())
	st := e.describe("s")
	if got, ok := e.log.trimmedAt(st.Key(0)); !ok || got != e.clk.now().Add(-24*time.Second).UnixMilli() {
		t.Fatalf("trimmed at %d (%v), want 24 s before now", got, ok)
	}
}

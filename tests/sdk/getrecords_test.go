package sdk_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fill writes n records with ExplicitHashKey 0 (so all land on shard 0)
// and returns their sequence numbers.
func fill(t *testing.T, c *kinesis.Client, stream string, n int) []string {
	t.Helper()
	seqs := make([]string, n)
	for i := range n {
		out, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
			StreamName: aws.String(stream), PartitionKey: aws.String(fmt.Sprintf("pk-%d", i)),
			ExplicitHashKey: aws.String("0"), Data: []byte(fmt.Sprintf("rec-%d", i)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ShardId) != shardID(0) {
			t.Fatalf("hash key 0 went to %s", aws.ToString(out.ShardId))
		}
		seqs[i] = aws.ToString(out.SequenceNumber)
	}
	return seqs
}

func seqsOf(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = aws.ToString(r.SequenceNumber)
	}
	return out
}

func TestGetShardIteratorTypes(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "it", 2)
	seqs := fill(t, c, "it", 5)

	trim := readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil))
	if got := seqsOf(trim); strings.Join(got, ",") != strings.Join(seqs, ",") {
		t.Fatalf("TRIM_HORIZON = %v, want %v", got, seqs)
	}
	for i, r := range trim {
		sameRecord(t, r, seqs[i], fmt.Sprintf("pk-%d", i), []byte(fmt.Sprintf("rec-%d", i)))
	}

	at := readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeAtSequenceNumber, aws.String(seqs[2]), nil))
	if got := seqsOf(at); strings.Join(got, ",") != strings.Join(seqs[2:], ",") {
		t.Errorf("AT_SEQUENCE_NUMBER %s = %v", seqs[2], got)
	}
	after := readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeAfterSequenceNumber, aws.String(seqs[2]), nil))
	if got := seqsOf(after); strings.Join(got, ",") != strings.Join(seqs[3:], ",") {
		t.Errorf("AFTER_SEQUENCE_NUMBER %s = %v", seqs[2], got)
	}
	afterLast := readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeAfterSequenceNumber, aws.String(seqs[4]), nil))
	if len(afterLast) != 0 {
		t.Errorf("AFTER_SEQUENCE_NUMBER last = %d records", len(afterLast))
	}

	// LATEST starts after the newest record: only later puts are seen.
	latest := iterator(t, c, "it", shardID(0), types.ShardIteratorTypeLatest, nil, nil)
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(latest)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 0 {
		t.Errorf("LATEST returned %d old records", len(out.Records))
	}
	more := fill(t, c, "it", 2)
	got := readFrom(t, c, aws.ToString(out.NextShardIterator))
	if s := seqsOf(got); strings.Join(s, ",") != strings.Join(more, ",") {
		t.Errorf("after LATEST = %v, want %v", s, more)
	}

	// AT_TIMESTAMP starts at the first record that arrived at or after the
	// timestamp.
	all := readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil))
	pivot := *all[3].ApproximateArrivalTimestamp
	fromPivot := readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeAtTimestamp, nil, &pivot))
	var want []string
	for _, r := range all {
		if !r.ApproximateArrivalTimestamp.Before(pivot) {
			want = append(want, aws.ToString(r.SequenceNumber))
		}
	}
	if s := seqsOf(fromPivot); strings.Join(s, ",") != strings.Join(want, ",") {
		t.Errorf("AT_TIMESTAMP %v = %v, want %v", pivot, s, want)
	}
	// A timestamp older than every record reads from the trim horizon.
	old := time.Now().Add(-time.Hour)
	if s := seqsOf(readFrom(t, c, iterator(t, c, "it", shardID(0), types.ShardIteratorTypeAtTimestamp, nil, &old))); len(s) != len(all) {
		t.Errorf("AT_TIMESTAMP an hour ago: %d records, want %d", len(s), len(all))
	}

	// The other shard is empty.
	if recs := readShard(t, c, "it", shardID(1)); len(recs) != 0 {
		t.Errorf("shard 1 has %d records", len(recs))
	}
}

func TestGetShardIteratorErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "iterr", 2)
	createStream(t, c, "other", 1)
	seqs := fill(t, c, "iterr", 1)
	otherSeq := aws.ToString(put(t, c, "other", "k", []byte("x")).SequenceNumber)

	gsi := func(in kinesis.GetShardIteratorInput) error {
		if in.StreamName == nil {
			in.StreamName = aws.String("iterr")
		}
		_, err := c.GetShardIterator(t.Context(), &in)
		return err
	}

	future := time.Now().Add(time.Hour)
	err := gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: &future})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis")

	// A sequence number of shard 0 used with shard 1.
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(1)), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seqs[0])})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Invalid StartingSequenceNumber")

	// A sequence number of another stream.
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(otherSeq)})
	wantErr[*types.InvalidArgumentException](t, err)

	// Garbage that matches the model's pattern.
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("12345")})
	wantErr[*types.InvalidArgumentException](t, err)
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("abc")})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	// AT/AFTER_SEQUENCE_NUMBER need a number; TRIM_HORIZON/LATEST take none.
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.")
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon, StartingSequenceNumber: aws.String(seqs[0])})
	wantErr[*types.InvalidArgumentException](t, err)
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAtTimestamp})
	wantErr[*types.InvalidArgumentException](t, err)

	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(99)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	wantErr[*types.ResourceNotFoundException](t, err)
	wantMessage(t, err, shardID(99))
	err = gsi(kinesis.GetShardIteratorInput{StreamName: aws.String("nope"), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	wantErr[*types.ResourceNotFoundException](t, err)
	err = gsi(kinesis.GetShardIteratorInput{ShardId: aws.String(shardID(0)), ShardIteratorType: "SIDEWAYS"})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set")
}

func TestGetRecordsPaging(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "gr", 1)
	before := time.Now().Truncate(time.Millisecond)
	seqs := fill(t, c, "gr", 10)
	after := time.Now()

	it := iterator(t, c, "gr", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil)
	var got []string
	for page := 0; ; page++ {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(3)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) > 3 {
			t.Fatalf("page %d: %d records with Limit 3", page, len(out.Records))
		}
		if out.MillisBehindLatest == nil {
			t.Errorf("page %d: no MillisBehindLatest", page)
		}
		next := aws.ToString(out.NextShardIterator)
		if next == "" {
			t.Fatalf("page %d: no NextShardIterator on an open shard", page)
		}
		if next == it {
			t.Errorf("page %d: NextShardIterator equals the iterator passed in", page)
		}
		for _, r := range out.Records {
			ts := aws.ToTime(r.ApproximateArrivalTimestamp)
			if ts.Nanosecond()%int(time.Millisecond) != 0 {
				t.Errorf("arrival timestamp %v has sub-millisecond digits", ts)
			}
			if ts.Before(before) || ts.After(after) {
				t.Errorf("arrival timestamp %v outside [%v, %v]", ts, before, after)
			}
			if r.EncryptionType != "" && r.EncryptionType != types.EncryptionTypeNone {
				t.Errorf("EncryptionType %s", r.EncryptionType)
			}
		}
		got = append(got, seqsOf(out.Records)...)
		it = next
		if len(out.Records) == 0 {
			if aws.ToInt64(out.MillisBehindLatest) != 0 {
				t.Errorf("caught up but MillisBehindLatest = %d", aws.ToInt64(out.MillisBehindLatest))
			}
			break
		}
		if page > 10 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(seqs, ",") {
		t.Errorf("read %v, want %v", got, seqs)
	}

	// An empty read still hands out a fresh iterator, and it keeps working.
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 0 || aws.ToString(out.NextShardIterator) == "" {
		t.Fatalf("empty read: %d records, next %q", len(out.Records), aws.ToString(out.NextShardIterator))
	}
	more := fill(t, c, "gr", 1)
	out, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 1 || aws.ToString(out.Records[0].SequenceNumber) != more[0] {
		t.Errorf("read after empty read = %v, want %v", seqsOf(out.Records), more)
	}

	// Limit 10000 is the maximum.
	if _, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator, Limit: aws.Int32(10000)}); err != nil {
		t.Errorf("Limit 10000: %v", err)
	}
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator, Limit: aws.Int32(10001)})
	wantCode(t, err, "InvalidArgumentException", "ValidationException")
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator, Limit: aws.Int32(0)})
	wantCode(t, err, "InvalidArgumentException", "ValidationException")
}

func TestGetRecordsMillisBehindLatest(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "behind", 1)
	fill(t, c, "behind", 3)
	time.Sleep(20 * time.Millisecond)
	fill(t, c, "behind", 1)
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{
		ShardIterator: aws.String(iterator(t, c, "behind", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil)),
		Limit:         aws.Int32(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The reader is at least the 20 ms between the first and last record
	// behind the tip.
	if aws.ToInt64(out.MillisBehindLatest) <= 0 {
		t.Errorf("MillisBehindLatest = %d behind 3 newer records", aws.ToInt64(out.MillisBehindLatest))
	}
}

func TestGetRecordsBadIterators(t *testing.T) {
	t.Parallel()
	_, c := start(t, withIteratorTTL(1500*time.Millisecond))
	createStream(t, c, "exp", 1)
	fill(t, c, "exp", 2)

	for _, it := range []string{"garbage", "AAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("x", 512)} {
		_, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		wantErr[*types.InvalidArgumentException](t, err)
	}
	_, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(strings.Repeat("x", 513))})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	// A valid iterator with one character changed is rejected, not read.
	good := iterator(t, c, "exp", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil)
	b := []byte(good)
	mid := len(b) / 2
	if b[mid] == 'A' {
		b[mid] = 'B'
	} else {
		b[mid] = 'A'
	}
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(string(b))})
	wantErr[*types.InvalidArgumentException](t, err)

	// Iterators expire after IteratorTTL, both from GetShardIterator and
	// from GetRecords.
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(good), Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(good)})
	wantErr[*types.ExpiredIteratorException](t, err)
	wantMessage(t, err, "Iterator expired")
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	wantErr[*types.ExpiredIteratorException](t, err)

	// An iterator of a deleted stream is not served.
	fresh := iterator(t, c, "exp", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil)
	if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("exp")}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "exp")
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(fresh)})
	wantCode(t, err, "ResourceNotFoundException", "ExpiredIteratorException")
}

// One GetRecords call returns at most 10 MiB.
func TestGetRecordsTenMiBCap(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "cap10", 1)
	data := bytes.Repeat([]byte{9}, oneMiB-2)
	for range 12 {
		put(t, c, "cap10", "pk", data)
	}
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{
		ShardIterator: aws.String(iterator(t, c, "cap10", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, r := range out.Records {
		size += len(r.Data) + len(aws.ToString(r.PartitionKey))
	}
	if len(out.Records) == 0 || size > 10*oneMiB {
		t.Errorf("GetRecords returned %d records, %d bytes; want 1..10 MiB", len(out.Records), size)
	}
	if len(out.Records) == 12 {
		t.Error("all 12 MiB came back in one call")
	}
	if aws.ToInt64(out.MillisBehindLatest) == 0 && len(out.Records) < 12 && out.NextShardIterator == nil {
		t.Error("no way to read on")
	}
}

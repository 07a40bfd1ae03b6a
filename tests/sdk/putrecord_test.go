package sdk_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const oneMiB = 1 << 20

func TestPutRecordRouting(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "route", 4)
	shards := listShards(t, c, "route")

	// A partition key lands on the shard whose range holds MD5(key).
	for i := range 20 {
		pk := fmt.Sprintf("key-%d", i)
		out := put(t, c, "route", pk, []byte(pk))
		if want := shardFor(t, shards, partitionHash(pk)); aws.ToString(out.ShardId) != want {
			t.Errorf("%s went to %s, want %s", pk, aws.ToString(out.ShardId), want)
		}
		if out.EncryptionType != "" && out.EncryptionType != types.EncryptionTypeNone {
			t.Errorf("EncryptionType = %s", out.EncryptionType)
		}
	}

	// ExplicitHashKey overrides the key's hash, including both ends of
	// the hash space and the exact boundaries between shards.
	r := initialRanges(4)
	cases := []struct {
		hash string
		want string
	}{
		{"0", shardID(0)},
		{r[0][1].String(), shardID(0)},
		{r[1][0].String(), shardID(1)},
		{r[2][1].String(), shardID(2)},
		{r[3][0].String(), shardID(3)},
		{maxHashKey.String(), shardID(3)},
	}
	for _, tc := range cases {
		out, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
			StreamName: aws.String("route"), PartitionKey: aws.String("same-key"),
			ExplicitHashKey: aws.String(tc.hash), Data: []byte("x"),
		})
		if err != nil {
			t.Fatalf("ExplicitHashKey %s: %v", tc.hash, err)
		}
		if aws.ToString(out.ShardId) != tc.want {
			t.Errorf("ExplicitHashKey %s went to %s, want %s", tc.hash, aws.ToString(out.ShardId), tc.want)
		}
	}

	// 2^128 is out of range.
	_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName: aws.String("route"), PartitionKey: aws.String("k"),
		ExplicitHashKey: aws.String("340282366920938463463374607431768211456"), Data: []byte("x"),
	})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Invalid ExplicitHashKey.")
	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName: aws.String("route"), PartitionKey: aws.String("k"),
		ExplicitHashKey: aws.String("-1"), Data: []byte("x"),
	})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")
}

func TestPutRecordSequenceNumbers(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "seq", 2)
	var last = map[string]*string{}
	for i := range 30 {
		out := put(t, c, "seq", fmt.Sprintf("pk%d", i%5), []byte{byte(i)})
		seq := out.SequenceNumber
		if len(aws.ToString(seq)) == 0 || strings.TrimLeft(aws.ToString(seq), "0123456789") != "" {
			t.Fatalf("sequence number %q is not decimal", aws.ToString(seq))
		}
		shard := aws.ToString(out.ShardId)
		if prev := last[shard]; prev != nil && !seqLess(t, prev, seq) {
			t.Errorf("shard %s: %s not after %s", shard, aws.ToString(seq), aws.ToString(prev))
		}
		last[shard] = seq
	}

	// SequenceNumberForOrdering: each record's number is above the one
	// it names.
	prev := put(t, c, "seq", "ordered", []byte("0")).SequenceNumber
	for i := 1; i < 5; i++ {
		out, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
			StreamName: aws.String("seq"), PartitionKey: aws.String("ordered"),
			SequenceNumberForOrdering: prev, Data: []byte{byte('0' + i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !seqLess(t, prev, out.SequenceNumber) {
			t.Errorf("%s not after SequenceNumberForOrdering %s", aws.ToString(out.SequenceNumber), aws.ToString(prev))
		}
		prev = out.SequenceNumber
	}
	_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName: aws.String("seq"), PartitionKey: aws.String("ordered"),
		SequenceNumberForOrdering: aws.String("not-a-number"), Data: []byte("x"),
	})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")
}

func TestPutRecordSizeLimit(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "size", 1)

	// Data plus partition key may be exactly 1 MiB.
	data := bytes.Repeat([]byte{0xAB}, oneMiB-2)
	out := put(t, c, "size", "pk", data)
	recs := readShard(t, c, "size", shardID(0))
	if len(recs) != 1 || !bytes.Equal(recs[0].Data, data) || aws.ToString(recs[0].SequenceNumber) != aws.ToString(out.SequenceNumber) {
		t.Fatalf("read back %d records", len(recs))
	}

	// One byte more is rejected and nothing is written.
	_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName: aws.String("size"), PartitionKey: aws.String("pk"), Data: bytes.Repeat([]byte{1}, oneMiB-1),
	})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")
	_, err = c.PutRecords(t.Context(), &kinesis.PutRecordsInput{
		StreamName: aws.String("size"),
		Records:    []types.PutRecordsRequestEntry{{PartitionKey: aws.String("pk"), Data: bytes.Repeat([]byte{1}, oneMiB-1)}},
	})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")
	if n := len(readShard(t, c, "size", shardID(0))); n != 1 {
		t.Errorf("%d records after rejected puts, want 1", n)
	}

	// Partition keys are 1..256 characters.
	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("size"), PartitionKey: aws.String(strings.Repeat("k", 257)), Data: []byte("x")})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256")
	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("size"), PartitionKey: aws.String(""), Data: []byte("x")})
	wantCode(t, err, "ValidationException")
	put(t, c, "size", strings.Repeat("k", 256), []byte("x"))

	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("nope"), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantErr[*types.ResourceNotFoundException](t, err)
	wantMessage(t, err, "Stream nope under account "+defaultAccount+" not found.")
}

func TestPutRecords(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "batch", 3)
	shards := listShards(t, c, "batch")

	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{
			PartitionKey: aws.String(fmt.Sprintf("user-%d", i)),
			Data:         []byte(fmt.Sprintf("payload-%d", i)),
		}
	}
	// One entry routed explicitly to the last shard.
	entries[7].ExplicitHashKey = aws.String(maxHashKey.String())
	out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("batch"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Errorf("FailedRecordCount = %d", aws.ToInt32(out.FailedRecordCount))
	}
	if len(out.Records) != 500 {
		t.Fatalf("%d results for 500 records", len(out.Records))
	}
	bySeq := map[string]int{}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			t.Fatalf("record %d failed: %s %s", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
		want := shardFor(t, shards, partitionHash(aws.ToString(entries[i].PartitionKey)))
		if i == 7 {
			want = shardID(2)
		}
		if aws.ToString(r.ShardId) != want {
			t.Errorf("record %d on %s, want %s", i, aws.ToString(r.ShardId), want)
		}
		if _, dup := bySeq[aws.ToString(r.SequenceNumber)]; dup {
			t.Errorf("duplicate sequence number %s", aws.ToString(r.SequenceNumber))
		}
		bySeq[aws.ToString(r.SequenceNumber)] = i
	}

	// Every record reads back from the shard PutRecords named, in request
	// order within the shard, with the sequence number it returned.
	total := 0
	for _, s := range shards {
		recs := readShard(t, c, "batch", aws.ToString(s.ShardId))
		last := -1
		for _, rec := range recs {
			i, ok := bySeq[aws.ToString(rec.SequenceNumber)]
			if !ok {
				t.Fatalf("unknown sequence number %s on %s", aws.ToString(rec.SequenceNumber), aws.ToString(s.ShardId))
			}
			if aws.ToString(out.Records[i].ShardId) != aws.ToString(s.ShardId) {
				t.Errorf("record %d read from %s, reported on %s", i, aws.ToString(s.ShardId), aws.ToString(out.Records[i].ShardId))
			}
			sameRecord(t, rec, aws.ToString(out.Records[i].SequenceNumber), aws.ToString(entries[i].PartitionKey), entries[i].Data)
			if i < last {
				t.Errorf("shard %s: record %d after %d", aws.ToString(s.ShardId), i, last)
			}
			last = i
		}
		total += len(recs)
	}
	if total != 500 {
		t.Errorf("read %d records, want 500", total)
	}
}

func TestPutRecordsErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "batcherr", 1)
	entries := make([]types.PutRecordsRequestEntry, 501)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")}
	}
	_, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("batcherr"), Records: entries})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500")

	_, err = c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("batcherr"), Records: []types.PutRecordsRequestEntry{}})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1")

	_, err = c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("batcherr"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("ok"), Data: []byte("x")},
		{PartitionKey: aws.String(strings.Repeat("k", 257)), Data: []byte("x")},
	}})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "records.2.member.partitionKey")
	if n := len(readShard(t, c, "batcherr", shardID(0))); n != 0 {
		t.Errorf("%d records written by rejected batches", n)
	}

	_, err = c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("nope"), Records: entries[:1]})
	wantErr[*types.ResourceNotFoundException](t, err)

	// A single entry is fine.
	out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("batcherr"), Records: entries[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 1 || out.Records[0].SequenceNumber == nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Errorf("one-entry result %+v", out)
	}
}

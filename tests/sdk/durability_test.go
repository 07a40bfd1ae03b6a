package sdk_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Everything acknowledged before a graceful restart is there afterwards:
// records with the same sequence numbers, data and keys, and the stream's
// metadata.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	s, c := start(t)
	createStream(t, c, "durable", 3)
	if _, err := c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("durable"), Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.IncreaseStreamRetentionPeriod(t.Context(), &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("durable"), RetentionPeriodHours: aws.Int32(72)}); err != nil {
		t.Fatal(err)
	}

	type rec struct{ seq, pk, data string }
	written := map[string][]rec{}
	for i := range 20 {
		pk, data := fmt.Sprintf("single-%d", i), fmt.Sprintf("data-%d", i)
		out := put(t, c, "durable", pk, []byte(data))
		written[aws.ToString(out.ShardId)] = append(written[aws.ToString(out.ShardId)], rec{aws.ToString(out.SequenceNumber), pk, data})
	}
	entries := make([]types.PutRecordsRequestEntry, 100)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("batch-%d", i)), Data: []byte(fmt.Sprintf("bdata-%d", i))}
	}
	out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("durable"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			t.Fatalf("record %d failed: %s", i, aws.ToString(r.ErrorCode))
		}
		written[aws.ToString(r.ShardId)] = append(written[aws.ToString(r.ShardId)],
			rec{aws.ToString(r.SequenceNumber), aws.ToString(entries[i].PartitionKey), string(entries[i].Data)})
	}
	before, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}

	s.Restart(t)
	c = s.Kinesis()

	after, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("durable")})
	if err != nil {
		t.Fatalf("DescribeStream after restart: %v", err)
	}
	b, a := before.StreamDescription, after.StreamDescription
	if a.StreamStatus != types.StreamStatusActive || aws.ToInt32(a.RetentionPeriodHours) != 72 ||
		!aws.ToTime(a.StreamCreationTimestamp).Equal(aws.ToTime(b.StreamCreationTimestamp)) || aws.ToString(a.StreamARN) != aws.ToString(b.StreamARN) {
		t.Errorf("stream after restart: %s retention %d created %v (was %v)", a.StreamStatus, aws.ToInt32(a.RetentionPeriodHours),
			aws.ToTime(a.StreamCreationTimestamp), aws.ToTime(b.StreamCreationTimestamp))
	}
	if !reflect.DeepEqual(shardIDs(a.Shards), shardIDs(b.Shards)) {
		t.Errorf("shards after restart %v, before %v", shardIDs(a.Shards), shardIDs(b.Shards))
	}
	for i := range a.Shards {
		if i < len(b.Shards) && !reflect.DeepEqual(a.Shards[i].HashKeyRange, b.Shards[i].HashKeyRange) {
			t.Errorf("shard %d range changed", i)
		}
	}
	tags, err := c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	if tagMap(tags.Tags)["k"] != "v" {
		t.Errorf("tags after restart: %v", tagMap(tags.Tags))
	}

	total := 0
	for shard, want := range written {
		recs := readShard(t, c, "durable", shard)
		if len(recs) != len(want) {
			t.Errorf("%s: %d records after restart, wrote %d", shard, len(recs), len(want))
			continue
		}
		for i, r := range recs {
			sameRecord(t, r, want[i].seq, want[i].pk, []byte(want[i].data))
		}
		total += len(recs)
	}
	if total != 120 {
		t.Errorf("read back %d records, wrote 120", total)
	}

	// New writes continue above the old sequence numbers.
	shard := shardID(0)
	last := written[shard][len(written[shard])-1].seq
	next, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("durable"), PartitionKey: aws.String("x"), ExplicitHashKey: aws.String("0"), Data: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	if !seqLess(t, &last, next.SequenceNumber) {
		t.Errorf("sequence number after restart %s not above %s", aws.ToString(next.SequenceNumber), last)
	}
}

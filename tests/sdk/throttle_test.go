package sdk_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
)

func withThroughputLimits(c *config.Config) { c.ThroughputLimits = "on" }

// putBurst sends calls PutRecords of 500 small records to shard 0 of a
// one-shard stream, back to back, and counts the throttled records.
func putBurst(t *testing.T, c *kinesis.Client, name string, calls int) (throttled int, msg string) {
	t.Helper()
	for i := 0; i < calls; i++ {
		entries := make([]types.PutRecordsRequestEntry, 500)
		for j := range entries {
			entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("k", j)), Data: []byte("0123456789")}
		}
		out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				throttled++
				if aws.ToString(r.ErrorCode) != "ProvisionedThroughputExceededException" {
					t.Fatalf("error code %s", aws.ToString(r.ErrorCode))
				}
				msg = aws.ToString(r.ErrorMessage)
			} else if r.SequenceNumber == nil || aws.ToString(r.ShardId) != shardID(0) {
				t.Fatalf("bad success entry %+v", r)
			}
		}
		if int(aws.ToInt32(out.FailedRecordCount)) > 500 {
			t.Fatalf("FailedRecordCount %d", aws.ToInt32(out.FailedRecordCount))
		}
	}
	return throttled, msg
}

func TestPutRecordsThrottledBeyondOneShard(t *testing.T) {
	t.Parallel()
	_, c := start(t, withThroughputLimits)
	createStream(t, c, "hot", 1)
	// 4,000 records sent as fast as one client can: a shard takes 1,000/s
	// plus what refills meanwhile, so some must be refused.
	throttled, msg := putBurst(t, c, "hot", 8)
	if throttled == 0 {
		t.Fatal("4,000 records to one shard at once: nothing throttled")
	}
	want := "Rate exceeded for shard " + shardID(0) + " in stream hot under account " + defaultAccount + "."
	if msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	// Three 600 KiB records at once exceed 1 MiB/s: at least one PutRecord
	// is refused.
	var pte *types.ProvisionedThroughputExceededException
	for i := 0; i < 3 && pte == nil; i++ {
		_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("hot"), PartitionKey: aws.String("k"), Data: make([]byte, 600<<10)})
		if err != nil && !errors.As(err, &pte) {
			t.Fatal(err)
		}
	}
	if pte == nil || aws.ToString(pte.Message) != want {
		t.Fatalf("PutRecord beyond 1 MiB/s: %v", pte)
	}
}

func TestNoThrottlingWithLimitsOff(t *testing.T) {
	t.Parallel()
	_, c := start(t) // servertest default: limits off
	createStream(t, c, "free", 1)
	if throttled, _ := putBurst(t, c, "free", 8); throttled != 0 {
		t.Fatalf("limits off: %d records throttled", throttled)
	}
	it := trimIterator(t, c, "free", 0)
	for i := 0; i < 20; i++ {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1)})
		if err != nil {
			t.Fatalf("limits off, GetRecords %d: %v", i, err)
		}
		it = out.NextShardIterator
	}
}

func trimIterator(t *testing.T, c *kinesis.Client, name string, shard int) *string {
	t.Helper()
	out, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(name), ShardId: aws.String(shardID(shard)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.ShardIterator
}

func TestGetRecordsCallRate(t *testing.T) {
	t.Parallel()
	_, c := start(t, withThroughputLimits)
	createStream(t, c, "reads", 1)
	it := trimIterator(t, c, "reads", 0)
	// Twenty calls back to back: a shard takes five per second.
	var throttled int
	for i := 0; i < 20; i++ {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it})
		var pte *types.ProvisionedThroughputExceededException
		if errors.As(err, &pte) {
			throttled++
			if !strings.HasPrefix(aws.ToString(pte.Message), "Rate exceeded for shard "+shardID(0)+" in stream reads") {
				t.Fatalf("message %q", aws.ToString(pte.Message))
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		it = out.NextShardIterator
	}
	if throttled == 0 {
		t.Fatal("20 GetRecords calls at once on one shard: none throttled")
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	_, c := start(t, func(cfg *config.Config) {
		cfg.FaultThrottleProbability, cfg.FaultInternalProbability, cfg.FaultSeed = 0.2, 0.2, 99
	})
	createStream(t, c, "flaky", 2)
	codes := map[string]int{}
	for i := 0; i < 4; i++ {
		entries := make([]types.PutRecordsRequestEntry, 500)
		for j := range entries {
			entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(j)), Data: []byte("x")}
		}
		out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("flaky"), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			codes[aws.ToString(r.ErrorCode)]++
		}
	}
	// 2,000 entries at 20% each: about 400 of each failure.
	if codes["ProvisionedThroughputExceededException"] < 300 || codes["InternalFailure"] < 300 || codes[""] < 1000 {
		t.Fatalf("fault counts %v", codes)
	}
}

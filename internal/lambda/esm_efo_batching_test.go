package lambda_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// Through a consumer, the batching window gathers the records of several
// pushes into one invocation: ten records put one PutRecord at a time
// (each pushed as it becomes durable) reach the function as one batch of
// ten, since the window (300 s) closes only when BatchSize records are in
// hand. Without the window the first push would be invoked alone.
func TestEventSourceMappingConsumerBatchingWindow(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	streamARN := createStream(t, k, "trickle", 1)
	consumerARN := registerConsumer(t, k, streamARN, "efo")
	count := filepath.Join(t.TempDir(), "count")
	createFunction(t, c, "batcher", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"ESM_COUNT": count}}
		in.Timeout = aws.Int32(60)
	})
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("batcher"), EventSourceArn: aws.String(consumerARN),
		StartingPosition: types.EventSourcePositionLatest, BatchSize: aws.Int32(10),
		MaximumBatchingWindowInSeconds: aws.Int32(300),
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.MaximumBatchingWindowInSeconds) != 300 {
		t.Errorf("MaximumBatchingWindowInSeconds: %d, want 300", aws.ToInt32(out.MaximumBatchingWindowInSeconds))
	}
	uuid := aws.ToString(out.UUID)
	eventually(t, "the mapping to be Enabled", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		return err == nil && aws.ToString(g.State) == "Enabled"
	})
	for i := range 10 {
		if _, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("trickle"),
			PartitionKey: aws.String(fmt.Sprintf("k%d", i)), Data: []byte(fmt.Sprintf("r%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	batches := func() []string { // the handler's "n <records>" lines
		raw, _ := os.ReadFile(count)
		var n []string
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "n "); ok {
				n = append(n, v)
			}
		}
		return n
	}
	eventually(t, "the batch", func() bool { return len(batches()) > 0 })
	if got := batches(); len(got) != 1 || got[0] != "10" {
		t.Errorf("the function got batches of %v records, want one of 10", got)
	}
}

// ParallelizationFactor through a consumer: the records one subscription
// pushes are spread over ten lanes by partition key, ten invocations run
// at once (each of the first ten waits until ten have started), and each
// key's records still arrive in order.
func TestEventSourceMappingConsumerParallelization(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	streamARN := createStream(t, k, "busy", 1)
	consumerARN := registerConsumer(t, k, streamARN, "efo")
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, map[string]string{"ESM_BARRIER": "10"})
	var recs [][2]string
	for i := range 1000 {
		recs = append(recs, [2]string{fmt.Sprintf("key-%d", i%100), fmt.Sprintf("%d", i)})
	}
	putAll(t, k, "busy", recs)
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(consumerARN),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(10),
		ParallelizationFactor: aws.Int32(10),
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "1000 records", func() bool { return len(readLog(t, logPath)) >= 1000 })
	lines := readLog(t, logPath)
	if len(lines) != 1000 {
		t.Errorf("the handler saw %d records, want 1000 exactly once each", len(lines))
	}
	last := map[string]string{}
	for _, l := range lines {
		if p, ok := last[l.key]; ok && !seqLess(p, l.seq) {
			t.Errorf("key %s: %s arrived after %s", l.key, l.seq, p)
		}
		last[l.key] = l.seq
	}
	if len(last) != 100 {
		t.Errorf("%d keys seen, want 100", len(last))
	}
}

// A reshard through a consumer: the children's subscriptions start only
// once the parent's records are all delivered, so every key's records
// arrive in order across the split, and the children are read from the
// children.
func TestEventSourceMappingConsumerReshardParentsFirst(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	streamARN := createStream(t, k, "resharded", 1)
	consumerARN := registerConsumer(t, k, streamARN, "efo")
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, nil)
	var recs [][2]string
	for i := range 200 {
		recs = append(recs, [2]string{fmt.Sprintf("key-%d", i%20), fmt.Sprintf("parent-%d", i)})
	}
	putAll(t, k, "resharded", recs)
	if _, err := k.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("resharded"),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the split", func() bool {
		out, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("resharded")})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive
	})
	recs = recs[:0]
	for i := range 200 {
		recs = append(recs, [2]string{fmt.Sprintf("key-%d", i%20), fmt.Sprintf("child-%d", i)})
	}
	putAll(t, k, "resharded", recs)
	// A small batch size makes the parent take many batches.
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(consumerARN),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(5),
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "400 records", func() bool { return len(readLog(t, logPath)) >= 400 })
	lines := readLog(t, logPath)
	if len(lines) != 400 {
		t.Errorf("the handler saw %d records, want 400 exactly once each", len(lines))
	}
	childSeen := false
	last := map[string]string{}
	for _, l := range lines {
		if strings.HasPrefix(l.data, "child-") {
			childSeen = true
			if l.shard == "shardId-000000000000" {
				t.Errorf("child record %s read from the parent shard", l.data)
			}
		} else if childSeen {
			t.Errorf("parent record %s delivered after a child record", l.data)
		}
		if p, ok := last[l.key]; ok && !seqLess(p, l.seq) {
			t.Errorf("key %s: %s arrived after %s", l.key, l.seq, p)
		}
		last[l.key] = l.seq
	}
	if len(last) != 20 {
		t.Errorf("%d keys, want 20", len(last))
	}
}

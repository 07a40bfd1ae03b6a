package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// registerConsumer registers an enhanced fan-out consumer of the stream
// and waits until it is ACTIVE; it returns the consumer's ARN.
func registerConsumer(t *testing.T, k *kinesis.Client, streamARN, name string) string {
	t.Helper()
	ctx := context.Background()
	out, err := k.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	arn := aws.ToString(out.Consumer.ConsumerARN)
	eventually(t, "the consumer to be ACTIVE", func() bool {
		d, err := k.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		return err == nil && d.ConsumerDescription.ConsumerStatus == ktypes.ConsumerStatusActive
	})
	return arn
}

func TestEventSourceMappingConsumerDeliversInOrder(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	streamARN := createStream(t, k, "orders", 2)
	dir := t.TempDir()
	logPath, sourcesPath := filepath.Join(dir, "log"), filepath.Join(dir, "sources")
	esmFunction(t, c, "consumer", logPath, map[string]string{"ESM_SOURCES": sourcesPath})

	// A consumer that is not registered is refused.
	_, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(streamARN + "/consumer/nobody:1700000000"),
		StartingPosition: types.EventSourcePositionTrimHorizon,
	})
	var inv *types.InvalidParameterValueException
	if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), "nobody") {
		t.Fatalf("a mapping on an unregistered consumer: %v, want InvalidParameterValueException naming it", err)
	}

	consumerARN := registerConsumer(t, k, streamARN, "efo")
	var before [][2]string
	for i := range 30 {
		before = append(before, [2]string{fmt.Sprintf("k%d", i%5), fmt.Sprintf("before-%d", i)})
	}
	putAll(t, k, "orders", before)
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(consumerARN),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	uuid := aws.ToString(out.UUID)
	if aws.ToString(out.EventSourceArn) != consumerARN {
		t.Errorf("CreateEventSourceMapping answered EventSourceArn %s, want the consumer's %s", aws.ToString(out.EventSourceArn), consumerARN)
	}
	eventually(t, "the mapping to be Enabled", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		return err == nil && aws.ToString(g.State) == "Enabled"
	})
	var after [][2]string
	for i := range 40 {
		after = append(after, [2]string{fmt.Sprintf("k%d", i%5), fmt.Sprintf("after-%d", i)})
	}
	putAll(t, k, "orders", after)
	eventually(t, "70 records", func() bool { return len(readLog(t, logPath)) >= 70 })
	lines := readLog(t, logPath)
	if len(lines) != 70 {
		t.Errorf("the handler saw %d records, want 70 exactly once each", len(lines))
	}
	last := map[string]string{}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l.data] {
			t.Errorf("record %s delivered twice", l.data)
		}
		seen[l.data] = true
		if p, ok := last[l.shard]; ok && !seqLess(p, l.seq) {
			t.Errorf("shard %s: %s arrived after %s", l.shard, l.seq, p)
		}
		last[l.shard] = l.seq
	}
	// The event names the stream, not the consumer.
	raw, err := os.ReadFile(sourcesPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range strings.Fields(string(raw)) {
		if src != streamARN {
			t.Fatalf("an event's eventSourceARN is %s, want the stream's %s", src, streamARN)
		}
	}

	// Get and List show the consumer's ARN; List filters by it.
	g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
	if err != nil || aws.ToString(g.EventSourceArn) != consumerARN {
		t.Errorf("GetEventSourceMapping: %+v, %v", g, err)
	}
	list, err := c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String(consumerARN)})
	if err != nil || len(list.EventSourceMappings) != 1 || aws.ToString(list.EventSourceMappings[0].UUID) != uuid {
		t.Errorf("ListEventSourceMappings by the consumer: %+v, %v", list, err)
	}
	list, err = c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String(streamARN)})
	if err != nil || len(list.EventSourceMappings) != 0 {
		t.Errorf("ListEventSourceMappings by the stream: %+v, %v", list, err)
	}

	// The mapping reads through the consumer: once it is deregistered,
	// nothing more arrives and the mapping says why.
	if _, err := k.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(consumerARN)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the consumer to go", func() bool {
		_, err := k.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
		var nf *ktypes.ResourceNotFoundException
		return errors.As(err, &nf)
	})
	putAll(t, k, "orders", [][2]string{{"k1", "after-deregistration"}})
	eventually(t, "the mapping to report the consumer missing", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		return err == nil && strings.Contains(aws.ToString(g.LastProcessingResult), "consumer not found")
	})
	for _, l := range readLog(t, logPath) {
		if l.data == "after-deregistration" {
			t.Error("a record put after the consumer went was delivered")
		}
	}
}

func TestEventSourceMappingConsumerPoisonRecordIsolated(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	streamARN := createStream(t, k, "src", 1)
	dlqARN := createStream(t, k, "dlq", 1)
	consumerARN := registerConsumer(t, k, streamARN, "efo")
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, nil)

	var recs [][2]string
	for i := range 20 {
		data := fmt.Sprintf("r%d", i)
		if i == 13 {
			data = "poison"
		}
		recs = append(recs, [2]string{"pk", data})
	}
	seqs := putAll(t, k, "src", recs)
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(consumerARN),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(20),
		BisectBatchOnFunctionError: aws.Bool(true), MaximumRetryAttempts: aws.Int32(1),
		DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(dlqARN)}},
	}); err != nil {
		t.Fatal(err)
	}
	putAll(t, k, "src", [][2]string{{"pk", "later"}})
	eventually(t, "every good record", func() bool {
		got := map[string]bool{}
		for _, l := range readLog(t, logPath) {
			got[l.data] = true
		}
		for i, r := range append(recs, [2]string{"pk", "later"}) {
			if i != 13 && !got[r[1]] {
				return false
			}
		}
		return true
	})
	for _, l := range readLog(t, logPath) {
		if l.data == "poison" {
			t.Error("the poison record was processed")
		}
	}
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("dlq"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var got []ktypes.Record
	eventually(t, "the on-failure record", func() bool {
		out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Records...)
		it.ShardIterator = out.NextShardIterator
		return len(got) > 0
	})
	var rec struct {
		RequestContext struct {
			Condition              string
			ApproximateInvokeCount int
		} `json:"requestContext"`
		KinesisBatchInfo struct {
			StartSequenceNumber string `json:"startSequenceNumber"`
			EndSequenceNumber   string `json:"endSequenceNumber"`
			BatchSize           int    `json:"batchSize"`
			StreamArn           string `json:"streamArn"`
		}
	}
	if err := json.Unmarshal(got[0].Data, &rec); err != nil {
		t.Fatal(err)
	}
	bi := rec.KinesisBatchInfo
	if bi.StartSequenceNumber != seqs[13] || bi.EndSequenceNumber != seqs[13] || bi.BatchSize != 1 || bi.StreamArn != streamARN ||
		rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.RequestContext.ApproximateInvokeCount != 2 {
		t.Errorf("on-failure record: %s", got[0].Data)
	}
	if len(got) != 1 {
		t.Errorf("%d on-failure records, want 1", len(got))
	}
}

// A subscription lasts its lifetime; the mapping subscribes again after
// its checkpoint, so that nothing is skipped or delivered twice across
// renewals.
func TestEventSourceMappingConsumerRenewsSubscriptions(t *testing.T) {
	s := servertest.Start(t, func(cfg *config.Config) { cfg.SubscriptionLifetime = 200 * time.Millisecond })
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	streamARN := createStream(t, k, "orders", 1)
	consumerARN := registerConsumer(t, k, streamARN, "efo")
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, nil)
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(consumerARN),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(3),
	}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for round := range 5 {
		var recs [][2]string
		for i := range 10 {
			d := fmt.Sprintf("r%d-%d", round, i)
			recs = append(recs, [2]string{fmt.Sprintf("k%d", i%3), d})
			want = append(want, d)
		}
		putAll(t, k, "orders", recs)
		eventually(t, fmt.Sprintf("round %d", round), func() bool { return len(readLog(t, logPath)) >= len(want) })
		// Outlive the subscription, so that the next round is read by a
		// renewed one.
		time.Sleep(300 * time.Millisecond)
	}
	lines := readLog(t, logPath)
	if len(lines) != len(want) {
		t.Fatalf("the handler saw %d records, want %d exactly once each", len(lines), len(want))
	}
	for i, l := range lines {
		if l.data != want[i] {
			t.Fatalf("record %d is %s, want %s (in order, once)", i, l.data, want[i])
		}
	}
}

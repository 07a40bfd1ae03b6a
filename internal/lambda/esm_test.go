package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

const streamARNPrefix = "arn:aws:kinesis:us-east-1:000000000000:stream/"

func createStream(t *testing.T, k *kinesis.Client, name string, shards int32) string {
	t.Helper()
	ctx := context.Background()
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
	for {
		out, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			return aws.ToString(out.StreamDescriptionSummary.StreamARN)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// putAll writes records (partition key, data) in order, one PutRecords
// per 500, and returns their sequence numbers.
func putAll(t *testing.T, k *kinesis.Client, stream string, recs [][2]string) []string {
	t.Helper()
	var seqs []string
	for len(recs) > 0 {
		n := min(len(recs), 500)
		var entries []ktypes.PutRecordsRequestEntry
		for _, r := range recs[:n] {
			entries = append(entries, ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(r[0]), Data: []byte(r[1])})
		}
		out, err := k.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v", err)
		}
		for _, r := range out.Records {
			seqs = append(seqs, aws.ToString(r.SequenceNumber))
		}
		recs = recs[n:]
	}
	return seqs
}

// logLine is one record the test handler processed.
type logLine struct{ shard, seq, key, data string }

func readLog(t *testing.T, path string) []logLine {
	t.Helper()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// A line still being appended by a handler is left for the next read.
	if i := bytes.LastIndexByte(raw, '\n'); i >= 0 {
		raw = raw[:i+1]
	} else {
		raw = nil
	}
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l == "" {
			continue
		}
		if l == "barrier-timeout" {
			t.Fatal("the handler waited 30 s for concurrent invocations that never came")
		}
		f := strings.SplitN(l, " ", 3)
		id := strings.SplitN(f[0], ":", 2)
		out = append(out, logLine{shard: id[0], seq: id[1], key: f[1], data: f[2]})
	}
	return out
}

// eventually polls cond until it holds; the test fails after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seqLess(a, b string) bool {
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	return x.Cmp(y) < 0
}

func esmFunction(t *testing.T, c *lambda.Client, name, logPath string, env map[string]string) {
	t.Helper()
	vars := map[string]string{"ESM_LOG": logPath}
	for k, v := range env {
		vars[k] = v
	}
	createFunction(t, c, name, func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: vars}
		in.Timeout = aws.Int32(60)
	})
}

func TestEventSourceMappingDeliversInOrder(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "orders", 2)
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, nil)

	var before [][2]string
	for i := range 30 {
		before = append(before, [2]string{fmt.Sprintf("k%d", i%5), fmt.Sprintf("before-%d", i)})
	}
	putAll(t, k, "orders", before)

	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.State) != "Creating" || aws.ToInt32(out.BatchSize) != 7 || aws.ToInt32(out.ParallelizationFactor) != 1 ||
		aws.ToInt32(out.MaximumRetryAttempts) != -1 || aws.ToInt32(out.MaximumRecordAgeInSeconds) != -1 ||
		aws.ToString(out.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:consumer" ||
		aws.ToString(out.EventSourceMappingArn) != "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"+aws.ToString(out.UUID) ||
		out.StartingPosition != types.EventSourcePositionTrimHorizon || out.LastModified == nil {
		t.Errorf("CreateEventSourceMapping answered %+v", out)
	}
	uuid := aws.ToString(out.UUID)
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
	// Every shard's records arrive in sequence order, each once.
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

	// List filters by function and by source.
	list, err := c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String("consumer")})
	if err != nil || len(list.EventSourceMappings) != 1 || aws.ToString(list.EventSourceMappings[0].UUID) != uuid {
		t.Errorf("ListEventSourceMappings by function: %+v, %v", list, err)
	}
	list, err = c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String(streamARNPrefix + "other")})
	if err != nil || len(list.EventSourceMappings) != 0 {
		t.Errorf("ListEventSourceMappings by another source: %+v, %v", list, err)
	}

	// Disabled, it reads nothing; enabled again, it resumes where it was.
	upd, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), Enabled: aws.Bool(false)})
	if err != nil || aws.ToString(upd.State) != "Disabling" {
		t.Fatalf("disabling: %+v, %v", upd, err)
	}
	eventually(t, "the mapping to be Disabled", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		return err == nil && aws.ToString(g.State) == "Disabled"
	})
	putAll(t, k, "orders", [][2]string{{"k1", "while-disabled"}})
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), Enabled: aws.Bool(true), BatchSize: aws.Int32(50)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the record put while disabled", func() bool { return len(readLog(t, logPath)) >= 71 })

	del, err := c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
	if err != nil || aws.ToString(del.State) != "Deleting" {
		t.Fatalf("DeleteEventSourceMapping: %+v, %v", del, err)
	}
	eventually(t, "the mapping to go", func() bool {
		_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		var nf *types.ResourceNotFoundException
		return errors.As(err, &nf)
	})
}

func TestEventSourceMappingPoisonRecordIsolated(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "src", 1)
	dlqARN := createStream(t, k, "dlq", 1)
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
	created, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(20),
		BisectBatchOnFunctionError: aws.Bool(true), MaximumRetryAttempts: aws.Int32(1),
		DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(dlqARN)}},
		MetricsConfig:     &types.EventSourceMappingMetricsConfig{Metrics: []types.EventSourceMappingMetric{types.EventSourceMappingMetricEventCount}},
	})
	if err != nil {
		t.Fatal(err)
	}
	uuid := aws.ToString(created.UUID)
	// The rest of the shard moves on past the poison record.
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

	// The on-failure stream holds Lambda's invocation record for the
	// poison record alone.
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
			FunctionArn, Condition string
			ApproximateInvokeCount int
		} `json:"requestContext"`
		ResponseContext struct {
			StatusCode    int
			FunctionError string
		} `json:"responseContext"`
		Version          string `json:"version"`
		KinesisBatchInfo struct {
			ShardID             string `json:"shardId"`
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
	if bi.StartSequenceNumber != seqs[13] || bi.EndSequenceNumber != seqs[13] || bi.BatchSize != 1 ||
		bi.ShardID != "shardId-000000000000" || bi.StreamArn != arn || rec.Version != "1.0" ||
		rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.RequestContext.ApproximateInvokeCount != 2 ||
		rec.ResponseContext.FunctionError != "Unhandled" ||
		rec.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:consumer" {
		t.Errorf("on-failure record: %s", got[0].Data)
	}
	if len(got) != 1 {
		t.Errorf("%d on-failure records, want 1", len(got))
	}

	// AWS/Lambda metrics: the function's invocations and errors, and the
	// mapping's event counts (MetricsConfig EventCount).
	cw := cloudwatch.New(cloudwatch.Options{Region: servertest.Region, BaseEndpoint: aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1, HTTPClient: s.HTTPClient()})
	stat := func(metric, dimName, dimValue string) float64 {
		t.Helper()
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String("AWS/Lambda"), MetricName: aws.String(metric),
			Dimensions: []cwtypes.Dimension{{Name: aws.String(dimName), Value: aws.String(dimValue)}},
			StartTime:  aws.Time(time.Now().Add(-time.Hour)), EndTime: aws.Time(time.Now().Add(time.Minute)),
			Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticSampleCount},
		})
		if err != nil {
			t.Fatalf("GetMetricStatistics %s: %v", metric, err)
		}
		var sum float64
		for _, dp := range out.Datapoints {
			sum += aws.ToFloat64(dp.Sum)
		}
		return sum
	}
	// The poison record was invoked twice alone (a retry), and in three
	// bisected batches and the whole batch before.
	if n := stat("Errors", "FunctionName", "consumer"); n < 6 {
		t.Errorf("Errors: %v, want at least 6", n)
	}
	if inv, errs := stat("Invocations", "FunctionName", "consumer"), stat("Errors", "FunctionName", "consumer"); inv <= errs {
		t.Errorf("Invocations %v, Errors %v: the successful ones are missing", inv, errs)
	}
	if n := stat("DroppedEventCount", "EventSourceMappingUUID", uuid); n != 1 {
		t.Errorf("DroppedEventCount: %v, want 1", n)
	}
	if n := stat("OnFailureDestinationDeliveredEventCount", "EventSourceMappingUUID", uuid); n != 1 {
		t.Errorf("OnFailureDestinationDeliveredEventCount: %v, want 1", n)
	}
	if n := stat("PolledEventCount", "EventSourceMappingUUID", uuid); n != 21 {
		t.Errorf("PolledEventCount: %v, want 21", n)
	}
}

func TestEventSourceMappingParallelizationKeepsKeyOrder(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "busy", 1)
	logPath := filepath.Join(t.TempDir(), "log")
	// Each of the first ten invocations waits until ten have started: the
	// test passes only if ten batches of the one shard run at once.
	esmFunction(t, c, "consumer", logPath, map[string]string{"ESM_BARRIER": "10"})

	var recs [][2]string
	for i := range 1000 {
		recs = append(recs, [2]string{fmt.Sprintf("key-%d", i%100), fmt.Sprintf("%d", i)})
	}
	putAll(t, k, "busy", recs)
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(10),
		ParallelizationFactor: aws.Int32(10),
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "1000 records", func() bool { return len(readLog(t, logPath)) >= 1000 })
	last := map[string]string{}
	for _, l := range readLog(t, logPath) {
		if p, ok := last[l.key]; ok && !seqLess(p, l.seq) {
			t.Errorf("key %s: %s arrived after %s", l.key, l.seq, p)
		}
		last[l.key] = l.seq
	}
	if len(last) != 100 {
		t.Errorf("%d keys seen, want 100", len(last))
	}
}

func TestEventSourceMappingReportBatchItemFailures(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "partial", 1)
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, map[string]string{"ESM_REPORT": "1"})
	var recs [][2]string
	for i := range 10 {
		data := fmt.Sprintf("r%d", i)
		if i == 4 || i == 7 {
			data = fmt.Sprintf("failonce-%d", i)
		}
		recs = append(recs, [2]string{"pk", data})
	}
	putAll(t, k, "partial", recs)
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(10),
		FunctionResponseTypes: []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures},
	}); err != nil {
		t.Fatal(err)
	}
	// First invocation: r0-r3, r5, r6, r8, r9 succeed; 4 and 7 fail. The
	// batch is retried from the lowest failure, 4: 4-9 (7 fails again
	// only if not seen: it was), so 4-9 are processed. Records before 4
	// are never sent again.
	want := map[string]int{"r0": 1, "r1": 1, "r2": 1, "r3": 1, "failonce-4": 1, "r5": 2, "r6": 2, "failonce-7": 1, "r8": 2, "r9": 2}
	eventually(t, "the retried records", func() bool {
		got := map[string]int{}
		for _, l := range readLog(t, logPath) {
			got[l.data]++
		}
		return got["r9"] == 2
	})
	got := map[string]int{}
	for _, l := range readLog(t, logPath) {
		got[l.data]++
	}
	for d, n := range want {
		if got[d] != n {
			t.Errorf("%s processed %d times, want %d (all: %v)", d, got[d], n, got)
		}
	}
}

func TestEventSourceMappingValidation(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "v", 1)
	createFunction(t, c, "fn")
	base := func() *lambda.CreateEventSourceMappingInput {
		return &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("fn"), EventSourceArn: aws.String(arn),
			StartingPosition: types.EventSourcePositionLatest}
	}
	for _, tc := range []struct {
		name string
		edit func(*lambda.CreateEventSourceMappingInput)
		code string
		msg  string
	}{
		{"batch size", func(in *lambda.CreateEventSourceMappingInput) { in.BatchSize = aws.Int32(10001) }, "ValidationException", "batchSize"},
		{"parallelization", func(in *lambda.CreateEventSourceMappingInput) { in.ParallelizationFactor = aws.Int32(11) }, "ValidationException", "parallelizationFactor"},
		{"retries", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumRetryAttempts = aws.Int32(-2) }, "ValidationException", "maximumRetryAttempts"},
		{"record age", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumRecordAgeInSeconds = aws.Int32(30) }, "InvalidParameterValueException", "MaximumRecordAgeInSeconds"},
		{"no position", func(in *lambda.CreateEventSourceMappingInput) { in.StartingPosition = "" }, "InvalidParameterValueException", "startingPosition"},
		{"timestamp missing", func(in *lambda.CreateEventSourceMappingInput) {
			in.StartingPosition = types.EventSourcePositionAtTimestamp
		},
			"InvalidParameterValueException", "StartingPositionTimestamp"},
		{"future timestamp", func(in *lambda.CreateEventSourceMappingInput) {
			in.StartingPosition = types.EventSourcePositionAtTimestamp
			in.StartingPositionTimestamp = aws.Time(time.Now().Add(time.Hour))
		}, "InvalidParameterValueException", "future"},
		{"no function", func(in *lambda.CreateEventSourceMappingInput) { in.FunctionName = aws.String("nope") }, "ResourceNotFoundException", "Function not found"},
		{"no stream", func(in *lambda.CreateEventSourceMappingInput) {
			in.EventSourceArn = aws.String(streamARNPrefix + "nope")
		}, "InvalidParameterValueException", "Stream not found"},
		{"sqs source", func(in *lambda.CreateEventSourceMappingInput) {
			in.EventSourceArn = aws.String("arn:aws:sqs:us-east-1:000000000000:q")
		}, "InvalidParameterValueException", "Unrecognized event source"},
		{"on success", func(in *lambda.CreateEventSourceMappingInput) {
			in.DestinationConfig = &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String(arn)}}
		}, "InvalidParameterValueException", "Unsupported DestinationConfig"},
		{"sqs destination", func(in *lambda.CreateEventSourceMappingInput) {
			in.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:q")}}
		}, "InvalidParameterValueException", "SQS"},
		{"response types", func(in *lambda.CreateEventSourceMappingInput) {
			in.FunctionResponseTypes = []types.FunctionResponseType{"Other"}
		}, "ValidationException", "functionResponseTypes"},
		{"tumbling window with lanes", func(in *lambda.CreateEventSourceMappingInput) {
			in.TumblingWindowInSeconds, in.ParallelizationFactor = aws.Int32(60), aws.Int32(2)
		}, "InvalidParameterValueException", "ParallelizationFactor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.edit(in)
			_, err := c.CreateEventSourceMapping(ctx, in)
			code, msg := apiError(t, err)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("got %s: %s; want %s mentioning %q", code, msg, tc.code, tc.msg)
			}
		})
	}

	out, err := c.CreateEventSourceMapping(ctx, base())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateEventSourceMapping(ctx, base())
	var conflict *types.ResourceConflictException
	if !errors.As(err, &conflict) || !strings.Contains(aws.ToString(conflict.Message), aws.ToString(out.UUID)) {
		t.Errorf("a second mapping of the same function and stream: %v", err)
	}
	for _, op := range []func() error{
		func() error {
			_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String("00000000-0000-0000-0000-000000000000")})
			return err
		},
		func() error {
			_, err := c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String("00000000-0000-0000-0000-000000000000")})
			return err
		},
		func() error {
			_, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String("00000000-0000-0000-0000-000000000000"), BatchSize: aws.Int32(5)})
			return err
		},
	} {
		var nf *types.ResourceNotFoundException
		if err := op(); !errors.As(err, &nf) {
			t.Errorf("an unknown UUID: %v", err)
		}
	}
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: out.UUID, MaximumRecordAgeInSeconds: aws.Int32(59)})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("updating MaximumRecordAgeInSeconds to 59: %v", err)
	}
	// Update checks the mapping as it would be: lanes on a mapping with a
	// tumbling window are refused, and the mapping is left as it was.
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: out.UUID, TumblingWindowInSeconds: aws.Int32(60)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: out.UUID, ParallelizationFactor: aws.Int32(3)})
	if code, msg := apiError(t, err); code != "InvalidParameterValueException" || !strings.Contains(msg, "TumblingWindowInSeconds") {
		t.Errorf("updating ParallelizationFactor to 3 with a tumbling window: %v", err)
	}
	if g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID}); err != nil ||
		aws.ToInt32(g.ParallelizationFactor) != 1 || aws.ToInt32(g.TumblingWindowInSeconds) != 60 {
		t.Errorf("after the refused update: %v %v", g, err)
	}

	// Paging through more mappings than a page.
	for i := range 3 {
		name := fmt.Sprintf("fn%d", i)
		createFunction(t, c, name)
		in := base()
		in.FunctionName = aws.String(name)
		in.Enabled = aws.Bool(false)
		if _, err := c.CreateEventSourceMapping(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var uuids []string
	p := lambda.NewListEventSourceMappingsPaginator(c, &lambda.ListEventSourceMappingsInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.EventSourceMappings) > 2 {
			t.Errorf("a page of %d mappings, want at most 2", len(page.EventSourceMappings))
		}
		for _, m := range page.EventSourceMappings {
			uuids = append(uuids, aws.ToString(m.UUID))
		}
	}
	if len(uuids) != 4 {
		t.Errorf("paged through %d mappings, want 4", len(uuids))
	}
}

// After a split, the children are read only once the parent is finished:
// every key's records arrive in order across the reshard.
func TestEventSourceMappingReshardParentsFirst(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "resharded", 1)
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
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(5),
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "400 records", func() bool { return len(readLog(t, logPath)) >= 400 })
	childSeen := false
	perKey := map[string]int{}
	for _, l := range readLog(t, logPath) {
		if strings.HasPrefix(l.data, "child-") {
			childSeen = true
			if l.shard == "shardId-000000000000" {
				t.Errorf("child record %s read from the parent shard", l.data)
			}
		} else if childSeen {
			t.Errorf("parent record %s delivered after a child record", l.data)
		}
		perKey[l.key]++
	}
	if len(perKey) != 20 {
		t.Errorf("%d keys, want 20", len(perKey))
	}
}

// FilterCriteria: a record reaches the function when one filter matches
// it, on its JSON data or its metadata; the others are skipped.
func TestEventSourceMappingFilterCriteria(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "filtered", 1)
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, nil)
	_, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn), StartingPosition: types.EventSourcePositionTrimHorizon,
		FilterCriteria: &types.FilterCriteria{Filters: []types.Filter{{Pattern: aws.String(`{"data":{"kind":"order"}}`)}}},
	})
	if code, msg := apiError(t, err); code != "InvalidParameterValueException" || !strings.Contains(msg, "Invalid filter pattern definition") {
		t.Errorf("a pattern whose leaf is not a list: %s: %s", code, msg)
	}
	putAll(t, k, "filtered", [][2]string{
		{"user-1", `{"kind":"order","n":1}`},
		{"user-2", `{"kind":"refund","n":2}`},
		{"vip-1", `plain text`},
		{"user-3", `plain text`},
		{"user-4", `{"kind":"order","n":3}`},
	})
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn), StartingPosition: types.EventSourcePositionTrimHorizon,
		FilterCriteria: &types.FilterCriteria{Filters: []types.Filter{
			{Pattern: aws.String(`{"data":{"kind":["order"]}}`)},
			{Pattern: aws.String(`{"partitionKey":[{"prefix":"vip-"}]}`)},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	// The last record passes: once it is there, every record was seen.
	eventually(t, "the last order", func() bool {
		for _, l := range readLog(t, logPath) {
			if l.key == "user-4" {
				return true
			}
		}
		return false
	})
	var keys []string
	for _, l := range readLog(t, logPath) {
		keys = append(keys, l.key)
	}
	if strings.Join(keys, " ") != "user-1 vip-1 user-4" {
		t.Errorf("the function got the records of %v, want user-1 vip-1 user-4", keys)
	}
}

// LastProcessingResult is kept with the mapping's state: a restart shows
// the last one, not the one the mapping was created with.
func TestEventSourceMappingProcessingResultSurvivesRestart(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "results", 1)
	esmFunction(t, c, "consumer", filepath.Join(t.TempDir(), "log"), nil)
	putAll(t, k, "results", [][2]string{{"pk", "poison"}})
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.LastProcessingResult); got != "No records processed" {
		t.Errorf("LastProcessingResult at creation: %q", got)
	}
	const failed = "PROBLEM: Function call failed"
	eventually(t, "the failed invocation's result", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID})
		return err == nil && aws.ToString(g.LastProcessingResult) == failed
	})
	// Disabled, the mapping invokes nothing after the restart: what Get
	// shows then is what was stored before it.
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: out.UUID, Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mapping disabled", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID})
		return err == nil && aws.ToString(g.State) == "Disabled"
	})
	s.Restart(t)
	c = client(s)
	g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(g.LastProcessingResult); got != failed {
		t.Errorf("LastProcessingResult after a restart: %q, want %q", got, failed)
	}
	list, err := c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{})
	if err != nil || len(list.EventSourceMappings) != 1 {
		t.Fatalf("ListEventSourceMappings: %v %v", list, err)
	}
	if got := aws.ToString(list.EventSourceMappings[0].LastProcessingResult); got != failed {
		t.Errorf("listed LastProcessingResult after a restart: %q, want %q", got, failed)
	}
}

// A function deleted while its mapping runs: the batch that comes next
// is not delivered, the mapping reports the function missing (not a
// failure of reading its code, as a function the workers had loaded just
// before would give), and once the function is back the batch is
// delivered.
func TestEventSourceMappingFunctionDeletedAndBack(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "gone", 1)
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "consumer", logPath, nil)
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, k, "gone", [][2]string{{"pk", "first"}})
	eventually(t, "the first record delivered", func() bool { return len(readLog(t, logPath)) == 1 })
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("consumer")}); err != nil {
		t.Fatal(err)
	}
	putAll(t, k, "gone", [][2]string{{"pk", "second"}})
	const missing = "PROBLEM: Function not found: arn:aws:lambda:us-east-1:000000000000:function:consumer"
	var last string
	eventually(t, "the missing function reported", func() bool {
		g, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID})
		if err == nil {
			last = aws.ToString(g.LastProcessingResult)
		}
		if last != "No records processed" && last != "OK" && last != missing {
			t.Fatalf("LastProcessingResult %q, want %q", last, missing)
		}
		return last == missing
	})
	if got := readLog(t, logPath); len(got) != 1 {
		t.Fatalf("delivered with the function deleted: %+v", got)
	}
	esmFunction(t, c, "consumer", logPath, nil)
	eventually(t, "the second record delivered", func() bool { return len(readLog(t, logPath)) == 2 })
	if got := readLog(t, logPath); got[1].data != "second" {
		t.Errorf("delivered %+v", got)
	}
}

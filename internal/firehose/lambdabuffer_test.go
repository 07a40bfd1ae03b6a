package firehose_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose"
)

// keyFunction is a transform function that keeps each record and gives
// it the partition key p, the record's first byte; it remembers the
// first bytes of the records of each invocation.
type keyFunction struct {
	mu    sync.Mutex
	calls []string
}

func (f *keyFunction) Invoke(_ context.Context, _ string, payload []byte) ([]byte, error) {
	var req struct {
		Records []struct{ RecordID, Data string }
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	type rec struct {
		RecordID string `json:"recordId"`
		Result   string `json:"result"`
		Data     string `json:"data"`
		Metadata struct {
			PartitionKeys map[string]string `json:"partitionKeys"`
		} `json:"metadata"`
	}
	var out struct {
		Records []rec `json:"records"`
	}
	var firsts strings.Builder
	for _, r := range req.Records {
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			return nil, err
		}
		o := rec{RecordID: r.RecordID, Result: "Ok", Data: r.Data}
		o.Metadata.PartitionKeys = map[string]string{"p": string(data[:1])}
		out.Records = append(out.Records, o)
		firsts.WriteByte(data[0])
	}
	f.mu.Lock()
	f.calls = append(f.calls, firsts.String())
	f.mu.Unlock()
	return json.Marshal(out)
}

func (f *keyFunction) invocations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// lambdaPartitioned is an S3 destination partitioned by the function's
// key p, 1 MiB and 60 s, with a Lambda processor of these parameters.
func lambdaPartitioned(params ...fhtypes.ProcessorParameter) *fhtypes.ExtendedS3DestinationConfiguration {
	return s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("p=!{partitionKeyFromLambda:p}/")
		c.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
		c.BufferingHints = &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(60)}
		c.DynamicPartitioningConfiguration = &fhtypes.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)}
		params = append([]fhtypes.ProcessorParameter{{ParameterName: fhtypes.ProcessorParameterNameLambdaArn,
			ParameterValue: aws.String("arn:aws:lambda:us-east-1:123456789012:function:keys")}}, params...)
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
			{Type: fhtypes.ProcessorTypeLambda, Parameters: params}}}
	})
}

// TestLambdaBufferHints: with dynamic partitioning, the transform
// function is invoked by its own buffering hints, not once per read:
// records put one at a time wait until they hold BufferSizeInMBs (then
// go in invocations of at most that much), or until the oldest waited
// BufferIntervalInSeconds (default 60; the clock stands still until the
// test moves it).
func TestLambdaBufferHints(t *testing.T) {
	fn := &keyFunction{}
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.Lambda = fn
		o.Now = clk.Now
	})
	c := e.firehose()
	createS3(t, c, "hinted", lambdaPartitioned(fhtypes.ProcessorParameter{
		ParameterName: fhtypes.ProcessorParameterNameBufferSizeInMb, ParameterValue: aws.String("0.2")}))
	put := func(data string) {
		t.Helper()
		if _, err := c.PutRecord(t.Context(), &fh.PutRecordInput{DeliveryStreamName: aws.String("hinted"),
			Record: &fhtypes.Record{Data: []byte(data)}}); err != nil {
			t.Fatal(err)
		}
	}
	// 0.2 MiB is 209,715 bytes: a and b (200,000) are short of it, c
	// makes it; a and b then fit one invocation, c goes in the next.
	put(strings.Repeat("a", 100000))
	put(strings.Repeat("b", 100000))
	put(strings.Repeat("c", 10000))
	eventually(t, "two invocations", func() bool { return len(fn.invocations()) >= 2 })
	if got := fn.invocations(); len(got) != 2 || got[0] != "ab" || got[1] != "c" {
		t.Fatalf("invocations %q, want [ab c]: one by the size hint, split at 0.2 MiB", got)
	}

	// d and e in one call: one append, so one read takes both, before or
	// after the clock moves (read apart, each would be flushed alone once
	// its arrival is 60 s old).
	if out, err := c.PutRecordBatch(t.Context(), &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("hinted"),
		Records: []fhtypes.Record{{Data: []byte("d")}, {Data: []byte("e")}}}); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch d, e: %v", err)
	}
	if got := fn.invocations(); len(got) != 2 {
		t.Fatalf("invocations %q before the 60 s interval", got)
	}
	clk.advance(61 * time.Second)
	eventually(t, "the interval's invocation and the five partitions", func() bool {
		return len(fn.invocations()) == 3 && len(e.s3.keys("b/p=")) == 5
	})
	if got := fn.invocations(); got[2] != "de" {
		t.Fatalf("invocation by the interval %q, want de", got[2])
	}
	if got := string(e.s3.get(e.s3.keys("b/p=d/")[0])); got != "d" {
		t.Fatalf("partition d: %q", got)
	}
}

// TestLambdaBufferIntervalParameter: BufferIntervalInSeconds is a whole
// number of seconds from 0 to 900.
func TestLambdaBufferIntervalParameter(t *testing.T) {
	e := newEnv(t, func(o *firehose.Options) { o.Lambda = &keyFunction{} })
	c := e.firehose()
	for _, v := range []string{"901", "-1", "1.5", "x"} {
		_, err := c.CreateDeliveryStream(t.Context(), &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"),
			ExtendedS3DestinationConfiguration: lambdaPartitioned(fhtypes.ProcessorParameter{
				ParameterName: fhtypes.ProcessorParameterNameBufferIntervalInSeconds, ParameterValue: aws.String(v)})})
		if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, "BufferIntervalInSeconds") {
			t.Fatalf("%s: %s", v, msg)
		}
	}
	createS3(t, c, "zero", lambdaPartitioned(fhtypes.ProcessorParameter{
		ParameterName: fhtypes.ProcessorParameterNameBufferIntervalInSeconds, ParameterValue: aws.String("0")}))
}

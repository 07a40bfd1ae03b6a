package firehose_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/firehose"
)

// objectKey is <prefix>YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-dd-HH-MM-SS-<uuid>.
var objectKey = regexp.MustCompile(`^b/(\d{4})/(\d{2})/(\d{2})/(\d{2})/d-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})-\d{2}-\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func putBatch(t *testing.T, c *fh.Client, name string, data ...string) {
	t.Helper()
	recs := make([]fhtypes.Record, len(data))
	for i, d := range data {
		recs[i].Data = []byte(d)
	}
	out, err := c.PutRecordBatch(t.Context(), &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(name), Records: recs})
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch: %v", err)
	}
}

func TestDeliverToS3(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "d", s3Dest("b"))
	putBatch(t, c, "d", "a", "b", "c")
	eventually(t, "one object", func() bool { return len(e.s3.keys("b/")) == 1 })
	key := e.s3.keys("b/")[0]
	m := objectKey.FindStringSubmatch(key)
	if m == nil {
		t.Fatalf("key %s is not named as Firehose names objects", key)
	}
	if m[1] != m[5] || m[2] != m[6] || m[3] != m[7] || m[4] != m[8] {
		t.Fatalf("key %s: the prefix hour and the name's time differ", key)
	}
	// Records are concatenated with no separator, as Firehose writes them.
	if got := string(e.s3.get(key)); got != "abc" {
		t.Fatalf("object %q, want abc", got)
	}
}

func TestCompressionAndDelimiter(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "g", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("gz/")
		c.CompressionFormat = fhtypes.CompressionFormatGzip
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
	}))
	putBatch(t, c, "g", `{"n":1}`, `{"n":2}`)
	eventually(t, "a gzip object", func() bool { return len(e.s3.keys("b/gz/")) == 1 })
	key := e.s3.keys("b/gz/")[0]
	if !strings.HasSuffix(key, ".gz") {
		t.Fatalf("key %s has no .gz", key)
	}
	zr, err := gzip.NewReader(bytes.NewReader(e.s3.get(key)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if string(body) != "{\"n\":1}\n{\"n\":2}\n" {
		t.Fatalf("body %q", body)
	}
}

func TestDynamicPartitioning(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "dp", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("customer=!{partitionKeyFromQuery:customer}/y=!{timestamp:yyyy}/")
		c.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
		c.DynamicPartitioningConfiguration = &fhtypes.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)}
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
			{Type: fhtypes.ProcessorTypeMetadataExtraction, Parameters: []fhtypes.ProcessorParameter{
				{ParameterName: fhtypes.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String("{customer: .customer_id}")},
				{ParameterName: fhtypes.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")}}},
			{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
	}))
	putBatch(t, c, "dp", `{"customer_id":"a","v":1}`, `{"customer_id":7,"v":2}`, `not json`, `{"customer_id":"a","v":3}`)
	eventually(t, "two partitions and an error object", func() bool {
		return len(e.s3.keys("b/customer=a/")) == 1 && len(e.s3.keys("b/customer=7/")) == 1 && len(e.s3.keys("b/errors/processing-failed/")) == 1
	})
	if got := string(e.s3.get(e.s3.keys("b/customer=a/")[0])); got != "{\"customer_id\":\"a\",\"v\":1}\n{\"customer_id\":\"a\",\"v\":3}\n" {
		t.Fatalf("partition a: %q", got)
	}
	var er struct {
		ErrorCode string `json:"errorCode"`
		RawData   string `json:"rawData"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(e.s3.get(e.s3.keys("b/errors/processing-failed/")[0])), &er); err != nil {
		t.Fatal(err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(er.RawData); string(raw) != "not json" || er.ErrorCode == "" {
		t.Fatalf("error record %+v", er)
	}
}

func TestDeaggregation(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "da", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("da/")
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
			{Type: fhtypes.ProcessorTypeRecordDeAggregation, Parameters: []fhtypes.ProcessorParameter{
				{ParameterName: fhtypes.ProcessorParameterNameSubRecordType, ParameterValue: aws.String("JSON")}}},
			{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
	}))
	putBatch(t, c, "da", `{"a":1}{"a":2}`, "{\"a\": 3}\n")
	eventually(t, "an object", func() bool { return len(e.s3.keys("b/da/")) == 1 })
	if got := string(e.s3.get(e.s3.keys("b/da/")[0])); got != "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n" {
		t.Fatalf("body %q", got)
	}
}

func TestS3RetriesThenDelivers(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "r", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) { c.Prefix = aws.String("r/") }))
	e.s3.mu.Lock()
	e.s3.fail = 3
	e.s3.mu.Unlock()
	putBatch(t, c, "r", "x")
	eventually(t, "the object after three failed writes", func() bool { return len(e.s3.keys("b/r/")) == 1 })
}

func TestRestartDeliversBuffered(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "rs", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("rs/")
		c.BufferingHints.IntervalInSeconds = aws.Int32(900)
		c.BufferingHints.SizeInMBs = aws.Int32(1)
	}))
	putBatch(t, c, "rs", "1", "2", "3")
	e.restart()
	// After the restart the buffer is read again from the log; a full
	// buffer's worth of records flushes it all.
	big := strings.Repeat("x", 600*1024)
	putBatch(t, c, "rs", big, big)
	eventually(t, "one object with every record", func() bool { return len(e.s3.keys("b/rs/")) == 1 })
	if got := string(e.s3.get(e.s3.keys("b/rs/")[0])); got != "123"+big+big {
		t.Fatalf("object of %d bytes, want the 3 small records then the 2 big ones", len(got))
	}
}

func TestKinesisSource(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	kc := e.kinesis()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("src"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stream ACTIVE", func() bool {
		d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("src")})
		return err == nil && d.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive
	})
	c := e.firehose()
	_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("ks"), DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/src"),
			RoleARN: aws.String("arn:aws:iam::123456789012:role/r")},
		ExtendedS3DestinationConfiguration: s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
			c.Prefix = aws.String("ks/")
			c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
		})})
	if err != nil {
		t.Fatal(err)
	}
	d := waitActive(t, c, "ks")
	if d.Source == nil || d.Source.KinesisStreamSourceDescription == nil {
		t.Fatalf("source %+v", d.Source)
	}
	var entries []ktypes.PutRecordsRequestEntry
	for i := range 20 {
		entries = append(entries, ktypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("r%02d", i)), PartitionKey: aws.String(fmt.Sprint(i))})
	}
	if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("src"), Records: entries}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	eventually(t, "every record in S3", func() bool {
		for _, k := range e.s3.keys("b/ks/") {
			for _, line := range strings.Split(strings.TrimSpace(string(e.s3.get(k))), "\n") {
				got[line] = true
			}
		}
		return len(got) == 20
	})
}

// endpoint is an HTTPS endpoint that fails the first `fail` requests.
type endpoint struct {
	mu       sync.Mutex
	fail     int
	requests []*http.Request
	bodies   [][]byte
}

func (ep *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ep.mu.Lock()
	ep.requests = append(ep.requests, r)
	ep.bodies = append(ep.bodies, body)
	fail := ep.fail > 0
	if fail {
		ep.fail--
	}
	ep.mu.Unlock()
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, _ = io.ReadAll(zr)
		}
	}
	var req struct{ RequestID string }
	_ = json.Unmarshal(body, &req)
	w.Header().Set("Content-Type", "application/json")
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"requestId":%q,"timestamp":1,"errorMessage":"busy"}`, req.RequestID)
		return
	}
	fmt.Fprintf(w, `{"requestId":%q,"timestamp":1}`, req.RequestID)
}

func (ep *endpoint) count() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return len(ep.requests)
}

func httpDest(url string, retry int32) *fhtypes.HttpEndpointDestinationConfiguration {
	return &fhtypes.HttpEndpointDestinationConfiguration{
		EndpointConfiguration: &fhtypes.HttpEndpointConfiguration{Url: aws.String(url), Name: aws.String("ep"), AccessKey: aws.String("k3y")},
		RequestConfiguration: &fhtypes.HttpEndpointRequestConfiguration{ContentEncoding: fhtypes.ContentEncodingGzip,
			CommonAttributes: []fhtypes.HttpEndpointCommonAttribute{{AttributeName: aws.String("env"), AttributeValue: aws.String("test")}}},
		BufferingHints: &fhtypes.HttpEndpointBufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		RetryOptions:   &fhtypes.HttpEndpointRetryOptions{DurationInSeconds: aws.Int32(retry)},
		S3Configuration: &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::backup"),
			RoleARN: aws.String("arn:aws:iam::123456789012:role/r")},
	}
}

func TestHTTPEndpoint(t *testing.T) {
	ep := &endpoint{fail: 2}
	ts := httptest.NewTLSServer(ep)
	defer ts.Close()
	e := newEnv(t, func(o *firehose.Options) { o.HTTPClient = ts.Client() })
	c := e.firehose()
	ctx := t.Context()
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("h"),
		HttpEndpointDestinationConfiguration: httpDest(ts.URL, 300)}); err != nil {
		t.Fatal(err)
	}
	d := waitActive(t, c, "h")
	hd := d.Destinations[0].HttpEndpointDestinationDescription
	if hd == nil || aws.ToString(hd.EndpointConfiguration.Url) != ts.URL || hd.S3DestinationDescription == nil {
		t.Fatalf("description %+v", hd)
	}
	putBatch(t, c, "h", "hello", "")
	eventually(t, "a successful request after two failures", func() bool { return ep.count() == 3 })
	ep.mu.Lock()
	defer ep.mu.Unlock()
	id := ep.requests[0].Header.Get("X-Amz-Firehose-Request-Id")
	for i, r := range ep.requests {
		h := r.Header
		if h.Get("X-Amz-Firehose-Request-Id") != id || id == "" {
			t.Fatalf("request %d has request id %q, the first %q", i, h.Get("X-Amz-Firehose-Request-Id"), id)
		}
		if h.Get("X-Amz-Firehose-Access-Key") != "k3y" || h.Get("X-Amz-Firehose-Protocol-Version") != "1.0" ||
			h.Get("X-Amz-Firehose-Common-Attributes") != `{"commonAttributes":{"env":"test"}}` ||
			h.Get("X-Amz-Firehose-Source-Arn") != "arn:aws:firehose:us-east-1:123456789012:deliverystream/h" ||
			h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d headers %v", i, h)
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(ep.bodies[2]))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		RequestID string `json:"requestId"`
		Timestamp int64  `json:"timestamp"`
		Records   []struct {
			Data string `json:"data"`
		} `json:"records"`
	}
	if err := json.NewDecoder(zr).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.RequestID != id || body.Timestamp == 0 || len(body.Records) != 2 || body.Records[0].Data != "aGVsbG8=" || body.Records[1].Data != "" {
		t.Fatalf("body %+v", body)
	}
}

func TestHTTPEndpointFailureGoesToS3(t *testing.T) {
	ep := &endpoint{fail: 1 << 30}
	ts := httptest.NewTLSServer(ep)
	defer ts.Close()
	e := newEnv(t, func(o *firehose.Options) { o.HTTPClient = ts.Client() })
	c := e.firehose()
	if _, err := c.CreateDeliveryStream(t.Context(), &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("hf"),
		HttpEndpointDestinationConfiguration: httpDest(ts.URL, 0)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "hf")
	putBatch(t, c, "hf", "lost?")
	eventually(t, "the error object", func() bool { return len(e.s3.keys("backup/http-endpoint-failed/")) == 1 })
	var er struct {
		ErrorCode, ErrorMessage, RawData string
	}
	if err := json.Unmarshal(bytes.TrimSpace(e.s3.get(e.s3.keys("backup/http-endpoint-failed/")[0])), &er); err != nil {
		t.Fatal(err)
	}
	if er.ErrorCode != "HttpEndpoint.DestinationException" || !strings.Contains(er.ErrorMessage, "busy") || er.RawData != "bG9zdD8=" {
		t.Fatalf("error record %+v", er)
	}
}

var _ = context.Background

func TestSourceRecordBackup(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "bk", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("main/")
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
		c.S3BackupMode = fhtypes.S3BackupModeEnabled
		c.S3BackupConfiguration = &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::bk"),
			RoleARN: aws.String("arn:aws:iam::123456789012:role/r"), Prefix: aws.String("source/")}
	}))
	putBatch(t, c, "bk", "x", "y")
	eventually(t, "the object and its source backup", func() bool { return len(e.s3.keys("b/main/")) == 1 && len(e.s3.keys("bk/source/")) == 1 })
	if got := string(e.s3.get(e.s3.keys("b/main/")[0])); got != "x\ny\n" {
		t.Fatalf("object %q", got)
	}
	if got := string(e.s3.get(e.s3.keys("bk/source/")[0])); got != "xy" {
		t.Fatalf("backup %q: want the records as they came in", got)
	}
	// Source record backup cannot be switched off.
	_, err := c.UpdateDestination(t.Context(), &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("bk"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{S3BackupMode: fhtypes.S3BackupModeDisabled}})
	apiError(t, err, "InvalidArgumentException")
}

// TestKinesisSourceCheckpoints restarts a Kinesis-source delivery stream
// once its progress names the last record of every shard: the new run
// delivers only what came after.
func TestKinesisSourceCheckpoints(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	kc := e.kinesis()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("cp"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stream ACTIVE", func() bool {
		d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("cp")})
		return err == nil && d.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive
	})
	c := e.firehose()
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("cph"), DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/cp"),
			RoleARN: aws.String("arn:aws:iam::123456789012:role/r")},
		ExtendedS3DestinationConfiguration: s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) { c.Prefix = aws.String("cp/") })}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "cph")
	put := func(from, n int) map[string]string {
		var entries []ktypes.PutRecordsRequestEntry
		for i := from; i < from+n; i++ {
			entries = append(entries, ktypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("r%02d;", i)), PartitionKey: aws.String(fmt.Sprint(i))})
		}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("cp"), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]string{}
		for _, r := range out.Records {
			last[aws.ToString(r.ShardId)] = aws.ToString(r.SequenceNumber)
		}
		return last
	}
	last := put(0, 20)
	eventually(t, "the progress at the last record of each shard", func() bool {
		kvs, err := e.engine.List(ctx, "firehose/progress/")
		if err != nil || len(kvs) != 1 {
			return false
		}
		var p struct{ Shards map[string]string }
		if json.Unmarshal(kvs[0].Value, &p) != nil {
			return false
		}
		for sh, seq := range last {
			if p.Shards[sh] != seq {
				return false
			}
		}
		return true
	})
	e.restart()
	put(20, 5)
	eventually(t, "all 25 records in S3", func() bool {
		n := 0
		for _, k := range e.s3.keys("b/cp/") {
			n += strings.Count(string(e.s3.get(k)), ";")
		}
		return n >= 25
	})
	// An object is in S3 just before its delivery is counted.
	var delivered int64
	eventually(t, "the delivery of the 5 new records to be counted", func() bool {
		delivered = 0
		for _, st := range e.svc.Stats() {
			delivered += st.Counters.DeliveryRecords.Load()
		}
		return delivered >= 5
	})
	if delivered != 5 {
		t.Fatalf("after the restart %d records were delivered, want only the 5 new ones", delivered)
	}
}

package firehose_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
)

func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// cwlDest is an S3 destination that decompresses CloudWatch Logs
// subscription data, extracting the messages when extract is "true".
func cwlDest(bucket, prefix, extract string) *fhtypes.ExtendedS3DestinationConfiguration {
	return s3Dest(bucket, func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String(prefix)
		c.ErrorOutputPrefix = aws.String(prefix + "errors/!{firehose:error-output-type}/")
		procs := []fhtypes.Processor{{Type: fhtypes.ProcessorTypeDecompression, Parameters: []fhtypes.ProcessorParameter{
			{ParameterName: fhtypes.ProcessorParameterNameCompressionFormat, ParameterValue: aws.String("GZIP")}}}}
		if extract != "" {
			procs = append(procs, fhtypes.Processor{Type: fhtypes.ProcessorTypeCloudWatchLogProcessing, Parameters: []fhtypes.ProcessorParameter{
				{ParameterName: fhtypes.ProcessorParameterNameDataMessageExtraction, ParameterValue: aws.String(extract)}}})
		}
		procs = append(procs, fhtypes.Processor{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord})
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: procs}
	})
}

// TestCloudWatchLogsProcessing puts CloudWatch Logs subscription data
// (GZIP JSON, as CloudWatch Logs sends it) through the Go SDK and reads
// what a real S3 server received: with message extraction each log
// event's message is a record and control messages are dropped; with
// decompression alone the JSON is delivered; a record that is not GZIP
// goes to the error output as decompression-failed, as it came.
func TestCloudWatchLogsProcessing(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "fh-cwlogs")
	e := newEnv(t, func(o *firehose.Options) { o.S3 = s3.ClientPutter{Client: srv.Client} })
	c := e.firehose()
	ctx := t.Context()

	for _, bad := range []struct {
		dest *fhtypes.ExtendedS3DestinationConfiguration
		want string
	}{
		{s3Dest(bucket, func(c *fhtypes.ExtendedS3DestinationConfiguration) {
			c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
				{Type: fhtypes.ProcessorTypeCloudWatchLogProcessing, Parameters: []fhtypes.ProcessorParameter{
					{ParameterName: fhtypes.ProcessorParameterNameDataMessageExtraction, ParameterValue: aws.String("true")}}}}}
		}), "needs a Decompression processor"},
		{s3Dest(bucket, func(c *fhtypes.ExtendedS3DestinationConfiguration) {
			c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
				{Type: fhtypes.ProcessorTypeDecompression, Parameters: []fhtypes.ProcessorParameter{
					{ParameterName: fhtypes.ProcessorParameterNameCompressionFormat, ParameterValue: aws.String("ZIP")}}}}}
		}), "is not GZIP"},
		{cwlDest(bucket, "x/", "yes"), "DataMessageExtraction true or false"},
	} {
		_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("refused"), ExtendedS3DestinationConfiguration: bad.dest})
		if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, bad.want) {
			t.Errorf("got %q, want it to say %q", msg, bad.want)
		}
	}

	data := gz(t, `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"app","logStream":"s1","subscriptionFilters":["f"],`+
		`"logEvents":[{"id":"1","timestamp":1765062986000,"message":"first line"},{"id":"2","timestamp":1765062986001,"message":"{\"level\":\"info\"}"}]}`)
	control := gz(t, `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],`+
		`"logEvents":[{"id":"","timestamp":1765062986000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`)

	createS3(t, c, "extract", cwlDest(bucket, "extract/", "true"))
	putBatch(t, c, "extract", data, control, "plain text")
	createS3(t, c, "decompress", cwlDest(bucket, "decompress/", ""))
	putBatch(t, c, "decompress", gz(t, `{"messageType":"DATA_MESSAGE","logEvents":[]}`))

	keys := func(prefix string) []string {
		k, err := srv.Keys(ctx, bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	get := func(key string) string {
		b, err := srv.Get(ctx, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	eventually(t, "the objects", func() bool {
		return len(keys("extract/errors/decompression-failed/")) == 1 && len(keys("decompress/")) == 1 &&
			len(keys("extract/")) == 2
	})
	var delivered string
	for _, k := range keys("extract/") {
		if !strings.HasPrefix(k, "extract/errors/") {
			delivered = get(k)
		}
	}
	if delivered != "first line\n{\"level\":\"info\"}\n" {
		t.Errorf("extracted messages %q", delivered)
	}
	if got := get(keys("decompress/")[0]); got != "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[]}\n" {
		t.Errorf("decompressed record %q", got)
	}
	var er struct {
		ErrorCode string `json:"errorCode"`
		RawData   string `json:"rawData"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(get(keys("extract/errors/decompression-failed/")[0]))), &er); err != nil {
		t.Fatal(err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(er.RawData); string(raw) != "plain text" || er.ErrorCode != "Decompression.Failed" {
		t.Errorf("error record %+v", er)
	}
}

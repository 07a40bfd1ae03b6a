package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// transformHandler is a Firehose transform function (a Lambda function
// whose handler is this endpoint): "drop" is Dropped, "fail" is
// ProcessingFailed, anything else is upper-cased, with the partition key
// kind = the record's first letter.
func transformHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Records []struct{ RecordID, Data string } `json:"records"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type rec struct {
		RecordID string `json:"recordId"`
		Result   string `json:"result"`
		Data     string `json:"data,omitempty"`
		Metadata any    `json:"metadata,omitempty"`
	}
	var out struct {
		Records []rec `json:"records"`
	}
	for _, in := range req.Records {
		data, _ := base64.StdEncoding.DecodeString(in.Data)
		switch string(data) {
		case "drop":
			out.Records = append(out.Records, rec{RecordID: in.RecordID, Result: "Dropped"})
		case "fail":
			out.Records = append(out.Records, rec{RecordID: in.RecordID, Result: "ProcessingFailed"})
		default:
			out.Records = append(out.Records, rec{RecordID: in.RecordID, Result: "Ok",
				Data:     base64.StdEncoding.EncodeToString([]byte(strings.ToUpper(string(data)))),
				Metadata: map[string]any{"partitionKeys": map[string]string{"kind": string(data[:1])}}})
		}
	}
	json.NewEncoder(w).Encode(out)
}

// TestFirehoseLambdaTransform runs a delivery stream's records through a
// Lambda function: what it transforms lands in S3 under its partition
// keys, what it drops is gone, what it fails is under processing-failed.
func TestFirehoseLambdaTransform(t *testing.T) {
	s3srv := s3test.Start(t)
	fn := httptest.NewServer(http.HandlerFunc(transformHandler))
	defer fn.Close()
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	bucket := s3srv.Bucket(t, "transform")
	ctx := t.Context()
	creds := credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, "")
	lc := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	created, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("upper"), Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String(fn.URL), Role: aws.String("arn:aws:iam::123456789012:role/lambda"), Code: &ltypes.FunctionCode{}})
	if err != nil {
		t.Fatal(err)
	}
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	_, err = c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("transformed"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix:                           aws.String("kind=!{partitionKeyFromLambda:kind}/"),
			ErrorOutputPrefix:                aws.String("errors/!{firehose:error-output-type}/"),
			BufferingHints:                   &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
			DynamicPartitioningConfiguration: &fhtypes.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)},
			ProcessingConfiguration: &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
				{Type: fhtypes.ProcessorTypeLambda, Parameters: []fhtypes.ProcessorParameter{
					{ParameterName: fhtypes.ProcessorParameterNameLambdaArn, ParameterValue: created.FunctionArn},
					{ParameterName: fhtypes.ProcessorParameterNameBufferIntervalInSeconds, ParameterValue: aws.String("0")}}},
				{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("transformed")})
		if err != nil {
			t.Fatal(err)
		}
		if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var recs []fhtypes.Record
	for _, s := range []string{"apple", "drop", "fail", "avocado", "banana"} {
		recs = append(recs, fhtypes.Record{Data: []byte(s)})
	}
	if _, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("transformed"), Records: recs}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kind=a/": "APPLE\nAVOCADO\n", "kind=b/": "BANANA\n"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]string{}
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		var errorLines []string
		for _, k := range keys {
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(k, "errors/processing-failed/"):
				errorLines = append(errorLines, strings.Split(strings.TrimSpace(string(body)), "\n")...)
			case strings.HasPrefix(k, "kind="):
				got[k[:strings.IndexByte(k, '/')+1]] += string(body)
			default:
				t.Fatalf("unexpected object %s", k)
			}
		}
		if len(got) == 2 && got["kind=a/"] == want["kind=a/"] && got["kind=b/"] == want["kind=b/"] && len(errorLines) == 1 {
			var er struct{ ErrorCode, RawData, LambdaArn string }
			if err := json.Unmarshal([]byte(errorLines[0]), &er); err != nil {
				t.Fatal(err)
			}
			if raw, _ := base64.StdEncoding.DecodeString(er.RawData); string(raw) != "fail" || er.ErrorCode != "Lambda.ProcessingFailed" || er.LambdaArn != aws.ToString(created.FunctionArn) {
				t.Fatalf("error record %+v", er)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("objects %v, error lines %v; want %v and one processing-failed record", got, errorLines, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package server_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestFirehoseToS3 delivers records put through the Go SDK to a real S3
// server process, as gzip objects named as Firehose names them.
func TestFirehoseToS3(t *testing.T) {
	s3srv := s3test.Start(t)
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	bucket := s3srv.Bucket(t, "firehose")
	ctx := t.Context()
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("to-s3"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix:            aws.String("logs/"),
			CompressionFormat: fhtypes.CompressionFormatGzip,
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
			ProcessingConfiguration: &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true),
				Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("to-s3")})
		if err != nil {
			t.Fatal(err)
		}
		if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	const n = 1500
	want := map[string]bool{}
	for b := 0; b < n/500; b++ {
		recs := make([]fhtypes.Record, 500)
		for i := range recs {
			s := fmt.Sprintf(`{"n":%d}`, b*500+i)
			want[s] = true
			recs[i].Data = []byte(s)
		}
		out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("to-s3"), Records: recs})
		if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
			t.Fatalf("PutRecordBatch: %v", err)
		}
	}
	name := regexp.MustCompile(`^logs/\d{4}/\d{2}/\d{2}/\d{2}/to-s3-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.gz$`)
	got := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records in S3", len(got), n)
		}
		time.Sleep(100 * time.Millisecond)
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if !name.MatchString(k) {
				t.Fatalf("object %s is not named as Firehose names objects", k)
			}
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s is not gzip: %v", k, err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n") {
				if !want[line] {
					t.Fatalf("%s holds %q, which was never put", k, line)
				}
				got[line] = true
			}
		}
	}

	// The AWS/Firehose metrics count what was put and delivered.
	cw := cloudWatchClients(srv)["json-1.0"]
	start, end := time.Now().Add(-10*time.Minute), time.Now().Add(5*time.Minute)
	sum := func(metric string) float64 {
		st, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String("AWS/Firehose"), MetricName: aws.String(metric),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("DeliveryStreamName"), Value: aws.String("to-s3")}},
			StartTime:  aws.Time(start), EndTime: aws.Time(end), Period: aws.Int32(60),
			Statistics: []cwtypes.Statistic{cwtypes.StatisticSum},
		})
		if err != nil {
			t.Fatal(err)
		}
		return sumOf(st.Datapoints)
	}
	if got := sum("IncomingRecords"); got != n {
		t.Errorf("IncomingRecords Sum %v, want %d", got, n)
	}
	if got := sum("IncomingPutRequests"); got != n/500 {
		t.Errorf("IncomingPutRequests Sum %v, want %d", got, n/500)
	}
	if got := sum("DeliveryToS3.Records"); got != n {
		t.Errorf("DeliveryToS3.Records Sum %v, want %d", got, n)
	}
}

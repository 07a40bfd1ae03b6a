package server_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// BenchmarkFirehoseToS3 puts 1 KiB JSON records into one delivery stream
// (PutRecordBatch of 500, four writers) and waits until every one is in
// the S3 server as gzip objects: the figure is end-to-end, from the first
// put to the last record in S3. docs/performance.md has the results.
func BenchmarkFirehoseToS3(b *testing.B) {
	s3srv := s3test.Start(b)
	srv := servertest.Start(b, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	bucket := s3srv.Bucket(b, "bench")
	ctx := b.Context()
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("bench"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/r"),
			CompressionFormat: fhtypes.CompressionFormatGzip,
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(1)},
		}}); err != nil {
		b.Fatal(err)
	}
	for {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("bench")})
		if err != nil {
			b.Fatal(err)
		}
		if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// 1 KiB JSON records, newline-terminated, each naming its number.
	record := func(n int) []byte {
		head := fmt.Sprintf(`{"n":%d,"user":"u%d","event":"click","pad":"`, n, n%1000)
		return []byte(head + strings.Repeat("x", 1024-len(head)-3) + "\"}\n")
	}
	const batch = 500
	b.SetBytes(batch * 1024)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				recs := make([]fhtypes.Record, batch)
				for j := range recs {
					recs[j].Data = record(i*batch + j)
				}
				out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("bench"), Records: recs})
				if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
					b.Errorf("PutRecordBatch: %v", err)
					return
				}
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	putSecs := time.Since(start).Seconds()
	want := b.N * batch
	seen := map[string]bool{}
	got := 0
	deadline := time.Now().Add(10 * time.Minute)
	for got < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d records in S3", got, want)
		}
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				b.Fatal(err)
			}
			got += bytes.Count(plain, []byte("\n"))
		}
		if got < want {
			time.Sleep(50 * time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(seen)), "objects")
	// How fast the puts alone were acknowledged (durable in the log).
	b.ReportMetric(float64(b.N*batch*1024)/1e6/putSecs, "put-MB/s")
}

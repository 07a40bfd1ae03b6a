package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/parquet-go/parquet-go"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// BenchmarkFirehoseToS3 puts 1 KiB JSON records into one delivery stream
// (PutRecordBatch of 500, four writers) and waits until every one is in
// the S3 server: the figure is end-to-end, from the first put to the last
// record in S3. Sub-benchmarks:
//
//   - gzip/sdk: objects gzip'd, the puts made with aws-sdk-go-v2;
//   - gzip/http: the same request bytes, signed with the SDK's SigV4
//     signer, sent with net/http (no SDK serialization in the process);
//   - varied/sdk: gzip/sdk with records of varied text, which gzip
//     shrinks 3 to 4 times instead of 85;
//   - parquet/sdk: records converted to Snappy Parquet, puts with the SDK.
//
// docs/performance.md has the results.
func BenchmarkFirehoseToS3(b *testing.B) {
	s3srv := s3test.Start(b)
	glue := b.TempDir()
	table := `{"Table":{"Name":"events","StorageDescriptor":{"Columns":[` +
		`{"Name":"n","Type":"bigint"},{"Name":"user","Type":"string"},{"Name":"event","Type":"string"},{"Name":"pad","Type":"string"}]}}}`
	if err := os.WriteFile(filepath.Join(glue, "db.events.json"), []byte(table), 0o644); err != nil {
		b.Fatal(err)
	}
	srv := servertest.Start(b, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
		c.FirehoseGlueTables = glue
	})
	bucket := s3srv.Bucket(b, "bench")
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	var streams int
	// create makes a new delivery stream (each run its own prefix) and
	// returns its name.
	create := func(b *testing.B, parquet bool) string {
		streams++
		name := fmt.Sprintf("bench-%d", streams)
		dest := &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/r"),
			Prefix:            aws.String(name + "/"),
			CompressionFormat: fhtypes.CompressionFormatGzip,
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(1)},
		}
		if parquet {
			dest.CompressionFormat = fhtypes.CompressionFormatUncompressed
			dest.DataFormatConversionConfiguration = &fhtypes.DataFormatConversionConfiguration{
				InputFormatConfiguration:  &fhtypes.InputFormatConfiguration{Deserializer: &fhtypes.Deserializer{OpenXJsonSerDe: &fhtypes.OpenXJsonSerDe{}}},
				OutputFormatConfiguration: &fhtypes.OutputFormatConfiguration{Serializer: &fhtypes.Serializer{ParquetSerDe: &fhtypes.ParquetSerDe{}}},
				SchemaConfiguration:       &fhtypes.SchemaConfiguration{DatabaseName: aws.String("db"), TableName: aws.String("events")},
			}
		}
		ctx := b.Context()
		if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(name), ExtendedS3DestinationConfiguration: dest}); err != nil {
			b.Fatal(err)
		}
		for {
			d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
			if err != nil {
				b.Fatal(err)
			}
			if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
				return name
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// 1 KiB JSON records, newline-terminated, each naming its number:
	// padded, a run of "x" (gzip shrinks it about 85 times), or varied,
	// fields and text drawn from a small vocabulary as logs are (gzip
	// shrinks them 3 to 4 times), built from 4,096 tails made once.
	padded := func(n int) []byte {
		head := fmt.Sprintf(`{"n":%d,"user":"u%d","event":"click","pad":"`, n, n%1000)
		return []byte(head + strings.Repeat("x", 1024-len(head)-3) + "\"}\n")
	}
	tails := variedTails(4096)
	varied := func(n int) []byte {
		t := tails[n%len(tails)]
		return []byte(fmt.Sprintf(`{"n":%d,`, n) + t[len(`{"n":0,`):])
	}
	const batch = 500

	// sdkPut puts one batch with the SDK.
	sdkPut := func(ctx context.Context, stream string, first int, record func(int) []byte) error {
		recs := make([]fhtypes.Record, batch)
		for j := range recs {
			recs[j].Data = record(first + j)
		}
		out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: recs})
		if err == nil && aws.ToInt32(out.FailedPutCount) != 0 {
			err = fmt.Errorf("%d records failed", aws.ToInt32(out.FailedPutCount))
		}
		return err
	}
	// httpPut sends the request the SDK sends, signed with its signer.
	hc := srv.HTTPClient()
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: servertest.AccessKeyID, SecretAccessKey: servertest.SecretAccessKey}
	httpPut := func(ctx context.Context, stream string, first int, record func(int) []byte) error {
		body := make([]byte, 0, batch*1400+100)
		body = append(body, `{"DeliveryStreamName":"`+stream+`","Records":[`...)
		for j := range batch {
			if j > 0 {
				body = append(body, ',')
			}
			body = append(body, `{"Data":"`...)
			body = base64.StdEncoding.AppendEncode(body, record(first+j))
			body = append(body, `"}`...)
		}
		body = append(body, "]}"...)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "Firehose_20150804.PutRecordBatch")
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "firehose", servertest.Region, time.Now()); err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct{ FailedPutCount int }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.FailedPutCount != 0 {
			return fmt.Errorf("status %d, %d records failed, %v", resp.StatusCode, out.FailedPutCount, err)
		}
		return nil
	}
	// gzipRecords counts the lines of a gzip object (read with the
	// standard library's reader, not the writer's), streaming through one
	// buffer; parquetRecords the rows of a Parquet object.
	buf := make([]byte, 256<<10)
	gzipRecords := func(body []byte) (int, error) {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		n := 0
		for {
			k, err := zr.Read(buf)
			n += bytes.Count(buf[:k], []byte("\n"))
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return 0, err
			}
		}
	}
	parquetRecords := func(body []byte) (int, error) {
		f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			return 0, err
		}
		return int(f.NumRows()), nil
	}

	run := func(b *testing.B, parquet bool, put func(context.Context, string, int, func(int) []byte) error, record func(int) []byte,
		count func([]byte) (int, error)) {
		stream := create(b, parquet)
		ctx := b.Context()
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
					if err := put(ctx, stream, i*batch, record); err != nil {
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
			keys, err := s3srv.Keys(ctx, bucket, stream+"/")
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
				n, err := count(body)
				if err != nil {
					b.Fatalf("%s: %v", k, err)
				}
				got += n
			}
			if got < want {
				time.Sleep(50 * time.Millisecond)
			}
		}
		b.StopTimer()
		if got != want {
			b.Fatalf("%d records in S3, want %d", got, want)
		}
		b.ReportMetric(float64(len(seen)), "objects")
		// How fast the puts alone were acknowledged (durable in the log).
		b.ReportMetric(float64(b.N*batch*1024)/1e6/putSecs, "put-MB/s")
	}
	b.Run("gzip/sdk", func(b *testing.B) { run(b, false, sdkPut, padded, gzipRecords) })
	b.Run("gzip/http", func(b *testing.B) { run(b, false, httpPut, padded, gzipRecords) })
	b.Run("varied/sdk", func(b *testing.B) { run(b, false, sdkPut, varied, gzipRecords) })
	b.Run("parquet/sdk", func(b *testing.B) { run(b, true, sdkPut, padded, parquetRecords) })
}

// variedTails returns n 1 KiB newline-terminated JSON records whose
// fields and text are drawn, with a fixed seed, from small vocabularies,
// as application logs are. Each starts with `{"n":0,` for the caller to
// replace.
func variedTails(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("click view purchase login logout search add remove update delete open close " +
		"start stop error warn info debug cart item user order payment session timeout retry")
	tails := make([]string, n)
	for i := range tails {
		w := func() string { return words[r.IntN(len(words))] }
		head := fmt.Sprintf(`{"n":0,"ts":"2026-12-07T05:%02d:%02d.%03dZ","user":"u%d","event":"%s","ip":"10.%d.%d.%d",`+
			`"path":"/api/v1/%s/%d","status":%d,"latency_ms":%d,"msg":"`,
			r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(100000), w(), r.IntN(256), r.IntN(256), r.IntN(256),
			w(), r.IntN(1000000), 200+100*r.IntN(4), r.IntN(5000))
		var msg strings.Builder
		for msg.Len() < 1024-len(head)-3 {
			msg.WriteString(w())
			msg.WriteByte(' ')
			if r.IntN(4) == 0 {
				fmt.Fprintf(&msg, "%d ", r.IntN(100000))
			}
		}
		tails[i] = head + msg.String()[:1024-len(head)-3] + "\"}\n"
	}
	return tails
}

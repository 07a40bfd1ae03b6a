package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/parquet-go/parquet-go"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestFirehoseToS3Parquet converts JSON records put through the Go SDK to
// Parquet with the schema of a Glue table from the firehose-glue-tables
// directory, and reads the objects back from a real S3 server with
// parquet-go; a record that is not JSON goes to the error output.
func TestFirehoseToS3Parquet(t *testing.T) {
	s3srv := s3test.Start(t)
	glue := t.TempDir()
	table := `{"Table":{"Name":"events","DatabaseName":"analytics","StorageDescriptor":{"Columns":[` +
		`{"Name":"id","Type":"bigint"},{"Name":"name","Type":"string"}]}}}`
	if err := os.WriteFile(filepath.Join(glue, "analytics.events.json"), []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
		c.FirehoseGlueTables = glue
	})
	bucket := s3srv.Bucket(t, "firehose-parquet")
	ctx := t.Context()
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	dest := func(tableName string, comp fhtypes.CompressionFormat) *fhtypes.ExtendedS3DestinationConfiguration {
		return &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix: aws.String("pq/"), CompressionFormat: comp,
			BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
			DataFormatConversionConfiguration: &fhtypes.DataFormatConversionConfiguration{
				Enabled:                   aws.Bool(true),
				InputFormatConfiguration:  &fhtypes.InputFormatConfiguration{Deserializer: &fhtypes.Deserializer{OpenXJsonSerDe: &fhtypes.OpenXJsonSerDe{}}},
				OutputFormatConfiguration: &fhtypes.OutputFormatConfiguration{Serializer: &fhtypes.Serializer{ParquetSerDe: &fhtypes.ParquetSerDe{Compression: fhtypes.ParquetCompressionSnappy}}},
				SchemaConfiguration: &fhtypes.SchemaConfiguration{DatabaseName: aws.String("analytics"), TableName: aws.String(tableName),
					RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose")},
			},
		}
	}
	for _, bad := range []struct {
		table string
		comp  fhtypes.CompressionFormat
		want  string
	}{
		{"missing", fhtypes.CompressionFormatUncompressed, filepath.Join(glue, "analytics.missing.json")},
		{"events", fhtypes.CompressionFormatGzip, "CompressionFormat must be UNCOMPRESSED"},
	} {
		_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("refused"),
			ExtendedS3DestinationConfiguration: dest(bad.table, bad.comp)})
		var iae *fhtypes.InvalidArgumentException
		if !errors.As(err, &iae) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("table %s, compression %s: %v; want InvalidArgumentException saying %q", bad.table, bad.comp, err, bad.want)
		}
	}

	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("to-parquet"),
		ExtendedS3DestinationConfiguration: dest("events", "")}); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("to-parquet")})
		if err != nil {
			t.Fatal(err)
		}
		if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			ext := d.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription
			if conv := ext.DataFormatConversionConfiguration; conv == nil || !aws.ToBool(conv.Enabled) ||
				aws.ToString(conv.SchemaConfiguration.TableName) != "events" {
				t.Fatalf("DescribeDeliveryStream shows the conversion as %+v", conv)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	const n = 300
	recs := make([]fhtypes.Record, 0, n+1)
	for i := range n {
		recs = append(recs, fhtypes.Record{Data: fmt.Appendf(nil, `{"id":%d,"name":"event-%d","extra":true}`, i, i)})
	}
	recs = append(recs, fhtypes.Record{Data: []byte("not json")})
	if out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("to-parquet"), Records: recs}); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch: %v", err)
	}

	type row struct {
		ID   *int64  `parquet:"id"`
		Name *string `parquet:"name"`
	}
	name := regexp.MustCompile(`^pq/\d{4}/\d{2}/\d{2}/\d{2}/to-parquet-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.parquet$`)
	got := map[int64]string{}
	var failed []map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n || len(failed) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows and %d failed records in S3", len(got), n, len(failed))
		}
		time.Sleep(100 * time.Millisecond)
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		failed = failed[:0]
		for _, k := range keys {
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(k, "format-conversion-failed/") {
				for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
					var e map[string]any
					if err := json.Unmarshal(line, &e); err != nil {
						t.Fatalf("error output %s: %v", k, err)
					}
					failed = append(failed, e)
				}
				continue
			}
			if !name.MatchString(k) {
				t.Fatalf("object %s is not named as Firehose names Parquet objects", k)
			}
			rows, err := parquet.Read[row](bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatalf("%s is not Parquet: %v", k, err)
			}
			for _, r := range rows {
				if r.ID == nil || r.Name == nil || *r.Name != fmt.Sprintf("event-%d", *r.ID) {
					t.Fatalf("%s holds a row that was never put: %+v", k, r)
				}
				got[*r.ID] = *r.Name
			}
		}
	}
	if len(got) != n {
		t.Errorf("%d distinct rows, want %d", len(got), n)
	}
	if len(failed) != 1 || failed[0]["errorCode"] != "DataFormatConversion.MalformedData" {
		t.Errorf("error output %v, want the one record that is not JSON with errorCode DataFormatConversion.MalformedData", failed)
	}
}

// TestFirehosePartitionedParquet puts JSON records of two customers with
// PutRecordBatch through the Go SDK to a delivery stream with dynamic
// partitioning and Parquet conversion, and reads each partition's objects
// back from a real S3 server with parquet-go: named under the evaluated
// prefix with the .parquet extension, holding that partition's rows only.
func TestFirehosePartitionedParquet(t *testing.T) {
	s3srv := s3test.Start(t)
	glue := t.TempDir()
	table := `{"Table":{"Name":"orders","DatabaseName":"shop","StorageDescriptor":{"Columns":[` +
		`{"Name":"customer","Type":"string"},{"Name":"amount","Type":"bigint"}]}}}`
	if err := os.WriteFile(filepath.Join(glue, "shop.orders.json"), []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
		c.FirehoseGlueTables = glue
	})
	bucket := s3srv.Bucket(t, "firehose-partitioned-parquet")
	ctx := t.Context()
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	role := aws.String("arn:aws:iam::123456789012:role/firehose")
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("orders"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: role,
			Prefix:                           aws.String("orders/customer=!{partitionKeyFromQuery:customer}/"),
			ErrorOutputPrefix:                aws.String("errors/!{firehose:error-output-type}/"),
			BufferingHints:                   &fhtypes.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(0)},
			DynamicPartitioningConfiguration: &fhtypes.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)},
			ProcessingConfiguration: &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
				{Type: fhtypes.ProcessorTypeMetadataExtraction, Parameters: []fhtypes.ProcessorParameter{
					{ParameterName: fhtypes.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String("{customer: .customer}")},
					{ParameterName: fhtypes.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")}}}}},
			DataFormatConversionConfiguration: &fhtypes.DataFormatConversionConfiguration{
				Enabled:                   aws.Bool(true),
				InputFormatConfiguration:  &fhtypes.InputFormatConfiguration{Deserializer: &fhtypes.Deserializer{OpenXJsonSerDe: &fhtypes.OpenXJsonSerDe{}}},
				OutputFormatConfiguration: &fhtypes.OutputFormatConfiguration{Serializer: &fhtypes.Serializer{ParquetSerDe: &fhtypes.ParquetSerDe{}}},
				SchemaConfiguration:       &fhtypes.SchemaConfiguration{DatabaseName: aws.String("shop"), TableName: aws.String("orders"), RoleARN: role},
			},
		}}); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("orders")})
		if err != nil {
			t.Fatal(err)
		}
		if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	const n = 400
	want := map[string]int64{} // customer: sum of amounts
	recs := make([]fhtypes.Record, 0, n)
	for i := range n {
		cust := []string{"acme", "globex"}[i%2]
		want[cust] += int64(i)
		recs = append(recs, fhtypes.Record{Data: fmt.Appendf(nil, `{"customer":%q,"amount":%d}`, cust, i)})
	}
	if out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("orders"), Records: recs}); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch: %v", err)
	}
	type row struct {
		Customer *string `parquet:"customer"`
		Amount   *int64  `parquet:"amount"`
	}
	name := regexp.MustCompile(`^orders/customer=(acme|globex)/\d{4}/\d{2}/\d{2}/\d{2}/orders-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.parquet$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the %d rows did not all arrive in S3", n)
		}
		time.Sleep(100 * time.Millisecond)
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		got, sums := 0, map[string]int64{}
		for _, k := range keys {
			m := name.FindStringSubmatch(k)
			if m == nil {
				t.Fatalf("object %s is not named as Firehose names a partition's Parquet objects", k)
			}
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parquet.Read[row](bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatalf("%s is not Parquet: %v", k, err)
			}
			for _, r := range rows {
				if r.Customer == nil || r.Amount == nil || *r.Customer != m[1] {
					t.Fatalf("%s (partition %s) holds row %+v", k, m[1], r)
				}
				sums[m[1]] += *r.Amount
				got++
			}
		}
		if got < n {
			continue
		}
		if got != n || sums["acme"] != want["acme"] || sums["globex"] != want["globex"] {
			t.Fatalf("%d rows with sums %v, want %d with %v", got, sums, n, want)
		}
		return
	}
}

package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/jackc/pgx/v5"

	"github.com/millrace/millrace/internal/firehose/postgres/pgtest"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestFirehoseToRedshift loads records put through the Go SDK into a real
// PostgreSQL server through a Redshift destination (jdbc:redshift:// URL),
// then moves the delivery stream to another table with UpdateDestination.
func TestFirehoseToRedshift(t *testing.T) {
	pgURL := pgtest.URL(t)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	suffix := time.Now().UnixNano()
	first, second := fmt.Sprintf("events_a_%d", suffix), fmt.Sprintf("events_b_%d", suffix)
	for _, table := range []string{first, second} {
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id bigint, name text, note text)"); err != nil {
			t.Fatal(err)
		}
	}

	srv := servertest.Start(t)
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	jdbc := "jdbc:redshift://" + u.Host + u.Path + "?sslmode=disable"
	s3cfg := &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::staging"), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
		BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)}}
	cfg := &fhtypes.RedshiftDestinationConfiguration{
		ClusterJDBCURL: aws.String(jdbc), Username: aws.String("postgres"), Password: aws.String("not-shown"),
		RoleARN:         aws.String("arn:aws:iam::123456789012:role/firehose"),
		CopyCommand:     &fhtypes.CopyCommand{DataTableName: aws.String(first), DataTableColumns: aws.String("id,name"), CopyOptions: aws.String("json 'auto'")},
		S3Configuration: s3cfg,
	}

	// As on AWS, no compression COPY cannot read in the intermediate
	// bucket.
	snappy := *cfg
	snappyS3 := *s3cfg
	snappyS3.CompressionFormat = fhtypes.CompressionFormatSnappy
	snappy.S3Configuration = &snappyS3
	for what, bad := range map[string]*fhtypes.RedshiftDestinationConfiguration{"CompressionFormat Snappy": &snappy} {
		_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("refused"), RedshiftDestinationConfiguration: bad})
		var iae *fhtypes.InvalidArgumentException
		if !errors.As(err, &iae) || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: %v; want InvalidArgumentException naming it", what, err)
		}
	}

	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("to-redshift"), RedshiftDestinationConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
	var desc *fhtypes.DeliveryStreamDescription
	for {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("to-redshift")})
		if err != nil {
			t.Fatal(err)
		}
		if desc = d.DeliveryStreamDescription; desc.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := desc.Destinations[0].RedshiftDestinationDescription
	if r == nil || aws.ToString(r.ClusterJDBCURL) != jdbc || aws.ToString(r.Username) != "postgres" ||
		aws.ToString(r.CopyCommand.DataTableName) != first || r.S3DestinationDescription == nil ||
		aws.ToString(r.S3DestinationDescription.BucketARN) != "arn:aws:s3:::staging" || r.S3BackupMode != fhtypes.RedshiftS3BackupModeDisabled ||
		aws.ToInt32(r.RetryOptions.DurationInSeconds) != 3600 {
		t.Fatalf("RedshiftDestinationDescription %+v", r)
	}

	put := func(from, n int) {
		recs := make([]fhtypes.Record, n)
		for i := range recs {
			recs[i].Data = fmt.Appendf(nil, `{"id":%d,"name":"event-%d","note":"not loaded"}`, from+i, from+i)
		}
		out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("to-redshift"), Records: recs})
		if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
			t.Fatalf("PutRecordBatch: %v", err)
		}
	}
	// waitRows waits until table holds exactly the rows from..from+n-1.
	waitRows := func(table string, from, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var count, distinct, bad int
			err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE name IS DISTINCT FROM 'event-' || id OR note IS NOT NULL OR id < $1 OR id >= $2) FROM "+table,
				from, from+n).Scan(&count, &distinct, &bad)
			if err != nil {
				t.Fatal(err)
			}
			if bad != 0 {
				t.Fatalf("%s holds %d rows that were never put", table, bad)
			}
			if distinct == n {
				if count != n {
					t.Logf("%s: %d rows for %d records (at-least-once duplicates)", table, count, n)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %d of %d rows", table, distinct, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	put(0, 500)
	put(500, 250)
	waitRows(first, 0, 750)

	if _, err := c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("to-redshift"),
		CurrentDeliveryStreamVersionId: desc.VersionId, DestinationId: desc.Destinations[0].DestinationId,
		RedshiftDestinationUpdate: &fhtypes.RedshiftDestinationUpdate{
			CopyCommand: &fhtypes.CopyCommand{DataTableName: aws.String(second), DataTableColumns: aws.String("id,name"), CopyOptions: aws.String("json 'auto'")}},
	}); err != nil {
		t.Fatal(err)
	}
	put(1000, 100)
	waitRows(second, 1000, 100)
}

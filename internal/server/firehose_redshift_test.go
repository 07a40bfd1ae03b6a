package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/postgres/pgtest"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
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

// TestFirehoseToRedshiftErrors: a record COPY's format cannot hold (with
// MAXERROR above 0; without, the whole COPY fails as in Redshift), and a
// batch whose COPY fails for the whole retry duration (the table is
// missing), go to the error output in the intermediate bucket; with
// S3BackupMode Enabled every source record goes to the backup bucket too.
func TestFirehoseToRedshiftErrors(t *testing.T) {
	pgURL := pgtest.URL(t)
	s3srv := s3test.Start(t)
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
	table := fmt.Sprintf("events_err_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id bigint)"); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	bucket := s3srv.Bucket(t, "redshift-staging")
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	create := func(name, tableName, options string, backup bool) {
		t.Helper()
		var mode fhtypes.RedshiftS3BackupMode
		var backupCfg *fhtypes.S3DestinationConfiguration
		if backup {
			mode = fhtypes.RedshiftS3BackupModeEnabled
			backupCfg = &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
				Prefix: aws.String(name + "-backup/")}
		}
		if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(name),
			RedshiftDestinationConfiguration: &fhtypes.RedshiftDestinationConfiguration{
				S3BackupMode: mode, S3BackupConfiguration: backupCfg,
				ClusterJDBCURL: aws.String("jdbc:postgresql://" + u.Host + u.Path + "?sslmode=disable"), Username: aws.String("postgres"), Password: aws.String("unused-with-trust"),
				RoleARN:      aws.String("arn:aws:iam::123456789012:role/firehose"),
				CopyCommand:  &fhtypes.CopyCommand{DataTableName: aws.String(tableName), CopyOptions: aws.String(options)},
				RetryOptions: &fhtypes.RedshiftRetryOptions{DurationInSeconds: aws.Int32(0)},
				S3Configuration: &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
					ErrorOutputPrefix: aws.String(name + "/!{firehose:error-output-type}/"),
					BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)}},
			}}); err != nil {
			t.Fatal(err)
		}
		for {
			d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	create("bad-record", table, "json 'auto' maxerror 10", true)
	create("no-table", table+"_missing", "json 'auto'", false)
	for _, name := range []string{"bad-record", "no-table"} {
		out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(name),
			Records: []fhtypes.Record{{Data: []byte(`{"id":1}`)}, {Data: []byte(`not json`)}}})
		if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
			t.Fatalf("PutRecordBatch: %v", err)
		}
	}
	// codes reads the error records under prefix: errorCode by raw data.
	codes := func(prefix string) map[string]string {
		keys, err := s3srv.Keys(ctx, bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, k := range keys {
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				var r struct{ ErrorCode, RawData string }
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				raw, _ := base64.StdEncoding.DecodeString(r.RawData)
				out[string(raw)] = r.ErrorCode
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		bad, missing := codes("bad-record/redshift-failed/"), codes("no-table/redshift-failed/")
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE id = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		// With S3BackupMode Enabled every source record is also in the
		// backup bucket.
		var backedUp string
		keys, err := s3srv.Keys(ctx, bucket, "bad-record-backup/")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			backedUp += string(body)
		}
		if len(bad) == 1 && len(missing) == 2 && n >= 1 && strings.Contains(backedUp, `{"id":1}`) && strings.Contains(backedUp, "not json") {
			if bad["not json"] != "Redshift.InvalidInput" || missing[`{"id":1}`] != "Redshift.CopyFailed" || missing["not json"] != "Redshift.CopyFailed" {
				t.Fatalf("error outputs %v and %v", bad, missing)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("error outputs %v and %v, %d rows loaded, backup %q", bad, missing, n, backedUp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

const joinSQL = `CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(8), company VARCHAR(32), n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM s."ticker", r."company", s."n"
FROM "SOURCE_SQL_STREAM_001" AS s LEFT OUTER JOIN "COMPANIES" AS r ON s."ticker" = r."ticker";`

// TestReferenceDataThroughTheAPI joins a stream with a reference table
// read from a real S3 server, and reads the table again when
// UpdateApplication points it at another object.
func TestReferenceDataThroughTheAPI(t *testing.T) {
	s3srv := s3test.Start(t)
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	ctx := context.Background()
	bucket := s3srv.Bucket(t, "reference")
	putObject := func(key, body string) {
		t.Helper()
		if _, err := s3srv.Client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}); err != nil {
			t.Fatal(err)
		}
	}
	putObject("ref/companies.csv", "AMZN,Amazon\nMSFT,Microsoft\n")
	putObject("ref/companies-v2.csv", "AMZN,Amazon\nORCL,Oracle\n")

	kc, ac := srv.Kinesis(), analyticsClient(srv)
	for _, name := range []string{"trades", "enriched"} {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(ticker string, n int) {
		t.Helper()
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("trades"), PartitionKey: aws.String("k"),
			Data: []byte(fmt.Sprintf(`{"ticker":%q,"n":%d}`, ticker, n))}); err != nil {
			t.Fatal(err)
		}
	}
	str := kdatypes.RecordFormatTypeJson
	input := kdatypes.Input{NamePrefix: aws.String("SOURCE_SQL_STREAM"),
		KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: aws.String(streamARN("trades"))},
		InputSchema: &kdatypes.SourceSchema{
			RecordFormat: &kdatypes.RecordFormat{RecordFormatType: str, MappingParameters: &kdatypes.MappingParameters{
				JSONMappingParameters: &kdatypes.JSONMappingParameters{RecordRowPath: aws.String("$")}}},
			RecordColumns: []kdatypes.RecordColumn{
				{Name: aws.String("ticker"), Mapping: aws.String("$.ticker"), SqlType: aws.String("VARCHAR(8)")},
				{Name: aws.String("n"), Mapping: aws.String("$.n"), SqlType: aws.String("BIGINT")}}}}
	if _, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{
		ApplicationName: aws.String("enrich"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role),
		ApplicationConfiguration: &kdatypes.ApplicationConfiguration{SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{
			Inputs: []kdatypes.Input{input},
			Outputs: []kdatypes.Output{{Name: aws.String("DEST"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
				KinesisStreamsOutput: &kdatypes.KinesisStreamsOutput{ResourceARN: aws.String(streamARN("enriched"))}}}}},
	}); err != nil {
		t.Fatal(err)
	}
	csv := kdatypes.RecordFormatTypeCsv
	refSource := func(table, bucketARN string) *kdatypes.ReferenceDataSource {
		return &kdatypes.ReferenceDataSource{TableName: aws.String(table),
			S3ReferenceDataSource: &kdatypes.S3ReferenceDataSource{BucketARN: aws.String(bucketARN), FileKey: aws.String("ref/companies.csv")},
			ReferenceSchema: &kdatypes.SourceSchema{
				RecordFormat: &kdatypes.RecordFormat{RecordFormatType: csv, MappingParameters: &kdatypes.MappingParameters{
					CSVMappingParameters: &kdatypes.CSVMappingParameters{RecordRowDelimiter: aws.String("\n"), RecordColumnDelimiter: aws.String(",")}}},
				RecordColumns: []kdatypes.RecordColumn{
					{Name: aws.String("ticker"), SqlType: aws.String("VARCHAR(8)")},
					{Name: aws.String("company"), SqlType: aws.String("VARCHAR(32)")}}}}
	}
	// The join does not compile before the table exists.
	if _, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("enrich"), CurrentApplicationVersionId: aws.Int64(1),
		ApplicationConfigurationUpdate: &kdatypes.ApplicationConfigurationUpdate{ApplicationCodeConfigurationUpdate: &kdatypes.ApplicationCodeConfigurationUpdate{
			CodeContentUpdate: &kdatypes.CodeContentUpdate{TextContentUpdate: aws.String(joinSQL)}}}}); errCode(err) != "CodeValidationException" {
		t.Fatalf("a join with no reference table: %v", err)
	}
	if _, err := ac.AddApplicationReferenceDataSource(ctx, &kda.AddApplicationReferenceDataSourceInput{ApplicationName: aws.String("enrich"),
		CurrentApplicationVersionId: aws.Int64(1), ReferenceDataSource: refSource("COMPANIES", "arn:aws:s3:::"+bucket+"/ref")}); errCode(err) != "InvalidArgumentException" {
		t.Fatalf("a BucketARN with a path: %v", err)
	}
	added, err := ac.AddApplicationReferenceDataSource(ctx, &kda.AddApplicationReferenceDataSourceInput{ApplicationName: aws.String("enrich"),
		CurrentApplicationVersionId: aws.Int64(1), ReferenceDataSource: refSource("COMPANIES", "arn:aws:s3:::"+bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(added.ApplicationVersionId) != 2 || len(added.ReferenceDataSourceDescriptions) != 1 || aws.ToString(added.ReferenceDataSourceDescriptions[0].ReferenceId) != "1.1" ||
		aws.ToString(added.ReferenceDataSourceDescriptions[0].S3ReferenceDataSourceDescription.FileKey) != "ref/companies.csv" {
		t.Fatalf("added %+v", added)
	}
	if _, err := ac.AddApplicationReferenceDataSource(ctx, &kda.AddApplicationReferenceDataSourceInput{ApplicationName: aws.String("enrich"),
		CurrentApplicationVersionId: aws.Int64(2), ReferenceDataSource: refSource("companies", "arn:aws:s3:::"+bucket)}); errCode(err) != "InvalidArgumentException" {
		t.Fatalf("a second table of the same name: %v", err)
	}
	if _, err := ac.AddApplicationReferenceDataSource(ctx, &kda.AddApplicationReferenceDataSourceInput{ApplicationName: aws.String("enrich"),
		CurrentApplicationVersionId: aws.Int64(1), ReferenceDataSource: refSource("OTHER", "arn:aws:s3:::"+bucket)}); errCode(err) != "ConcurrentModificationException" {
		t.Fatalf("a stale version: %v", err)
	}
	if _, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("enrich"), CurrentApplicationVersionId: aws.Int64(2),
		ApplicationConfigurationUpdate: &kdatypes.ApplicationConfigurationUpdate{ApplicationCodeConfigurationUpdate: &kdatypes.ApplicationCodeConfigurationUpdate{
			CodeContentUpdate: &kdatypes.CodeContentUpdate{TextContentUpdate: aws.String(joinSQL)}}}}); err != nil {
		t.Fatal(err)
	}
	desc, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("enrich")})
	if err != nil {
		t.Fatal(err)
	}
	refs := desc.ApplicationDetail.ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.ReferenceDataSourceDescriptions
	if len(refs) != 1 || aws.ToString(refs[0].TableName) != "COMPANIES" || len(refs[0].ReferenceSchema.RecordColumns) != 2 {
		t.Fatalf("described reference data sources %+v", refs)
	}

	put("AMZN", 1)
	put("ORCL", 2)
	if _, err := ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String("enrich"),
		RunConfiguration: &kdatypes.RunConfiguration{SqlRunConfigurations: []kdatypes.SqlRunConfiguration{{InputId: aws.String("1.1"),
			InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}}}}}); err != nil {
		t.Fatal(err)
	}
	// rows maps each n in the output to the companies it was joined with.
	rows := func() map[int64][]any {
		out := map[int64][]any{}
		for _, r := range readAll(t, kc, "enriched") {
			var row struct {
				Ticker  string `json:"ticker"`
				Company any    `json:"company"`
				N       int64  `json:"n"`
			}
			if err := json.Unmarshal(r.Data, &row); err != nil {
				t.Fatalf("output %s: %v", r.Data, err)
			}
			out[row.N] = append(out[row.N], row.Company)
		}
		return out
	}
	waitFor := func(n int64) map[int64][]any {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if got := rows(); len(got[n]) > 0 {
				return got
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no output row for n=%d: %v", n, rows())
		return nil
	}
	got := waitFor(2)
	if fmt.Sprint(got[1]) != "[Amazon]" || fmt.Sprint(got[2]) != "[<nil>]" {
		t.Fatalf("joined rows %v, want n=1 Amazon and n=2 without a company", got)
	}

	// UpdateApplication reads the table again, from the new object.
	if _, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("enrich"), CurrentApplicationVersionId: aws.Int64(3),
		ApplicationConfigurationUpdate: &kdatypes.ApplicationConfigurationUpdate{SqlApplicationConfigurationUpdate: &kdatypes.SqlApplicationConfigurationUpdate{
			ReferenceDataSourceUpdates: []kdatypes.ReferenceDataSourceUpdate{{ReferenceId: aws.String("1.1"),
				S3ReferenceDataSourceUpdate: &kdatypes.S3ReferenceDataSourceUpdate{FileKeyUpdate: aws.String("ref/companies-v2.csv")}}}}}}); err != nil {
		t.Fatal(err)
	}
	put("ORCL", 3)
	if got := waitFor(3); fmt.Sprint(got[3]) != "[Oracle]" {
		t.Fatalf("after the update n=3 joined %v, want [Oracle]", got[3])
	}
	if _, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("enrich"), CurrentApplicationVersionId: aws.Int64(4),
		ApplicationConfigurationUpdate: &kdatypes.ApplicationConfigurationUpdate{SqlApplicationConfigurationUpdate: &kdatypes.SqlApplicationConfigurationUpdate{
			ReferenceDataSourceUpdates: []kdatypes.ReferenceDataSourceUpdate{{ReferenceId: aws.String("9.9")}}}}}); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("an update of no reference data source: %v", err)
	}
	// The join needs the table: deleting it is refused while the code uses it.
	if _, err := ac.DeleteApplicationReferenceDataSource(ctx, &kda.DeleteApplicationReferenceDataSourceInput{ApplicationName: aws.String("enrich"),
		CurrentApplicationVersionId: aws.Int64(4), ReferenceId: aws.String("1.1")}); errCode(err) != "CodeValidationException" {
		t.Fatalf("deleting a table the code joins: %v", err)
	}
}

package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/server/servertest"
)

func analyticsClient(srv *servertest.Server) *kda.Client {
	return kda.New(kda.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.HTTPClient(),
	})
}

func streamARN(name string) string {
	return "arn:aws:kinesis:us-east-1:000000000000:stream/" + name
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// readAll returns every record of a stream.
func readAll(t *testing.T, c *kinesis.Client, name string) []types.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			res, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Records...)
			if len(res.Records) == 0 || res.NextShardIterator == nil {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

const role = "arn:aws:iam::000000000000:role/analytics"

const countSQL = `CREATE OR REPLACE STREAM "DEST" (page VARCHAR(8), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM "page", UNIX_MILLIS(STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)), COUNT(*)
FROM "SOURCE_SQL_STREAM_001" GROUP BY "page", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);`

// offlineCounts counts the input's records per page and one-second window
// of arrival.
func offlineCounts(t *testing.T, recs []types.Record) map[string]int {
	want := map[string]int{}
	for _, r := range recs {
		var row struct{ Page string }
		if err := json.Unmarshal(r.Data, &row); err != nil {
			t.Fatal(err)
		}
		ms := r.ApproximateArrivalTimestamp.UnixMilli()
		want[fmt.Sprintf("%s@%d", row.Page, ms-ms%1000)]++
	}
	return want
}

// outputCounts reads the output windows, failing on a window seen twice.
func outputCounts(t *testing.T, recs []types.Record) map[string]int {
	got := map[string]int{}
	for _, r := range recs {
		var row struct {
			Page string
			WS   int64
			N    int
		}
		if err := json.Unmarshal(r.Data, &row); err != nil {
			t.Fatalf("%s: %v", r.Data, err)
		}
		k := fmt.Sprintf("%s@%d", row.Page, row.WS)
		if _, dup := got[k]; dup {
			t.Errorf("window %s written twice", k)
		}
		got[k] = row.N
	}
	return got
}

func TestApplicationsThroughTheAPI(t *testing.T) {
	srv := servertest.Start(t)
	kc := srv.Kinesis()
	ac := analyticsClient(srv)
	ctx := context.Background()
	for name, n := range map[string]int32{"clicks": 2, "counts": 1} {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String(fmt.Sprint(i)),
				Data: []byte(fmt.Sprintf(`{"page":"p%d","user":{"id":%d},"at":"2026-01-02 03:04:05"}`, i%3, i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, 50)

	disc, err := ac.DiscoverInputSchema(ctx, &kda.DiscoverInputSchemaInput{ResourceARN: aws.String(streamARN("clicks")), ServiceExecutionRole: aws.String(role),
		InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}})
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string]string{}
	for _, c := range disc.InputSchema.RecordColumns {
		cols[aws.ToString(c.Name)+" "+aws.ToString(c.Mapping)] = aws.ToString(c.SqlType)
	}
	if cols["page $.page"] != "VARCHAR(4)" || cols["user_id $.user.id"] != "INTEGER" || cols["at $.at"] != "TIMESTAMP" || len(disc.RawInputRecords) != 50 {
		t.Fatalf("discovered %v from %d records", cols, len(disc.RawInputRecords))
	}

	create := &kda.CreateApplicationInput{
		ApplicationName: aws.String("page-counts"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role),
		ApplicationConfiguration: &kdatypes.ApplicationConfiguration{
			ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
				CodeContent: &kdatypes.CodeContent{TextContent: aws.String(countSQL)}},
			SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{
				Inputs: []kdatypes.Input{{NamePrefix: aws.String("SOURCE_SQL_STREAM"), InputSchema: disc.InputSchema,
					KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: aws.String(streamARN("clicks"))}}},
				Outputs: []kdatypes.Output{{Name: aws.String("DEST"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
					KinesisStreamsOutput: &kdatypes.KinesisStreamsOutput{ResourceARN: aws.String(streamARN("counts"))}}},
			},
		},
	}
	created, err := ac.CreateApplication(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	if created.ApplicationDetail.ApplicationStatus != kdatypes.ApplicationStatusReady || aws.ToInt64(created.ApplicationDetail.ApplicationVersionId) != 1 {
		t.Fatalf("created %+v", created.ApplicationDetail)
	}
	if _, err := ac.CreateApplication(ctx, create); errCode(err) != "ResourceInUseException" {
		t.Fatalf("second CreateApplication: %v", err)
	}
	bad := *create
	bad.ApplicationName = aws.String("bad")
	bad.ApplicationConfiguration = &kdatypes.ApplicationConfiguration{
		ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
			CodeContent: &kdatypes.CodeContent{TextContent: aws.String(`SELECT STREAM nope FROM "SOURCE_SQL_STREAM_001"`)}},
		SqlApplicationConfiguration: create.ApplicationConfiguration.SqlApplicationConfiguration}
	if _, err := ac.CreateApplication(ctx, &bad); errCode(err) != "CodeValidationException" {
		t.Fatalf("CreateApplication with a bad query: %v", err)
	}
	if _, err := ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String("none")}); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("StartApplication of no application: %v", err)
	}

	if _, err := ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String("page-counts"),
		RunConfiguration: &kdatypes.RunConfiguration{SqlRunConfigurations: []kdatypes.SqlRunConfiguration{{InputId: aws.String("1.1"),
			InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}}}}}); err != nil {
		t.Fatal(err)
	}
	list, err := ac.ListApplications(ctx, &kda.ListApplicationsInput{})
	if err != nil || len(list.ApplicationSummaries) != 1 || list.ApplicationSummaries[0].ApplicationStatus != kdatypes.ApplicationStatusRunning {
		t.Fatalf("ListApplications: %+v, %v", list, err)
	}

	waitFor := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for len(outputCounts(t, readAll(t, kc, "counts"))) < len(want) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		got := outputCounts(t, readAll(t, kc, "counts"))
		if len(got) != len(want) {
			t.Fatalf("%d windows in the output, want %d", len(got), len(want))
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s: %d, want %d", k, got[k], n)
			}
		}
	}
	waitFor(offlineCounts(t, readAll(t, kc, "clicks")))

	// A restart resumes the RUNNING application from its checkpoint.
	srv.Restart(t)
	kc, ac = srv.Kinesis(), analyticsClient(srv)
	put(50, 90)
	waitFor(offlineCounts(t, readAll(t, kc, "clicks")))

	desc, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("page-counts")})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.ApplicationDetail
	if d.ApplicationStatus != kdatypes.ApplicationStatusRunning || len(d.ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.InputDescriptions) != 1 ||
		d.ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.InputDescriptions[0].InAppStreamNames[0] != "SOURCE_SQL_STREAM_001" {
		t.Fatalf("described %+v", d)
	}
	if _, err := ac.StopApplication(ctx, &kda.StopApplicationInput{ApplicationName: aws.String("page-counts")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteApplication(ctx, &kda.DeleteApplicationInput{ApplicationName: aws.String("page-counts"), CreateTimestamp: aws.Time(time.Unix(1, 0))}); errCode(err) != "InvalidArgumentException" {
		t.Fatalf("DeleteApplication with the wrong CreateTimestamp: %v", err)
	}
	if _, err := ac.DeleteApplication(ctx, &kda.DeleteApplicationInput{ApplicationName: aws.String("page-counts"), CreateTimestamp: d.CreateTimestamp}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("page-counts")}); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("DescribeApplication after delete: %v", err)
	}
}

package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// Orders and shipments arrive on one stream; two pumps split them into
// in-application streams and a third joins those within 30 s.
const shipJoinSQL = `CREATE OR REPLACE STREAM "ORDERS" (id INTEGER, at TIMESTAMP);
CREATE OR REPLACE PUMP "O" AS INSERT INTO "ORDERS"
  SELECT STREAM "id", ROWTIME FROM "SOURCE_SQL_STREAM_001" WHERE "kind" = 'order';
CREATE OR REPLACE STREAM "SHIPS" (id INTEGER, at TIMESTAMP);
CREATE OR REPLACE PUMP "S" AS INSERT INTO "SHIPS"
  SELECT STREAM "id", ROWTIME FROM "SOURCE_SQL_STREAM_001" WHERE "kind" = 'ship';
CREATE OR REPLACE STREAM "SHIPPED" (id INTEGER, waited BIGINT);
CREATE OR REPLACE PUMP "J" AS INSERT INTO "SHIPPED"
  SELECT STREAM o."id", UNIX_MILLIS(s."at") - UNIX_MILLIS(o."at")
  FROM "ORDERS" AS o JOIN "SHIPS" AS s
    ON o."id" = s."id" AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '30' SECOND;`

func TestStreamJoinThroughTheAPI(t *testing.T) {
	srv := servertest.Start(t)
	kc, ac := srv.Kinesis(), analyticsClient(srv)
	ctx := context.Background()
	for name, n := range map[string]int32{"events": 2, "shipped": 1} {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(kind string, ids ...int) {
		t.Helper()
		for _, id := range ids {
			if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), PartitionKey: aws.String(fmt.Sprint(id)),
				Data: []byte(fmt.Sprintf(`{"kind":%q,"id":%d}`, kind, id))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("order", 1, 2, 3, 4, 5, 6)
	put("ship", 2, 4, 9)

	schema := &kdatypes.SourceSchema{
		RecordFormat: &kdatypes.RecordFormat{RecordFormatType: kdatypes.RecordFormatTypeJson,
			MappingParameters: &kdatypes.MappingParameters{JSONMappingParameters: &kdatypes.JSONMappingParameters{RecordRowPath: aws.String("$")}}},
		RecordColumns: []kdatypes.RecordColumn{
			{Name: aws.String("kind"), Mapping: aws.String("$.kind"), SqlType: aws.String("VARCHAR(8)")},
			{Name: aws.String("id"), Mapping: aws.String("$.id"), SqlType: aws.String("INTEGER")},
		},
	}
	create := &kda.CreateApplicationInput{
		ApplicationName: aws.String("shipments"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role),
		ApplicationConfiguration: &kdatypes.ApplicationConfiguration{
			ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
				CodeContent: &kdatypes.CodeContent{TextContent: aws.String(shipJoinSQL)}},
			SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{
				Inputs: []kdatypes.Input{{NamePrefix: aws.String("SOURCE_SQL_STREAM"), InputSchema: schema,
					KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: aws.String(streamARN("events"))}}},
				Outputs: []kdatypes.Output{{Name: aws.String("SHIPPED"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
					KinesisStreamsOutput: &kdatypes.KinesisStreamsOutput{ResourceARN: aws.String(streamARN("shipped"))}}},
			},
		},
	}
	// Without a time bound the code is refused, saying what it lacks.
	unbounded := *create
	unbounded.ApplicationName = aws.String("unbounded")
	unbounded.ApplicationConfiguration = &kdatypes.ApplicationConfiguration{
		ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
			CodeContent: &kdatypes.CodeContent{TextContent: aws.String(shipJoinSQL[:len(shipJoinSQL)-len(` AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '30' SECOND;`)])}},
		SqlApplicationConfiguration: create.ApplicationConfiguration.SqlApplicationConfiguration}
	if _, err := ac.CreateApplication(ctx, &unbounded); errCode(err) != "CodeValidationException" {
		t.Fatalf("CreateApplication with a join without a time bound: %v", err)
	}
	if _, err := ac.CreateApplication(ctx, create); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String("shipments"),
		RunConfiguration: &kdatypes.RunConfiguration{SqlRunConfigurations: []kdatypes.SqlRunConfiguration{{InputId: aws.String("1.1"),
			InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}}}}}); err != nil {
		t.Fatal(err)
	}

	// offline: every order and shipment of its id that arrived 0 to 30 s
	// after it.
	offline := func() map[string]bool {
		type ev struct {
			Kind string
			ID   int
			at   int64
		}
		var evs []ev
		for _, r := range readAll(t, kc, "events") {
			var e ev
			if err := json.Unmarshal(r.Data, &e); err != nil {
				t.Fatal(err)
			}
			e.at = r.ApproximateArrivalTimestamp.UnixMilli()
			evs = append(evs, e)
		}
		want := map[string]bool{}
		for _, o := range evs {
			for _, s := range evs {
				if o.Kind == "order" && s.Kind == "ship" && o.ID == s.ID && s.at >= o.at && s.at-o.at <= 30_000 {
					want[fmt.Sprintf("%d after %d ms", o.ID, s.at-o.at)] = true
				}
			}
		}
		return want
	}
	// output: the joined rows, failing on one written twice.
	output := func(recs []types.Record) map[string]bool {
		got, keys := map[string]bool{}, map[string]bool{}
		for _, r := range recs {
			var row struct {
				ID     int
				Waited int64
			}
			if err := json.Unmarshal(r.Data, &row); err != nil {
				t.Fatalf("%s: %v", r.Data, err)
			}
			k := fmt.Sprintf("%d after %d ms", row.ID, row.Waited)
			if keys[aws.ToString(r.PartitionKey)] || got[k] {
				t.Errorf("%s written twice", r.Data)
			}
			got[k], keys[aws.ToString(r.PartitionKey)] = true, true
		}
		return got
	}
	waitFor := func(want map[string]bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for len(output(readAll(t, kc, "shipped"))) < len(want) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		got := output(readAll(t, kc, "shipped"))
		if len(got) != len(want) {
			t.Fatalf("joined %v, want %v", got, want)
		}
		for k := range want {
			if !got[k] {
				t.Errorf("%s is missing from %v", k, got)
			}
		}
	}
	want := offline()
	if len(want) != 2 {
		t.Fatalf("the input's pairs are %v", want)
	}
	waitFor(want)

	// The orders kept before a restart are in the checkpoint: their
	// shipments after it still join them, and nothing is joined twice.
	srv.Restart(t)
	kc, ac = srv.Kinesis(), analyticsClient(srv)
	put("ship", 1, 3, 4)
	want = offline()
	if len(want) != 5 {
		t.Fatalf("the input's pairs are %v", want)
	}
	waitFor(want)
	if _, err := ac.StopApplication(ctx, &kda.StopApplicationInput{ApplicationName: aws.String("shipments")}); err != nil {
		t.Fatal(err)
	}
}

package analytics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// TestApplicationChangesThroughTheAPI drives UpdateApplication,
// AddApplicationInput and AddApplicationOutput through aws-sdk-go-v2: a
// stale version id or a refused change leaves the application as it was,
// and each accepted change is the next version.
func TestApplicationChangesThroughTheAPI(t *testing.T) {
	srv := servertest.Start(t)
	kc := srv.Kinesis()
	ac := analyticsClient(srv)
	ctx := context.Background()
	for _, name := range []string{"clicks", "counts", "late"} {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	schema := &kdatypes.SourceSchema{
		RecordFormat: &kdatypes.RecordFormat{RecordFormatType: kdatypes.RecordFormatTypeJson,
			MappingParameters: &kdatypes.MappingParameters{JSONMappingParameters: &kdatypes.JSONMappingParameters{RecordRowPath: aws.String("$")}}},
		RecordColumns: []kdatypes.RecordColumn{{Name: aws.String("page"), Mapping: aws.String("$.page"), SqlType: aws.String("VARCHAR(8)")}},
	}
	input := kdatypes.Input{NamePrefix: aws.String("SOURCE_SQL_STREAM"), InputSchema: schema,
		KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: aws.String(streamARN("clicks"))}}
	output := func(name, stream string) kdatypes.Output {
		return kdatypes.Output{Name: aws.String(name), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
			KinesisStreamsOutput: &kdatypes.KinesisStreamsOutput{ResourceARN: aws.String(streamARN(stream))}}
	}
	if _, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{
		ApplicationName: aws.String("changes"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role),
		ApplicationConfiguration: &kdatypes.ApplicationConfiguration{
			ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
				CodeContent: &kdatypes.CodeContent{TextContent: aws.String(countSQL)}},
			SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{Inputs: []kdatypes.Input{input}, Outputs: []kdatypes.Output{output("DEST", "counts")}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	describe := func() *kdatypes.ApplicationDetail {
		t.Helper()
		d, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("changes")})
		if err != nil {
			t.Fatal(err)
		}
		return d.ApplicationDetail
	}
	code := func(sql string) *kdatypes.ApplicationConfigurationUpdate {
		return &kdatypes.ApplicationConfigurationUpdate{ApplicationCodeConfigurationUpdate: &kdatypes.ApplicationCodeConfigurationUpdate{
			CodeContentUpdate: &kdatypes.CodeContentUpdate{TextContentUpdate: aws.String(sql)}}}
	}
	twoSeconds := strings.ReplaceAll(countSQL, "INTERVAL '1' SECOND", "INTERVAL '2' SECOND")

	refused := []struct {
		what string
		call func() error
		want string
	}{
		{"UpdateApplication at a stale version", func() error {
			_, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("changes"), CurrentApplicationVersionId: aws.Int64(7),
				ApplicationConfigurationUpdate: code(twoSeconds)})
			return err
		}, "ConcurrentModificationException"},
		{"UpdateApplication with a bad query", func() error {
			_, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("changes"), CurrentApplicationVersionId: aws.Int64(1),
				ApplicationConfigurationUpdate: code(`SELECT STREAM nope FROM "SOURCE_SQL_STREAM_001"`)})
			return err
		}, "CodeValidationException"},
		{"AddApplicationInput beside the one input", func() error {
			_, err := ac.AddApplicationInput(ctx, &kda.AddApplicationInputInput{ApplicationName: aws.String("changes"), CurrentApplicationVersionId: aws.Int64(1), Input: &input})
			return err
		}, "InvalidArgumentException"},
		{"AddApplicationOutput of an unknown application", func() error {
			o := output("LATE", "late")
			_, err := ac.AddApplicationOutput(ctx, &kda.AddApplicationOutputInput{ApplicationName: aws.String("none"), CurrentApplicationVersionId: aws.Int64(1), Output: &o})
			return err
		}, "ResourceNotFoundException"},
	}
	for _, r := range refused {
		if err := r.call(); errCode(err) != r.want {
			t.Errorf("%s: %v, want %s", r.what, err, r.want)
		}
	}
	if d := describe(); aws.ToInt64(d.ApplicationVersionId) != 1 ||
		aws.ToString(d.ApplicationConfigurationDescription.ApplicationCodeConfigurationDescription.CodeContentDescription.TextContent) != countSQL {
		t.Fatalf("after refused changes the application is at version %d with its code changed", aws.ToInt64(d.ApplicationVersionId))
	}

	up, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("changes"), CurrentApplicationVersionId: aws.Int64(1),
		ApplicationConfigurationUpdate: code(twoSeconds)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(up.ApplicationDetail.ApplicationVersionId) != 2 ||
		aws.ToString(up.ApplicationDetail.ApplicationConfigurationDescription.ApplicationCodeConfigurationDescription.CodeContentDescription.TextContent) != twoSeconds {
		t.Fatalf("UpdateApplication answered version %d", aws.ToInt64(up.ApplicationDetail.ApplicationVersionId))
	}
	late := output("LATE", "late")
	added, err := ac.AddApplicationOutput(ctx, &kda.AddApplicationOutputInput{ApplicationName: aws.String("changes"), CurrentApplicationVersionId: aws.Int64(2), Output: &late})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(added.ApplicationVersionId) != 3 || len(added.OutputDescriptions) != 2 {
		t.Fatalf("AddApplicationOutput answered version %d with %d outputs, want 3 and 2", aws.ToInt64(added.ApplicationVersionId), len(added.OutputDescriptions))
	}
	if d := describe(); aws.ToInt64(d.ApplicationVersionId) != 3 ||
		len(d.ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.OutputDescriptions) != 2 {
		t.Fatalf("DescribeApplication shows version %d", aws.ToInt64(d.ApplicationVersionId))
	}
}

package analytics_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// runCountApp creates the clicks stream with records of three pages,
// then an application counting them per page and one-second window into
// out, started from TRIM_HORIZON. It returns the counts the output must
// hold.
func runCountApp(t *testing.T, srv *servertest.Server, out kdatypes.Output) map[string]int {
	t.Helper()
	ctx := context.Background()
	kc, ac := srv.Kinesis(), analyticsClient(srv)
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("clicks"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String(strconv.Itoa(i)),
			Data: fmt.Appendf(nil, `{"page":"p%d"}`, i%3)}); err != nil {
			t.Fatal(err)
		}
	}
	out.Name = aws.String("DEST")
	_, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{
		ApplicationName: aws.String("page-counts"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role),
		ApplicationConfiguration: &kdatypes.ApplicationConfiguration{
			ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
				CodeContent: &kdatypes.CodeContent{TextContent: aws.String(countSQL)}},
			SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{
				Inputs: []kdatypes.Input{{NamePrefix: aws.String("SOURCE_SQL_STREAM"),
					InputSchema: &kdatypes.SourceSchema{
						RecordFormat: &kdatypes.RecordFormat{RecordFormatType: kdatypes.RecordFormatTypeJson,
							MappingParameters: &kdatypes.MappingParameters{JSONMappingParameters: &kdatypes.JSONMappingParameters{RecordRowPath: aws.String("$")}}},
						RecordColumns: []kdatypes.RecordColumn{{Name: aws.String("page"), Mapping: aws.String("$.page"), SqlType: aws.String("VARCHAR(8)")}}},
					KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: aws.String(streamARN("clicks"))}}},
				Outputs: []kdatypes.Output{out},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String("page-counts"),
		RunConfiguration: &kdatypes.RunConfiguration{SqlRunConfigurations: []kdatypes.SqlRunConfiguration{{InputId: aws.String("1.1"),
			InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}}}}}); err != nil {
		t.Fatal(err)
	}
	want := offlineCounts(t, readAll(t, kc, "clicks"))
	if len(want) < 3 {
		t.Fatalf("the input has %d windows", len(want))
	}
	return want
}

func fastWindows(c *config.Config) { c.AnalyticsIdleGrace = 100 * time.Millisecond }

// checkCounts compares the windows an output received with those wanted.
func checkCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d windows delivered, want %d: %v", len(got), len(want), got)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d", k, got[k], n)
		}
	}
}

// TestFirehoseOutput: an application's window results, as CSV, go into a
// Firehose delivery stream and reach S3.
func TestFirehoseOutput(t *testing.T) {
	s3srv := s3test.Start(t)
	srv := servertest.Start(t, fastWindows, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	bucket := s3srv.Bucket(t, "analytics")
	ctx := t.Context()
	fc := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	created, err := fc.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("counts"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		}})
	if err != nil {
		t.Fatal(err)
	}

	// A Firehose output must name a delivery stream.
	ac := analyticsClient(srv)
	want := runCountApp(t, srv, kdatypes.Output{DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeCsv},
		KinesisFirehoseOutput: &kdatypes.KinesisFirehoseOutput{ResourceARN: created.DeliveryStreamARN}})
	_, err = ac.AddApplicationOutput(ctx, &kda.AddApplicationOutputInput{ApplicationName: aws.String("page-counts"), CurrentApplicationVersionId: aws.Int64(1),
		Output: &kdatypes.Output{Name: aws.String("OTHER"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
			KinesisFirehoseOutput: &kdatypes.KinesisFirehoseOutput{ResourceARN: aws.String(streamARN("clicks"))}}})
	if errCode(err) != "InvalidArgumentException" || !strings.Contains(err.Error(), "not the ARN of a Firehose delivery stream") {
		t.Fatalf("a Firehose output naming a Kinesis stream: %v", err)
	}
	desc, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("page-counts")})
	if err != nil {
		t.Fatal(err)
	}
	od := desc.ApplicationDetail.ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.OutputDescriptions
	if len(od) != 1 || od[0].KinesisFirehoseOutputDescription == nil || aws.ToString(od[0].KinesisFirehoseOutputDescription.ResourceARN) != aws.ToString(created.DeliveryStreamARN) ||
		od[0].KinesisStreamsOutputDescription != nil || od[0].DestinationSchema.RecordFormatType != kdatypes.RecordFormatTypeCsv {
		t.Fatalf("output described as %+v", od)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]int{}
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			for _, row := range rows {
				n, _ := strconv.Atoi(row[2])
				key := row[0] + "@" + row[1]
				if _, dup := got[key]; dup {
					t.Fatalf("window %s delivered twice", key)
				}
				got[key] = n
			}
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			checkCounts(t, got, want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLambdaOutput: an application's window results go to a function as
// KDA sent them (the aws-lambda-go event type reads them); records the
// function answers DeliveryFailed come again with a higher retryHint.
func TestLambdaOutput(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	attempts := map[string]int{}
	var badEvent error
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw struct {
			Records []struct {
				Meta struct{ RetryHint int } `json:"lambdaDeliveryRecordMetadata"`
			} `json:"records"`
		}
		var ev events.KinesisAnalyticsOutputDeliveryEvent
		dec := json.NewDecoder(r.Body)
		var msg json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err := json.Unmarshal(msg, &ev); err != nil || json.Unmarshal(msg, &raw) != nil || len(raw.Records) != len(ev.Records) {
			badEvent = fmt.Errorf("event %s: %v", msg, err)
		}
		if ev.InvocationID == "" || !strings.HasSuffix(ev.ApplicationARN, ":application/page-counts") {
			badEvent = fmt.Errorf("event without an invocation id or the application's ARN: %s", msg)
		}
		var resp events.KinesisAnalyticsOutputDeliveryResponse
		for i, rec := range ev.Records {
			if raw.Records[i].Meta.RetryHint != attempts[rec.RecordID] {
				badEvent = fmt.Errorf("record %s: retryHint %d on attempt %d", rec.RecordID, raw.Records[i].Meta.RetryHint, attempts[rec.RecordID])
			}
			attempts[rec.RecordID]++
			result := events.KinesisAnalyticsOutputDeliveryOK
			if attempts[rec.RecordID] == 1 {
				result = events.KinesisAnalyticsOutputDeliveryFailed
			} else {
				var row struct {
					Page string
					WS   int64
					N    int
				}
				if err := json.Unmarshal(rec.Data, &row); err != nil {
					badEvent = fmt.Errorf("record data %q: %v", rec.Data, err)
				}
				k := fmt.Sprintf("%s@%d", row.Page, row.WS)
				if _, dup := got[k]; dup {
					badEvent = fmt.Errorf("window %s delivered twice", k)
				}
				got[k] = row.N
			}
			resp.Records = append(resp.Records, events.KinesisAnalyticsOutputDeliveryResponseRecord{RecordID: rec.RecordID, Result: result})
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	defer fn.Close()
	srv := servertest.Start(t, fastWindows)
	ctx := t.Context()
	lc := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, HTTPClient: srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, "")})
	created, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("sink"), Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String(fn.URL), Role: aws.String("arn:aws:iam::123456789012:role/lambda"), Code: &ltypes.FunctionCode{}})
	if err != nil {
		t.Fatal(err)
	}
	want := runCountApp(t, srv, kdatypes.Output{DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
		LambdaOutput: &kdatypes.LambdaOutput{ResourceARN: created.FunctionArn}})

	ac := analyticsClient(srv)
	_, err = ac.AddApplicationOutput(ctx, &kda.AddApplicationOutputInput{ApplicationName: aws.String("page-counts"), CurrentApplicationVersionId: aws.Int64(1),
		Output: &kdatypes.Output{Name: aws.String("OTHER"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
			LambdaOutput:         &kdatypes.LambdaOutput{ResourceARN: created.FunctionArn},
			KinesisStreamsOutput: &kdatypes.KinesisStreamsOutput{ResourceARN: aws.String(streamARN("clicks"))}}})
	if errCode(err) != "InvalidArgumentException" || !strings.Contains(err.Error(), "exactly one destination") {
		t.Fatalf("an output with two destinations: %v", err)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n, bad := len(got), badEvent
		mu.Unlock()
		if bad != nil {
			t.Fatal(bad)
		}
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	gotCopy, attemptsCopy := maps.Clone(got), maps.Clone(attempts)
	mu.Unlock()
	checkCounts(t, gotCopy, want)
	for id, n := range attemptsCopy {
		if n != 2 {
			t.Errorf("record %s sent %d times, want 2 (once failed, once taken)", id, n)
		}
	}

	// UpdateApplication moves the output to a delivery stream.
	fhARN := "arn:aws:firehose:us-east-1:000000000000:deliverystream/elsewhere"
	if _, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("page-counts"), CurrentApplicationVersionId: aws.Int64(1),
		ApplicationConfigurationUpdate: &kdatypes.ApplicationConfigurationUpdate{SqlApplicationConfigurationUpdate: &kdatypes.SqlApplicationConfigurationUpdate{
			OutputUpdates: []kdatypes.OutputUpdate{{OutputId: aws.String("1.1"), LambdaOutputUpdate: &kdatypes.LambdaOutputUpdate{ResourceARNUpdate: aws.String(fhARN)}}}}}}); errCode(err) != "InvalidArgumentException" {
		t.Fatalf("a LambdaOutputUpdate naming a delivery stream: %v", err)
	}
	if _, err := ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("page-counts"), CurrentApplicationVersionId: aws.Int64(1),
		ApplicationConfigurationUpdate: &kdatypes.ApplicationConfigurationUpdate{SqlApplicationConfigurationUpdate: &kdatypes.SqlApplicationConfigurationUpdate{
			OutputUpdates: []kdatypes.OutputUpdate{{OutputId: aws.String("1.1"), KinesisFirehoseOutputUpdate: &kdatypes.KinesisFirehoseOutputUpdate{ResourceARNUpdate: aws.String(fhARN)}}}}}}); err != nil {
		t.Fatal(err)
	}
	desc, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("page-counts")})
	if err != nil {
		t.Fatal(err)
	}
	od := desc.ApplicationDetail.ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.OutputDescriptions
	if len(od) != 1 || od[0].LambdaOutputDescription != nil || od[0].KinesisFirehoseOutputDescription == nil || aws.ToString(od[0].KinesisFirehoseOutputDescription.ResourceARN) != fhARN {
		t.Fatalf("after the update the output is %+v", od)
	}
}

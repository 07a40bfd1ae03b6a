package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestAnalyticsOutputRoles: with auth on, an application invokes its
// Lambda output as a session of its ServiceExecutionRole, named after
// the application: a role allowed lambda:InvokeFunction delivers the
// window results, a role without it gets audited denials (retried) and
// delivers nothing, and a role the service cannot assume is refused at
// CreateApplication and UpdateApplication. A Firehose output is written
// as the role as well.
func TestAnalyticsOutputRoles(t *testing.T) {
	const account = "111122223333"
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	trust := func(service string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole",
			"Condition":{"StringEquals":{"aws:SourceAccount":"` + account + `"}}}}`
	}
	var mu sync.Mutex
	delivered := map[string]int{} // application ARN -> sum of the counts it delivered
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ApplicationARN string `json:"applicationArn"`
			Records        []struct {
				RecordID string `json:"recordId"`
				Data     []byte `json:"data"`
			} `json:"records"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type result struct {
			RecordID string `json:"recordId"`
			Result   string `json:"result"`
		}
		var resp struct {
			Records []result `json:"records"`
		}
		mu.Lock()
		for _, rec := range ev.Records {
			var row struct{ N int }
			if err := json.Unmarshal(rec.Data, &row); err == nil {
				delivered[ev.ApplicationARN] += row.N
			}
			resp.Records = append(resp.Records, result{rec.RecordID, "Ok"})
		}
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(resp)
	}))
	defer fn.Close()
	srv := servertest.Start(t, func(c *config.Config) {
		c.AnalyticsIdleGrace = 100 * time.Millisecond
		c.Auth, c.AccountID, c.AuditLog = config.AuthOn, account, audit
		c.AuditDataEvents = true // PutRecordBatch is a data event
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Roles: []config.Role{
				{Name: "deliver", AssumeRolePolicy: trust("kinesisanalytics.amazonaws.com"), Policies: []config.PolicyConfig{{Name: "invoke",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:` + account + `:function:sink"}}`}}},
				{Name: "no-invoke", AssumeRolePolicy: trust("kinesisanalytics.amazonaws.com"), Policies: []config.PolicyConfig{{Name: "firehose",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"firehose:PutRecordBatch","Resource":"*"}}`}}},
				{Name: "lambda-only", AssumeRolePolicy: trust("lambda.amazonaws.com")},
			},
		}
	})
	role := func(name string) string { return "arn:aws:iam::" + account + ":role/" + name }
	ctx := t.Context()
	creds := credentials.NewStaticCredentialsProvider("AKIAROOTEXAMPLE00001", "root-secret", "")
	lc := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	created, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("sink"), Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String(fn.URL), Role: aws.String(role("lambda")), Code: &ltypes.FunctionCode{}})
	if err != nil {
		t.Fatal(err)
	}
	kc := kinesis.New(kinesis.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("clicks"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	const records = 30
	for i := range records {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String(strconv.Itoa(i)),
			Data: fmt.Appendf(nil, `{"page":"p%d"}`, i%3)}); err != nil {
			t.Fatal(err)
		}
	}
	ac := kda.New(kda.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	lambdaOut := kdatypes.Output{Name: aws.String("DEST"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
		LambdaOutput: &kdatypes.LambdaOutput{ResourceARN: created.FunctionArn}}
	create := func(name, execRole string, out kdatypes.Output) error {
		_, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{
			ApplicationName: aws.String(name), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(execRole),
			ApplicationConfiguration: &kdatypes.ApplicationConfiguration{
				ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
					CodeContent: &kdatypes.CodeContent{TextContent: aws.String(`CREATE OR REPLACE STREAM "DEST" (page VARCHAR(8), n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM "page", COUNT(*) FROM "SOURCE_SQL_STREAM_001"
GROUP BY "page", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);`)}},
				SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{
					Inputs: []kdatypes.Input{{NamePrefix: aws.String("SOURCE_SQL_STREAM"),
						InputSchema: &kdatypes.SourceSchema{
							RecordFormat: &kdatypes.RecordFormat{RecordFormatType: kdatypes.RecordFormatTypeJson,
								MappingParameters: &kdatypes.MappingParameters{JSONMappingParameters: &kdatypes.JSONMappingParameters{RecordRowPath: aws.String("$")}}},
							RecordColumns: []kdatypes.RecordColumn{{Name: aws.String("page"), Mapping: aws.String("$.page"), SqlType: aws.String("VARCHAR(8)")}}},
						KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: aws.String("arn:aws:kinesis:us-east-1:" + account + ":stream/clicks")}}},
					Outputs: []kdatypes.Output{out},
				},
			},
		})
		if err != nil {
			return err
		}
		_, err = ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String(name),
			RunConfiguration: &kdatypes.RunConfiguration{SqlRunConfigurations: []kdatypes.SqlRunConfiguration{{InputId: aws.String("1.1"),
				InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}}}}})
		return err
	}

	// Roles the service cannot assume are refused.
	for _, r := range []struct{ role, why string }{
		{role("none"), "does not exist"},
		{role("lambda-only"), "does not allow kinesisanalytics.amazonaws.com"},
	} {
		err := create("refused", r.role, lambdaOut)
		var inv *kdatypes.InvalidArgumentException
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "sufficient privileges to assume the role "+r.role) || !strings.Contains(err.Error(), r.why) {
			t.Errorf("role %s: %v, want InvalidArgumentException saying %q", r.role, err, r.why)
		}
	}

	if err := create("allowed", role("deliver"), lambdaOut); err != nil {
		t.Fatal(err)
	}
	if err := create("denied", role("no-invoke"), lambdaOut); err != nil {
		t.Fatal(err)
	}
	// A Firehose output is written as the role too: "deliver" has no
	// firehose:PutRecordBatch.
	if err := create("to-firehose", role("deliver"), kdatypes.Output{Name: aws.String("DEST"),
		DestinationSchema:     &kdatypes.DestinationSchema{RecordFormatType: kdatypes.RecordFormatTypeJson},
		KinesisFirehoseOutput: &kdatypes.KinesisFirehoseOutput{ResourceARN: aws.String("arn:aws:firehose:us-east-1:" + account + ":deliverystream/counts")}}); err != nil {
		t.Fatal(err)
	}
	d, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("allowed")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(d.ApplicationDetail.ServiceExecutionRole); got != role("deliver") {
		t.Errorf("ServiceExecutionRole %q, want %q", got, role("deliver"))
	}
	_, err = ac.UpdateApplication(ctx, &kda.UpdateApplicationInput{ApplicationName: aws.String("allowed"), CurrentApplicationVersionId: d.ApplicationDetail.ApplicationVersionId,
		ServiceExecutionRoleUpdate: aws.String(role("lambda-only"))})
	var inv *kdatypes.InvalidArgumentException
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "does not allow kinesisanalytics.amazonaws.com") {
		t.Errorf("UpdateApplication to an untrusting role: %v", err)
	}

	// The allowed application delivers every count; the denied one is
	// refused, again and again, as its role session.
	appARN := func(name string) string {
		return "arn:aws:kinesisanalytics:us-east-1:" + account + ":application/" + name
	}
	deniedSession := "arn:aws:sts::" + account + ":assumed-role/no-invoke/denied"
	firehoseSession := "arn:aws:sts::" + account + ":assumed-role/deliver/to-firehose"
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		sum := delivered[appARN("allowed")]
		mu.Unlock()
		refused := denials(t, audit)
		if sum == records && refused["Invoke "+deniedSession] >= 2 && refused["PutRecordBatch "+firehoseSession] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("allowed delivered %d of %d records' counts; audited denials: %v", sum, records, refused)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	if n, ok := delivered[appARN("denied")]; ok {
		t.Errorf("the denied application delivered %d", n)
	}
	mu.Unlock()
	if n := denials(t, audit)["Invoke arn:aws:sts::"+account+":assumed-role/deliver/allowed"]; n != 0 {
		t.Errorf("%d audited denials of the allowed session", n)
	}
}

// denials counts the audit log's Invoke and PutRecordBatch events
// refused with AccessDeniedException, by "EVENT SESSION-ARN", checking
// that they were made by kinesisanalytics.amazonaws.com.
func denials(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]int{}
	for line := range bytes.Lines(data) {
		var ev struct {
			EventName, ErrorCode string
			UserIdentity         struct{ Type, Arn, InvokedBy string }
		}
		if json.Unmarshal(line, &ev) != nil || (ev.EventName != "Invoke" && ev.EventName != "PutRecordBatch") || ev.ErrorCode != "AccessDeniedException" {
			continue // a line still being written is read again next time
		}
		if ev.UserIdentity.Type != "AssumedRole" || ev.UserIdentity.InvokedBy != "kinesisanalytics.amazonaws.com" {
			t.Errorf("%s event %+v", ev.EventName, ev)
		}
		out[ev.EventName+" "+ev.UserIdentity.Arn]++
	}
	return out
}

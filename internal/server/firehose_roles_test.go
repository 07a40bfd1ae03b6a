package server_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestFirehoseLambdaTransformRoles: with auth on, the Lambda processor
// invokes its function as a session of the delivery stream's role,
// through the same policies and audit log as a client: a role allowed
// lambda:InvokeFunction gets its records transformed and delivered, a
// role without it gets them in processing-failed with
// Lambda.InvokeAccessDenied, and a role Firehose cannot assume is
// refused at CreateDeliveryStream.
func TestFirehoseLambdaTransformRoles(t *testing.T) {
	const account = "111122223333"
	s3srv := s3test.Start(t)
	fn := httptest.NewServer(http.HandlerFunc(transformHandler))
	defer fn.Close()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	trust := func(service string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole",
			"Condition":{"StringEquals":{"aws:SourceAccount":"` + account + `"}}}}`
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
		c.Auth, c.AccountID, c.AuditLog = config.AuthOn, account, audit
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Roles: []config.Role{
				{Name: "transform", AssumeRolePolicy: trust("firehose.amazonaws.com"), Policies: []config.PolicyConfig{{Name: "invoke",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:` + account + `:function:upper*"}}`}}},
				{Name: "no-invoke", AssumeRolePolicy: trust("firehose.amazonaws.com"), Policies: []config.PolicyConfig{{Name: "s3",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}`}}},
				{Name: "lambda-only", AssumeRolePolicy: trust("lambda.amazonaws.com")},
			},
		}
	})
	role := func(name string) string { return "arn:aws:iam::" + account + ":role/" + name }
	ctx := t.Context()
	creds := credentials.NewStaticCredentialsProvider("AKIAROOTEXAMPLE00001", "root-secret", "")
	lc := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	created, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("upper"), Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String(fn.URL), Role: aws.String(role("lambda")), Code: &ltypes.FunctionCode{}})
	if err != nil {
		t.Fatal(err)
	}
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	create := func(name, bucket, destRole, processorRole string) error {
		params := []fhtypes.ProcessorParameter{{ParameterName: fhtypes.ProcessorParameterNameLambdaArn, ParameterValue: created.FunctionArn}}
		if processorRole != "" {
			params = append(params, fhtypes.ProcessorParameter{ParameterName: fhtypes.ProcessorParameterNameRoleArn, ParameterValue: aws.String(processorRole)})
		}
		_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(name),
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String(destRole),
				Prefix:            aws.String("ok/"),
				ErrorOutputPrefix: aws.String("errors/!{firehose:error-output-type}/"),
				BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
				ProcessingConfiguration: &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
					{Type: fhtypes.ProcessorTypeLambda, Parameters: params},
					{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}},
			}})
		if err != nil {
			return err
		}
		for {
			d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// lines waits for n lines in the objects of a bucket and returns
	// them, sorted, with the objects' keys.
	lines := func(bucket string, n int) ([]string, []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			keys, err := s3srv.Keys(ctx, bucket, "")
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, k := range keys {
				body, err := s3srv.Get(ctx, bucket, k)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")...)
			}
			if len(out) >= n {
				slices.Sort(out)
				return keys, out
			}
			if time.Now().After(deadline) {
				t.Fatalf("bucket %s has %v (%q), want %d lines", bucket, keys, out, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	put := func(name string, data ...string) {
		t.Helper()
		var recs []fhtypes.Record
		for _, s := range data {
			recs = append(recs, fhtypes.Record{Data: []byte(s)})
		}
		if _, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(name), Records: recs}); err != nil {
			t.Fatal(err)
		}
	}

	// Roles Firehose cannot assume are refused when the delivery stream
	// is created.
	for _, r := range []struct{ dest, processor, why string }{
		{role("none"), "", "does not exist"},
		{role("lambda-only"), "", "does not allow firehose.amazonaws.com"},
		{role("transform"), role("lambda-only"), "does not allow firehose.amazonaws.com"},
	} {
		err := create("refused", "unused", r.dest, r.processor)
		var inv *fhtypes.InvalidArgumentException
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "Firehose is unable to assume role") || !strings.Contains(err.Error(), r.why) {
			t.Errorf("roles %s / %s: %v, want InvalidArgumentException saying %q", r.dest, r.processor, err, r.why)
		}
	}

	// Allowed: the destination's role invokes the function.
	allowed := s3srv.Bucket(t, "roles-allowed")
	if err := create("allowed", allowed, role("transform"), ""); err != nil {
		t.Fatal(err)
	}
	put("allowed", "apple", "banana")
	keys, got := lines(allowed, 2)
	if !slices.Equal(got, []string{"APPLE", "BANANA"}) || !allUnder(keys, "ok/") {
		t.Fatalf("allowed: %v %q", keys, got)
	}

	// The processor's RoleArn wins over the destination's.
	byProcessor := s3srv.Bucket(t, "roles-processor")
	if err := create("by-processor", byProcessor, role("no-invoke"), role("transform")); err != nil {
		t.Fatal(err)
	}
	put("by-processor", "cherry")
	if keys, got := lines(byProcessor, 1); !slices.Equal(got, []string{"CHERRY"}) || !allUnder(keys, "ok/") {
		t.Fatalf("processor role: %v %q", keys, got)
	}

	// Denied: the role has no lambda:InvokeFunction.
	denied := s3srv.Bucket(t, "roles-denied")
	if err := create("denied", denied, role("no-invoke"), ""); err != nil {
		t.Fatal(err)
	}
	put("denied", "durian")
	keys, got = lines(denied, 1)
	if !allUnder(keys, "errors/processing-failed/") {
		t.Fatalf("denied: objects %v", keys)
	}
	for _, v := range got {
		var er struct{ ErrorCode, ErrorMessage, RawData, LambdaArn string }
		if err := json.Unmarshal([]byte(v), &er); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		raw, _ := base64.StdEncoding.DecodeString(er.RawData)
		wantMsg := "arn:aws:sts::" + account + ":assumed-role/no-invoke/denied is not authorized to perform: lambda:InvokeFunction"
		if string(raw) != "durian" || er.ErrorCode != "Lambda.InvokeAccessDenied" || !strings.Contains(er.ErrorMessage, wantMsg) || er.LambdaArn != aws.ToString(created.FunctionArn) {
			t.Fatalf("error record %+v, want Lambda.InvokeAccessDenied saying %q", er, wantMsg)
		}
	}

	// The audit log has the invocations, made by the role sessions.
	srv.Stop(t)
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type event struct {
		EventName, ErrorCode, SourceIPAddress string
		UserIdentity                          struct{ Type, Arn, PrincipalId, AccountId, InvokedBy string }
	}
	sessions := map[string]string{} // session ARN -> error code of its Invoke
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.EventName != "Invoke" {
			continue
		}
		u := ev.UserIdentity
		if u.Type != "AssumedRole" || u.InvokedBy != "firehose.amazonaws.com" || ev.SourceIPAddress != "firehose.amazonaws.com" ||
			u.AccountId != account || !strings.HasPrefix(u.PrincipalId, "AROA") {
			t.Errorf("Invoke event %+v", ev)
		}
		sessions[u.Arn] = ev.ErrorCode
	}
	want := map[string]string{
		"arn:aws:sts::" + account + ":assumed-role/transform/allowed":      "",
		"arn:aws:sts::" + account + ":assumed-role/transform/by-processor": "",
		"arn:aws:sts::" + account + ":assumed-role/no-invoke/denied":       "AccessDeniedException",
	}
	for arn, code := range want {
		if got, ok := sessions[arn]; !ok || got != code {
			t.Errorf("audit: Invoke by %s: seen %v, error %q; want error %q (all: %v)", arn, ok, got, code, sessions)
		}
	}
}

func allUnder(keys []string, prefix string) bool {
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
	}
	return len(keys) > 0
}

// TestFirehoseKinesisSourceRole: with auth on, a Kinesis-source delivery
// stream reads its stream as KinesisStreamSourceConfiguration.RoleARN:
// delivered when the role may read the stream, refused (in the audit log
// under the role session) when it may not.
func TestFirehoseKinesisSourceRole(t *testing.T) {
	const account = "111122223333"
	s3srv := s3test.Start(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}}`
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
		c.Auth, c.AccountID, c.AuditLog = config.AuthOn, account, audit
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Roles: []config.Role{
				{Name: "reader", AssumeRolePolicy: trust, Policies: []config.PolicyConfig{{Name: "read",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kinesis:ListShards","kinesis:GetShardIterator","kinesis:GetRecords"],
						"Resource":"arn:aws:kinesis:us-east-1:` + account + `:stream/readable"}}`}}},
				{Name: "no-read", AssumeRolePolicy: trust},
			},
		}
	})
	ctx := t.Context()
	creds := credentials.NewStaticCredentialsProvider("AKIAROOTEXAMPLE00001", "root-secret", "")
	k := srv.Kinesis(func(o *kinesis.Options) { o.Credentials = creds })
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: srv.HTTPClient()})
	bucket := s3srv.Bucket(t, "kinesis-role")
	for _, st := range []struct{ stream, delivery, role string }{{"readable", "from-readable", "reader"}, {"unreadable", "from-unreadable", "no-read"}} {
		if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(st.stream), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		for {
			d, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(st.stream)})
			if err != nil {
				t.Fatal(err)
			}
			if d.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		roleARN := "arn:aws:iam::" + account + ":role/" + st.role
		if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(st.delivery),
			DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
			KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{
				KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:" + account + ":stream/" + st.stream), RoleARN: aws.String(roleARN)},
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String(roleARN), Prefix: aws.String(st.stream + "/"),
				BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)}},
		}); err != nil {
			t.Fatal(err)
		}
		for {
			d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(st.delivery)})
			if err != nil {
				t.Fatal(err)
			}
			if d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(st.stream), PartitionKey: aws.String("p"),
			Data: []byte(st.stream + "-record\n")}); err != nil {
			t.Fatal(err)
		}
	}

	// The readable stream's record is delivered.
	deadline := time.Now().Add(30 * time.Second)
	for {
		keys, err := s3srv.Keys(ctx, bucket, "readable/")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			body, err := s3srv.Get(ctx, bucket, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != "readable-record\n" {
				t.Fatalf("%s = %q", keys[0], body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the readable stream's record was not delivered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The other role's reads were refused, as the audit log says.
	denied := "arn:aws:sts::" + account + ":assumed-role/no-read/from-unreadable"
	deadline = time.Now().Add(30 * time.Second)
	for !auditHas(t, audit, "ListShards", denied, "AccessDeniedException") {
		if time.Now().After(deadline) {
			t.Fatalf("no denied ListShards by %s in the audit log", denied)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if keys, err := s3srv.Keys(ctx, bucket, "unreadable/"); err != nil || len(keys) != 0 {
		t.Fatalf("the unreadable stream was delivered: %v %v", keys, err)
	}
	if !auditHas(t, audit, "ListShards", "arn:aws:sts::"+account+":assumed-role/reader/from-readable", "") {
		t.Error("no ListShards by the reader's session in the audit log")
	}
}

// auditHas reports whether the audit log has an event of the operation
// by the session, with the error code ("" none).
func auditHas(t *testing.T, path, op, session, code string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			EventName, ErrorCode string
			UserIdentity         struct{ Arn, InvokedBy string }
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.EventName == op && ev.UserIdentity.Arn == session &&
			ev.ErrorCode == code && ev.UserIdentity.InvokedBy == "firehose.amazonaws.com" {
			return true
		}
	}
	return false
}

package lambda_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestEventSourceMappingOnFailureAsRole: with auth on, a mapping writes
// its on-failure records to a Kinesis stream as a session of the
// function's execution role: written when the role's policy allows
// kinesis:PutRecord on the stream, refused (AccessDeniedException, in the
// audit log under the role session) when it does not.
func TestEventSourceMappingOnFailureAsRole(t *testing.T) {
	const account = "111122223333"
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}`
	s := servertest.Start(t, func(c *config.Config) {
		c.Auth, c.AccountID, c.AuditLog, c.AuditDataEvents = config.AuthOn, account, audit, true
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Roles: []config.Role{
				{Name: "can-put", AssumeRolePolicy: trust, Policies: []config.PolicyConfig{readPolicy(account), {Name: "dlq",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"arn:aws:kinesis:us-east-1:` + account + `:stream/dlq"}}`}}},
				{Name: "cannot-put", AssumeRolePolicy: trust, Policies: []config.PolicyConfig{readPolicy(account)}},
			},
		}
	})
	creds := credentials.NewStaticCredentialsProvider("AKIAROOTEXAMPLE00001", "root-secret", "")
	c := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: s.HTTPClient()})
	k := s.Kinesis(func(o *kinesis.Options) { o.Credentials = creds })
	ctx := context.Background()
	// The function fails every batch.
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"errorMessage":"no"}`, http.StatusInternalServerError)
	}))
	defer fn.Close()
	dlq := createStream(t, k, "dlq", 1)
	for _, name := range []string{"can-put", "cannot-put"} {
		src := createStream(t, k, "src-"+name, 1)
		if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("fn-" + name), Runtime: types.RuntimeProvidedal2023,
			Handler: aws.String(fn.URL), Role: aws.String("arn:aws:iam::" + account + ":role/" + name), Code: &types.FunctionCode{}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
			FunctionName: aws.String("fn-" + name), EventSourceArn: aws.String(src),
			StartingPosition: types.EventSourcePositionTrimHorizon, MaximumRetryAttempts: aws.Int32(0),
			DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(dlq)}},
		}); err != nil {
			t.Fatal(err)
		}
		putAll(t, k, "src-"+name, [][2]string{{"pk", "from " + name}})
	}

	// Each mapping tries; the audit log shows who.
	sessionPuts := func() map[string]string {
		f, err := os.Open(audit)
		if err != nil {
			return nil
		}
		defer f.Close()
		out := map[string]string{}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				EventName, ErrorCode string
				UserIdentity         struct{ Type, Arn, InvokedBy string }
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.EventName != "PutRecord" || ev.UserIdentity.Type != "AssumedRole" {
				continue
			}
			if ev.UserIdentity.InvokedBy != "lambda.amazonaws.com" {
				t.Errorf("PutRecord by %+v", ev.UserIdentity)
			}
			out[ev.UserIdentity.Arn] = ev.ErrorCode
		}
		return out
	}
	allowed, denied := "arn:aws:sts::"+account+":assumed-role/can-put/fn-can-put", "arn:aws:sts::"+account+":assumed-role/cannot-put/fn-cannot-put"
	eventually(t, "both mappings' on-failure writes in the audit log", func() bool {
		p := sessionPuts()
		_, a := p[allowed]
		_, d := p[denied]
		return a && d
	})
	if p := sessionPuts(); p[allowed] != "" || p[denied] != "AccessDeniedException" {
		t.Fatalf("PutRecord results by session: %v", p)
	}

	// The on-failure stream holds the allowed mapping's record only.
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("dlq"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 1 || !bytes.Contains(out.Records[0].Data, []byte(`function:fn-can-put`)) {
		var got []string
		for _, r := range out.Records {
			got = append(got, string(r.Data))
		}
		t.Fatalf("on-failure records %q, want the can-put function's one", got)
	}
}

// lambdaTrust lets Lambda assume a role.
const lambdaTrust = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}`

// readActions are the reads Lambda requires of a Kinesis mapping's
// execution role.
var readActions = []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards",
	"kinesis:GetShardIterator", "kinesis:GetRecords"}

// readPolicy allows the given reads (all of readActions by default) on
// every stream of the account.
func readPolicy(account string, actions ...string) config.PolicyConfig {
	if actions == nil {
		actions = readActions
	}
	a, _ := json.Marshal(actions)
	return config.PolicyConfig{Name: "read", Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":` + string(a) +
		`,"Resource":"arn:aws:kinesis:us-east-1:` + account + `:stream/*"}}`}
}

// auditEvents reads the audit log's events named name made by role
// sessions: session ARN → the last error code ("" for success).
func auditEvents(t *testing.T, path, name string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			EventName, ErrorCode string
			UserIdentity         struct{ Type, Arn, InvokedBy string }
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.EventName != name || ev.UserIdentity.Type != "AssumedRole" {
			continue
		}
		if ev.UserIdentity.InvokedBy != "lambda.amazonaws.com" {
			t.Errorf("%s by %+v", name, ev.UserIdentity)
		}
		out[ev.UserIdentity.Arn] = ev.ErrorCode
	}
	return out
}

// TestEventSourceMappingSourceAccessAsRole: with auth on, creating or
// updating a mapping checks that the function's execution role may read
// the stream, and names the first read it may not make.
func TestEventSourceMappingSourceAccessAsRole(t *testing.T) {
	const account = "111122223333"
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	untrusting := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}}`
	s := servertest.Start(t, func(c *config.Config) {
		c.Auth, c.AccountID, c.AuditLog = config.AuthOn, account, audit
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Roles: []config.Role{
				{Name: "reader", AssumeRolePolicy: lambdaTrust, Policies: []config.PolicyConfig{readPolicy(account)}},
				{Name: "none", AssumeRolePolicy: lambdaTrust},
				{Name: "no-records", AssumeRolePolicy: lambdaTrust, Policies: []config.PolicyConfig{readPolicy(account, readActions[:4]...)}},
				{Name: "no-shards", AssumeRolePolicy: lambdaTrust, Policies: []config.PolicyConfig{readPolicy(account, readActions[:2]...)}},
				{Name: "untrusting", AssumeRolePolicy: untrusting, Policies: []config.PolicyConfig{readPolicy(account)}},
			},
		}
	})
	creds := credentials.NewStaticCredentialsProvider("AKIAROOTEXAMPLE00001", "root-secret", "")
	c := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: s.HTTPClient()})
	k := s.Kinesis(func(o *kinesis.Options) { o.Credentials = creds })
	ctx := context.Background()
	src := createStream(t, k, "src", 2)
	for _, name := range []string{"reader", "none", "no-records", "no-shards", "untrusting"} {
		if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("fn-" + name), Runtime: types.RuntimeProvidedal2023,
			Handler: aws.String("http://127.0.0.1:1"), Role: aws.String("arn:aws:iam::" + account + ":role/" + name), Code: &types.FunctionCode{}}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(fn string) (*lambda.CreateEventSourceMappingOutput, error) {
		return c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
			FunctionName: aws.String(fn), EventSourceArn: aws.String(src), Enabled: aws.Bool(false),
			StartingPosition: types.EventSourcePositionLatest})
	}
	wantInvalid := func(err error, msg string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValueException" || ae.ErrorMessage() != msg {
			t.Fatalf("got %v, want InvalidParameterValueException %q", err, msg)
		}
	}
	for name, msg := range map[string]string{
		"none":       "The provided execution role does not have permissions to call DescribeStream on Kinesis",
		"no-shards":  "The provided execution role does not have permissions to call ListShards on Kinesis",
		"no-records": "The provided execution role does not have permissions to call GetRecords on Kinesis",
		"untrusting": "The role defined for the function cannot be assumed by Lambda.",
	} {
		_, err := create("fn-" + name)
		wantInvalid(err, msg)
	}
	m, err := create("fn-reader")
	if err != nil {
		t.Fatal(err)
	}
	// Moving the mapping to a function whose role may not read is refused
	// too, and leaves it as it was.
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, FunctionName: aws.String("fn-no-records")})
	wantInvalid(err, "The provided execution role does not have permissions to call GetRecords on Kinesis")
	got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: m.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(got.FunctionArn), ":function:fn-reader") {
		t.Fatalf("mapping's function %s after a refused update", aws.ToString(got.FunctionArn))
	}
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, BatchSize: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	// The checks are the role sessions' calls, in the audit log.
	none, reader := "arn:aws:sts::"+account+":assumed-role/none/fn-none", "arn:aws:sts::"+account+":assumed-role/reader/fn-reader"
	eventually(t, "the checks' DescribeStream calls in the audit log", func() bool {
		d := auditEvents(t, audit, "DescribeStream")
		_, n := d[none]
		_, r := d[reader]
		return n && r
	})
	if d := auditEvents(t, audit, "DescribeStream"); d[none] != "AccessDeniedException" || d[reader] != "" {
		t.Fatalf("DescribeStream by session: %v", d)
	}
}

// TestEventSourceMappingOnFailureFunctionAsRole: with auth on, a mapping
// invokes a Lambda function on-failure destination as a session of the
// function's execution role: queued when the role may
// lambda:InvokeFunction the destination, refused (AccessDeniedException,
// in the audit log) when it may not.
func TestEventSourceMappingOnFailureFunctionAsRole(t *testing.T) {
	const account = "111122223333"
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	invoke := config.PolicyConfig{Name: "dest", Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:` + account + `:function:dest"}}`}
	s := servertest.Start(t, func(c *config.Config) {
		c.Auth, c.AccountID, c.AuditLog, c.AuditDataEvents = config.AuthOn, account, audit, true
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Roles: []config.Role{
				{Name: "can-invoke", AssumeRolePolicy: lambdaTrust, Policies: []config.PolicyConfig{readPolicy(account), invoke}},
				{Name: "cannot-invoke", AssumeRolePolicy: lambdaTrust, Policies: []config.PolicyConfig{readPolicy(account)}},
				{Name: "dest", AssumeRolePolicy: lambdaTrust},
			},
		}
	})
	creds := credentials.NewStaticCredentialsProvider("AKIAROOTEXAMPLE00001", "root-secret", "")
	c := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1, Credentials: creds, HTTPClient: s.HTTPClient()})
	k := s.Kinesis(func(o *kinesis.Options) { o.Credentials = creds })
	ctx := context.Background()
	// The mapped functions fail every batch; the destination records what
	// it is given.
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"errorMessage":"no"}`, http.StatusInternalServerError)
	}))
	defer fn.Close()
	var mu sync.Mutex
	var received []string
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, string(b))
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	defer dest.Close()
	d, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("dest"), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String(dest.URL), Role: aws.String("arn:aws:iam::" + account + ":role/dest"), Code: &types.FunctionCode{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"can-invoke", "cannot-invoke"} {
		src := createStream(t, k, "src-"+name, 1)
		if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("fn-" + name), Runtime: types.RuntimeProvidedal2023,
			Handler: aws.String(fn.URL), Role: aws.String("arn:aws:iam::" + account + ":role/" + name), Code: &types.FunctionCode{}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
			FunctionName: aws.String("fn-" + name), EventSourceArn: aws.String(src),
			StartingPosition: types.EventSourcePositionTrimHorizon, MaximumRetryAttempts: aws.Int32(0),
			DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: d.FunctionArn}},
		}); err != nil {
			t.Fatal(err)
		}
		putAll(t, k, "src-"+name, [][2]string{{"pk", "from " + name}})
	}
	allowed, denied := "arn:aws:sts::"+account+":assumed-role/can-invoke/fn-can-invoke", "arn:aws:sts::"+account+":assumed-role/cannot-invoke/fn-cannot-invoke"
	eventually(t, "both mappings' on-failure invocations in the audit log", func() bool {
		p := auditEvents(t, audit, "Invoke")
		_, a := p[allowed]
		_, d := p[denied]
		return a && d
	})
	if p := auditEvents(t, audit, "Invoke"); p[allowed] != "" || p[denied] != "AccessDeniedException" {
		t.Fatalf("Invoke results by session: %v", p)
	}
	// The destination runs the allowed mapping's record only.
	eventually(t, "the destination's invocation", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 1 || !strings.Contains(received[0], `function:fn-can-invoke`) {
		t.Fatalf("destination invoked with %q, want the can-invoke function's record", received)
	}
}

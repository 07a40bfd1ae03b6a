package lambda_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

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
				{Name: "can-put", AssumeRolePolicy: trust, Policies: []config.PolicyConfig{{Name: "dlq",
					Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"arn:aws:kinesis:us-east-1:` + account + `:stream/dlq"}}`}}},
				{Name: "cannot-put", AssumeRolePolicy: trust},
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

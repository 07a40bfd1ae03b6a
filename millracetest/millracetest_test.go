package millracetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/millrace/millrace/millracetest"
)

// TestExampleFile runs the test of the package example.
func TestExampleFile(t *testing.T) {
	testPublishOrder(t)
}

// noRetries makes a client report the first answer it gets.
func noRetries(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

func createStream(t *testing.T, c *kinesis.Client, name string, shards int32) {
	t.Helper()
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
}

// errorCode is the AWS error code of err, or "" for success.
func errorCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae.ErrorCode()
}

func putBatch(t *testing.T, c *kinesis.Client, stream string, n int) *kinesis.PutRecordsOutput {
	t.Helper()
	entries := make([]types.PutRecordsRequestEntry, n)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String(fmt.Sprint(i))}
	}
	out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	return out
}

func TestEndpointServesHealth(t *testing.T) {
	srv := millracetest.New(t)
	if !strings.HasPrefix(srv.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("Endpoint() = %q, want http://127.0.0.1:PORT", srv.Endpoint())
	}
	resp, err := http.Get(srv.Endpoint() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health: %s", resp.Status)
	}
}

func TestAWSConfig(t *testing.T) {
	srv := millracetest.New(t)
	cfg := srv.AWSConfig()
	if cfg.Region != millracetest.Region || aws.ToString(cfg.BaseEndpoint) != srv.Endpoint() {
		t.Fatalf("AWSConfig: region %q, endpoint %q; want %q, %q", cfg.Region, aws.ToString(cfg.BaseEndpoint), millracetest.Region, srv.Endpoint())
	}
	// Each call returns a configuration of its own.
	cfg.Region = "eu-west-1"
	if again := srv.AWSConfig(); again.Region != millracetest.Region {
		t.Fatalf("changing one AWSConfig changed the next: region %q", again.Region)
	}
	// Streams are per region, as on AWS: one created through the eu-west-1
	// copy is not in us-east-1.
	createStream(t, kinesis.NewFromConfig(cfg), "eu-only", 1)
	_, err := kinesis.NewFromConfig(srv.AWSConfig(), noRetries).DescribeStreamSummary(t.Context(),
		&kinesis.DescribeStreamSummaryInput{StreamName: aws.String("eu-only")})
	if code := errorCode(t, err); code != "ResourceNotFoundException" {
		t.Fatalf("DescribeStreamSummary in us-east-1 of a eu-west-1 stream: got %q, want ResourceNotFoundException", code)
	}
	ddb := dynamodb.NewFromConfig(srv.AWSConfig())
	if _, err := ddb.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("DynamoDB ListTables: %v", err)
	}
}

func TestThroughputLimits(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		c := kinesis.NewFromConfig(millracetest.New(t).AWSConfig(), noRetries)
		createStream(t, c, "s", 1)
		// 2,000 records in two calls: twice a shard's one-second allowance.
		for range 4 {
			if out := putBatch(t, c, "s", 500); aws.ToInt32(out.FailedRecordCount) != 0 {
				t.Fatalf("%d of 500 records failed with limits off", aws.ToInt32(out.FailedRecordCount))
			}
		}
	})
	t.Run("on", func(t *testing.T) {
		srv := millracetest.New(t, millracetest.WithThroughputLimits(millracetest.Limits{WriteRecordsPerSec: 5}))
		c := kinesis.NewFromConfig(srv.AWSConfig(), noRetries)
		createStream(t, c, "s", 1)
		// The shard holds at most one second of its rate, 5 records, however
		// long the test takes to get here.
		out := putBatch(t, c, "s", 50)
		if failed := aws.ToInt32(out.FailedRecordCount); failed < 45 {
			t.Fatalf("%d of 50 records failed, want at least 45 throttled at 5 records/s", failed)
		}
		for _, r := range out.Records {
			if r.ErrorCode != nil && *r.ErrorCode != "ProvisionedThroughputExceededException" {
				t.Fatalf("entry failed with %s: %s", *r.ErrorCode, aws.ToString(r.ErrorMessage))
			}
		}
	})
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		faults millracetest.Faults
		code   string
	}{
		{millracetest.Faults{ThrottleProbability: 1, Seed: 7}, "ProvisionedThroughputExceededException"},
		{millracetest.Faults{InternalProbability: 1, Seed: 7}, "InternalFailure"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			srv := millracetest.New(t, millracetest.WithFaults(tc.faults))
			c := kinesis.NewFromConfig(srv.AWSConfig(), noRetries)
			createStream(t, c, "s", 1) // control-plane calls do not fail
			_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
				StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x"),
			})
			if code := errorCode(t, err); code != tc.code {
				t.Fatalf("PutRecord: got %q (%v), want %s", code, err, tc.code)
			}
			out := putBatch(t, c, "s", 3)
			for i, r := range out.Records {
				if aws.ToString(r.ErrorCode) != tc.code {
					t.Fatalf("PutRecords entry %d: got code %q, want %s", i, aws.ToString(r.ErrorCode), tc.code)
				}
			}
		})
	}
}

func TestUsers(t *testing.T) {
	alice := millracetest.User{Name: "alice", AccessKeyID: "AKIAALICE00000000001", SecretAccessKey: "alice-secret", Policies: []string{millracetest.AllowAll}}
	bob := millracetest.User{Name: "bob", AccessKeyID: "AKIABOB0000000000001", SecretAccessKey: "bob-secret", Policies: []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:List*","Resource":"*"}]}`,
	}}
	srv := millracetest.New(t, millracetest.WithUsers(alice, bob))
	ctx := t.Context()

	// AWSConfig signs as the first user.
	createStream(t, kinesis.NewFromConfig(srv.AWSConfig(), noRetries), "s", 1)

	as := func(creds aws.CredentialsProvider) aws.Config {
		cfg := srv.AWSConfig()
		cfg.Credentials = creds
		return cfg
	}
	for _, tc := range []struct {
		name  string
		creds aws.CredentialsProvider
		code  string
	}{
		{"bob may list", credentials.NewStaticCredentialsProvider(bob.AccessKeyID, bob.SecretAccessKey, ""), ""},
		{"wrong secret", credentials.NewStaticCredentialsProvider(alice.AccessKeyID, "not-the-secret", ""), "InvalidSignatureException"},
		{"unknown key", credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""), "UnrecognizedClientException"},
		{"unsigned", aws.AnonymousCredentials{}, "MissingAuthenticationTokenException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kinesis.NewFromConfig(as(tc.creds), noRetries).ListStreams(ctx, &kinesis.ListStreamsInput{})
			if code := errorCode(t, err); code != tc.code {
				t.Fatalf("ListStreams: got %q (%v), want %q", code, err, tc.code)
			}
		})
	}
	t.Run("bob may not write", func(t *testing.T) {
		c := kinesis.NewFromConfig(as(credentials.NewStaticCredentialsProvider(bob.AccessKeyID, bob.SecretAccessKey, "")), noRetries)
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")})
		if code := errorCode(t, err); code != "AccessDeniedException" {
			t.Fatalf("PutRecord as bob: got %q (%v), want AccessDeniedException", code, err)
		}
	})
	t.Run("DynamoDB checks signatures", func(t *testing.T) {
		c := dynamodb.NewFromConfig(as(credentials.NewStaticCredentialsProvider(alice.AccessKeyID, "not-the-secret", "")),
			func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
		_, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
		if code := errorCode(t, err); code != "InvalidSignatureException" {
			t.Fatalf("ListTables with a wrong secret: got %q (%v), want InvalidSignatureException", code, err)
		}
		if _, err := dynamodb.NewFromConfig(srv.AWSConfig()).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("ListTables as alice: %v", err)
		}
	})
}

// readAll returns the data of every record in shard 0 of stream.
func readAll(t *testing.T, c *kinesis.Client, stream string) []string {
	t.Helper()
	it, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("GetShardIterator: %v", err)
	}
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	var data []string
	for _, r := range out.Records {
		data = append(data, string(r.Data))
	}
	return data
}

func TestRestart(t *testing.T) {
	t.Run("data dir survives", func(t *testing.T) {
		srv := millracetest.New(t, millracetest.WithDataDir(t.TempDir()))
		endpoint := srv.Endpoint()
		c := kinesis.NewFromConfig(srv.AWSConfig(), noRetries)
		createStream(t, c, "kept", 1)
		if _, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("kept"), PartitionKey: aws.String("k"), Data: []byte("before")}); err != nil {
			t.Fatal(err)
		}
		srv.Restart()
		if srv.Endpoint() != endpoint {
			t.Fatalf("the endpoint moved from %s to %s", endpoint, srv.Endpoint())
		}
		// The client built before the restart still works.
		if got := readAll(t, c, "kept"); len(got) != 1 || got[0] != "before" {
			t.Fatalf("after the restart the stream holds %q, want [before]", got)
		}
	})
	t.Run("in memory starts empty", func(t *testing.T) {
		srv := millracetest.New(t)
		c := kinesis.NewFromConfig(srv.AWSConfig(), noRetries)
		createStream(t, c, "gone", 1)
		srv.Restart()
		out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.StreamNames) != 0 {
			t.Fatalf("after restarting in memory the server lists %q, want no streams", out.StreamNames)
		}
	})
}

func TestStateDelay(t *testing.T) {
	// An hour: the stream is certainly still CREATING when described, on
	// any machine. Stopping the server does not wait for it.
	srv := millracetest.New(t, millracetest.WithStateDelay(time.Hour))
	c := kinesis.NewFromConfig(srv.AWSConfig(), noRetries)
	createStream(t, c, "slow", 1)
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.StreamDescriptionSummary.StreamStatus; s != types.StreamStatusCreating {
		t.Fatalf("status %s, want CREATING", s)
	}
}

func TestWithLogger(t *testing.T) {
	var buf syncBuffer
	millracetest.New(t,
		millracetest.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))),
		millracetest.WithUsers(millracetest.User{Name: "u", AccessKeyID: "AKIAU000000000000001", SecretAccessKey: "s"}))
	if !strings.Contains(buf.String(), "authentication on") {
		t.Fatalf("the logger got %q, want the server's start-up lines", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCleanupStopsTheServer(t *testing.T) {
	before := goleak.IgnoreCurrent()
	var endpoint string
	t.Run("server", func(t *testing.T) {
		srv := millracetest.New(t, millracetest.WithDataDir(t.TempDir()))
		endpoint = srv.Endpoint()
		c := kinesis.NewFromConfig(srv.AWSConfig())
		createStream(t, c, "s", 1)
		if _, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(endpoint + "/health"); err == nil {
		resp.Body.Close()
		t.Fatalf("GET /health after the test ended: %s, want a refused connection", resp.Status)
	}
	goleak.VerifyNone(t, before)
}

func TestStop(t *testing.T) {
	srv := millracetest.New(t)
	c := kinesis.NewFromConfig(srv.AWSConfig(), noRetries)
	srv.Stop()
	srv.Stop() // a second Stop does nothing
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}); err == nil {
		t.Fatal("ListStreams after Stop succeeded")
	}
}

// fatalTB records Fatalf instead of failing the test, and ends the
// goroutine as Fatalf does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestBadOptionsFailTheTest(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  millracetest.Option
		want string
	}{
		{"user without secret", millracetest.WithUsers(millracetest.User{Name: "u", AccessKeyID: "AKIA1"}), "WithUsers: user 1 (\"u\") needs both AccessKeyID and SecretAccessKey"},
		{"user without name", millracetest.WithUsers(millracetest.User{AccessKeyID: "AKIA1", SecretAccessKey: "s"}), "has no Name"},
		{"negative delay", millracetest.WithStateDelay(-time.Second), "WithStateDelay: -1s must not be negative"},
		{"probability above 1", millracetest.WithFaults(millracetest.Faults{ThrottleProbability: 2}), "fault-throttle-probability: 2 must be between 0 and 1"},
		{"negative rate", millracetest.WithThroughputLimits(millracetest.Limits{ReadCallsPerSec: -1}), "shard-read-calls-per-sec: -1 must be greater than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				millracetest.New(f, tc.opt)
			}()
			<-done
			if !strings.Contains(f.msg, tc.want) {
				t.Fatalf("New failed the test with %q, want it to say %q", f.msg, tc.want)
			}
		})
	}
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// isolateAWSConfig hides the machine's AWS configuration from the stream
// tools: no shared files, no credentials or profile in the environment, no
// instance metadata. The tools then sign with their fallback credentials.
func isolateAWSConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
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

func (s *syncBuffer) lines() []string {
	out := strings.TrimSuffix(s.String(), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// background runs a command in the background with its own stdout and
// stderr; wait returns its exit code. The command is cancelled (as by
// SIGINT) if it has not ended within a minute, or when the test ends.
type background struct {
	stdout, stderr syncBuffer
	done           chan int
	ctx            context.Context
	cancel         context.CancelFunc
}

func runBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b := &background{done: make(chan int, 1), ctx: ctx, cancel: cancel}
	go func() {
		b.done <- run(ctx, append([]string{"millrace"}, args...), &b.stdout, &b.stderr, noEnv)
	}()
	t.Cleanup(func() { cancel(); <-b.done; b.done <- -1 })
	return b
}

// wait returns the exit code; a command that had to be stopped after a
// minute fails the test.
func (b *background) wait(t *testing.T) int {
	t.Helper()
	code := <-b.done
	b.done <- code
	if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("the command did not end within a minute; stderr %q", b.stderr.String())
	}
	return code
}

// waitLines waits until the command has printed n lines, or has ended.
func (b *background) waitLines(t *testing.T, n int) {
	t.Helper()
	for len(b.stdout.lines()) < n {
		select {
		case code := <-b.done:
			b.done <- code
			t.Fatalf("command ended (exit %d) after %d lines, want %d; stderr %q", code, len(b.stdout.lines()), n, b.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func limitsOn(c *config.Config) { c.ThroughputLimits = "on" }

// createStream creates a stream of n shards and waits until it is ACTIVE.
func createStream(t *testing.T, c *kinesis.Client, name string, shards int32) {
	t.Helper()
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
	waitActive(t, c, name)
}

func waitActive(t *testing.T, c *kinesis.Client, name string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary %s: %v", name, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still %s", name, out.StreamDescriptionSummary.StreamStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// putRecords puts one record per data with the key of the same index,
// retrying throttled records.
func putRecords(t *testing.T, c *kinesis.Client, stream string, keys []string, datas [][]byte) {
	t.Helper()
	for i := 0; i < len(datas); {
		j := min(i+500, len(datas))
		var entries []types.PutRecordsRequestEntry
		for k := i; k < j; k++ {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(keys[k]), Data: datas[k]})
		}
		out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %d records failed (%s)", aws.ToInt32(out.FailedRecordCount), aws.ToString(out.Records[0].ErrorCode))
		}
		i = j
	}
}

// startServer starts a server and hides the machine's AWS configuration.
func startServer(t *testing.T, opts ...func(*config.Config)) (*servertest.Server, *kinesis.Client) {
	t.Helper()
	isolateAWSConfig(t)
	srv := servertest.Start(t, opts...)
	return srv, srv.Kinesis()
}

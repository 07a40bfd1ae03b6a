package lambda_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	lambdasvc "github.com/millrace/millrace/internal/lambda"
	"github.com/millrace/millrace/internal/server/servertest"
)

// attempts reads the request ids a "flaky" event wrote, one per attempt.
func attempts(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func eventInvoke(t *testing.T, c *lambda.Client, fn string, payload any) {
	t.Helper()
	out := invoke(t, c, fn, payload, func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
	if out.StatusCode != 202 {
		t.Fatalf("Event Invoke: status %d", out.StatusCode)
	}
}

// An Event invocation whose function fails on its first two attempts
// runs three times with the default config, every time with the same
// request id; with MaximumRetryAttempts 0 it runs once.
func TestEventInvocationRetried(t *testing.T) {
	lambdasvc.SetAsyncRetryDelays(t, 10*time.Millisecond, 20*time.Millisecond)
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	dir := t.TempDir()
	createFunction(t, c, "flaky")
	path := filepath.Join(dir, "flaky")
	eventInvoke(t, c, "flaky", map[string]any{"action": "flaky", "path": path, "fails": 2})
	eventually(t, "three attempts", func() bool { return len(attempts(path)) >= 3 })
	got := attempts(path)
	if len(got) != 3 || got[0] != got[1] || got[1] != got[2] {
		t.Fatalf("attempts: %q, want three of one request id", got)
	}

	// MaximumRetryAttempts 0, and one execution at a time: an event queued
	// once the first attempt ran runs after a retry of it due 10 ms after
	// it would have (unless that retry was queued later still, when the
	// check below cannot see it: the exact count is TestEventRetries').
	createFunction(t, c, "once")
	if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("once"), MaximumRetryAttempts: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("once"), ReservedConcurrentExecutions: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	once, marker := filepath.Join(dir, "once"), filepath.Join(dir, "marker")
	eventInvoke(t, c, "once", map[string]any{"action": "flaky", "path": once, "fails": 2})
	eventually(t, "the first attempt", func() bool { return len(attempts(once)) >= 1 })
	eventInvoke(t, c, "once", map[string]any{"action": "touch", "path": marker, "message": "ran"})
	eventually(t, "the later event", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	if got := attempts(once); len(got) != 1 {
		t.Fatalf("attempts with MaximumRetryAttempts 0: %q, want one", got)
	}
}

// A retry waiting for its turn survives a restart of the server.
func TestEventRetrySurvivesRestart(t *testing.T) {
	lambdasvc.SetAsyncRetryDelays(t, 2*time.Second)
	s := servertest.Start(t)
	c := client(s)
	path := filepath.Join(t.TempDir(), "flaky")
	createFunction(t, c, "flaky")
	eventInvoke(t, c, "flaky", map[string]any{"action": "flaky", "path": path, "fails": 1})
	eventually(t, "the first attempt", func() bool { return len(attempts(path)) >= 1 })
	s.Stop(t)
	s.Restart(t)
	eventually(t, "the retry after the restart", func() bool { return len(attempts(path)) >= 2 })
	got := attempts(path)
	for _, id := range got[1:] {
		if id != got[0] {
			t.Fatalf("attempts: %q, want one request id", got)
		}
	}
}

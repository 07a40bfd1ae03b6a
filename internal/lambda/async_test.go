package lambda_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// An Event invocation Invoke accepted (202) runs even when the server
// stops before it does: one waiting for an execution slot, and one
// running when the server stopped, both run after the restart.
func TestEventInvocationSurvivesRestart(t *testing.T) {
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	dir := t.TempDir()
	createFunction(t, c, "worker", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(60) })
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("worker"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	event := func(payload map[string]string) {
		out := invoke(t, c, "worker", payload, func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
		if out.StatusCode != 202 {
			t.Fatalf("Event Invoke: status %d", out.StatusCode)
		}
	}
	release, touched := filepath.Join(dir, "release"), filepath.Join(dir, "touched")
	event(map[string]string{"action": "block", "path": release})
	event(map[string]string{"action": "touch", "path": touched, "message": "ran"})
	eventually(t, "the first event running", func() bool {
		_, err := os.Stat(release + ".started")
		return err == nil
	})
	if _, err := os.Stat(touched); err == nil {
		t.Fatal("the second event ran while the only execution slot was taken")
	}

	s.Stop(t)
	// The first event runs again after the restart: its marker comes back,
	// and it ends at once.
	if err := os.Remove(release + ".started"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	eventually(t, "both events run after the restart", func() bool {
		_, err1 := os.Stat(release + ".started")
		b, err2 := os.ReadFile(touched)
		return err1 == nil && err2 == nil && string(b) == "ran"
	})
}

// A function at its reserved concurrency does not hold up the events of
// other functions queued after its own, even when its queue is longer
// than the server's concurrency: they wait unread in the queue.
func TestEventQueueNoHeadOfLineBlocking(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.LambdaConcurrency = 3 })
	c := client(s)
	ctx := context.Background()
	dir := t.TempDir()
	createFunction(t, c, "slow", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(60) })
	createFunction(t, c, "other")
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("slow"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	event := func(fn string, payload map[string]string) {
		out := invoke(t, c, fn, payload, func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
		if out.StatusCode != 202 {
			t.Fatalf("Event Invoke: status %d", out.StatusCode)
		}
	}
	release := filepath.Join(dir, "release")
	event("slow", map[string]string{"action": "block", "path": release})
	eventually(t, "the slow function's first event running", func() bool {
		_, err := os.Stat(release + ".started")
		return err == nil
	})
	var slow []string
	for i := range 8 {
		slow = append(slow, filepath.Join(dir, fmt.Sprint("slow-", i)))
		event("slow", map[string]string{"action": "touch", "path": slow[i], "message": "ran"})
	}
	other := filepath.Join(dir, "other")
	event("other", map[string]string{"action": "touch", "path": other, "message": "ran"})
	eventually(t, "the other function's event running while the slow one's are queued", func() bool {
		_, err := os.Stat(other)
		return err == nil
	})
	for _, p := range slow {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s ran while the slow function's only execution slot was taken", p)
		}
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slow function's queue drained", func() bool {
		for _, p := range slow {
			if _, err := os.Stat(p); err != nil {
				return false
			}
		}
		return true
	})
}

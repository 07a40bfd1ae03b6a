package lambda_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

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

package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunnerRestartsAPanickedUnitAndStops(t *testing.T) {
	r := newRunner(slog.New(slog.DiscardHandler))
	r.restartPause = time.Millisecond
	var runs atomic.Int32
	second := make(chan struct{})
	r.Go("flaky", func(ctx context.Context) {
		if runs.Add(1) == 1 {
			panic("first run fails")
		}
		close(second)
		<-ctx.Done()
	})
	done := make(chan struct{})
	r.Go("once", func(ctx context.Context) { close(done) })
	<-second
	<-done
	r.Stop()
	if n := runs.Load(); n != 2 {
		t.Fatalf("unit ran %d times, want 2 (once more after its panic)", n)
	}
}

package background

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunnerRestartsAPanickedUnitAndStops(t *testing.T) {
	r := New(slog.New(slog.DiscardHandler))
	r.RestartPause = time.Millisecond
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
	once := r.Go("once", func(ctx context.Context) { close(done) })
	<-second
	<-done
	<-once.Done()
	r.Stop()
	if n := runs.Load(); n != 2 {
		t.Fatalf("unit ran %d times, want 2 (once more after its panic)", n)
	}
}

func TestUnitStopEndsOnlyThatUnit(t *testing.T) {
	r := New(nil)
	defer r.Stop()
	var aStopped, bStopped atomic.Bool
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	a := r.Go("a", func(ctx context.Context) { close(aStarted); <-ctx.Done(); aStopped.Store(true) })
	r.Go("b", func(ctx context.Context) { close(bStarted); <-ctx.Done(); bStopped.Store(true) })
	<-aStarted
	<-bStarted
	a.Stop()
	if !aStopped.Load() {
		t.Fatal("unit a did not return before Stop returned")
	}
	if bStopped.Load() {
		t.Fatal("stopping unit a stopped unit b")
	}
	if got := r.Running(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("Running() = %v, want [b]", got)
	}
	a.Stop() // a second Stop returns at once
}

func TestGoUnderARunningNameReplacesIt(t *testing.T) {
	r := New(nil)
	defer r.Stop()
	var firstStopped atomic.Bool
	firstStarted := make(chan struct{})
	r.Go("x", func(ctx context.Context) { close(firstStarted); <-ctx.Done(); firstStopped.Store(true) })
	<-firstStarted
	started := make(chan struct{})
	r.Go("x", func(ctx context.Context) { close(started); <-ctx.Done() })
	<-started
	if !firstStopped.Load() {
		t.Fatal("the first unit named x still runs after a second was started under its name")
	}
}

func TestGoAfterStopIsDone(t *testing.T) {
	r := New(nil)
	r.Stop()
	u := r.Go("late", func(ctx context.Context) { t.Error("a unit started after Stop ran") })
	select {
	case <-u.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a unit started after Stop is not done")
	}
}

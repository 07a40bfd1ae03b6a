package lambda

import (
	"testing"
	"time"
)

// SetAsyncRetryDelays shortens the waits before retries of failed Event
// invocations for the rest of the test (which must not be parallel).
func SetAsyncRetryDelays(t testing.TB, d ...time.Duration) {
	old := asyncRetryDelays
	asyncRetryDelays = d
	t.Cleanup(func() { asyncRetryDelays = old })
}

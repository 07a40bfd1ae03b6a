package lambda

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// retryFixture is a service whose one function is an HTTP endpoint that
// fails its first fails calls of each request id.
type retryFixture struct {
	s     *Service
	eng   storage.Catalog
	f     *function
	mu    sync.Mutex
	calls map[string]int
}

func newRetryFixture(t *testing.T, fails int, cfg *eventInvokeConfig) *retryFixture {
	t.Helper()
	SetAsyncRetryDelays(t, 5*time.Millisecond, 10*time.Millisecond)
	x := &retryFixture{calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Lambda-Runtime-Aws-Request-Id")
		x.mu.Lock()
		x.calls[id]++
		n := x.calls[id]
		x.mu.Unlock()
		if n <= fails {
			http.Error(w, `{"errorMessage":"failing"}`, http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	x.eng = eng
	x.f = &function{Account: "123456789012", Region: "us-east-1", Name: "fn", Runtime: "provided.al2023",
		Role: "arn:aws:iam::123456789012:role/r", Handler: srv.URL, Timeout: 10, MemorySize: 128,
		RevisionID: newRevisionID(), EventInvoke: cfg}
	raw, _ := json.Marshal(x.f)
	if _, err := eng.Put(context.Background(), fnKey(x.f.Account, x.f.Region, x.f.Name), raw, 0); err != nil {
		t.Fatal(err)
	}
	x.s, err = New(context.Background(), Options{Catalog: eng})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.s.Close() })
	return x
}

func (x *retryFixture) count(id string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.calls[id]
}

// drained waits until the queue holds no event and no index entry: a
// pending retry is always in it (it is queued before its failed
// attempt leaves).
func (x *retryFixture) drained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		evs, err1 := x.eng.List(context.Background(), asyncPrefix)
		idx, err2 := x.eng.List(context.Background(), asyncIndexPrefix)
		if err1 == nil && err2 == nil && len(evs) == 0 && len(idx) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not drain: %d events, %d index entries", len(evs), len(idx))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A failed Event invocation is tried again up to its function's
// MaximumRetryAttempts (2 by default), with its request id, and leaves
// the queue when it succeeds or the retries are used up.
func TestEventRetries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails int
		cfg   *eventInvokeConfig
		want  int
	}{
		{"default, succeeds on the third attempt", 2, nil, 3},
		{"default, always fails", 100, nil, 3},
		{"succeeds on the second attempt", 1, nil, 2},
		{"MaximumRetryAttempts 0", 2, &eventInvokeConfig{MaxRetryAttempts: awsproto.Ptr(int32(0))}, 1},
		{"MaximumRetryAttempts 1", 2, &eventInvokeConfig{MaxRetryAttempts: awsproto.Ptr(int32(1))}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newRetryFixture(t, tc.fails, tc.cfg)
			if err := x.s.enqueue(context.Background(), x.f, &invocation{id: "ev", payload: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			x.drained(t)
			if got := x.count("ev"); got != tc.want {
				t.Fatalf("the event ran %d times, want %d", got, tc.want)
			}
		})
	}
}

// An event older than its function's MaximumEventAgeInSeconds when its
// turn comes is dropped unrun, and counted.
func TestEventTooOldDropped(t *testing.T) {
	x := newRetryFixture(t, 0, &eventInvokeConfig{MaxEventAge: awsproto.Ptr(int32(60))})
	ctx := context.Background()
	now := time.Now()
	old := asyncEvent{Account: x.f.Account, Region: x.f.Region, Function: x.f.Name, RequestID: "old",
		Payload: []byte(`{}`), Queued: now.Add(-2 * time.Minute).UnixNano(), Retries: 1}
	if err := x.s.queueEvent(ctx, asyncKey(now, "old"), old); err != nil {
		t.Fatal(err)
	}
	if err := x.s.enqueue(ctx, x.f, &invocation{id: "new", payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	x.drained(t)
	if got := x.count("old"); got != 0 {
		t.Fatalf("the old event ran %d times", got)
	}
	if got := x.count("new"); got != 1 {
		t.Fatalf("the new event ran %d times, want 1", got)
	}
	if got := x.s.stats.function(x.f.Account, x.f.Region, x.f.Name).AsyncEventsDropped.Load(); got != 1 {
		t.Fatalf("AsyncEventsDropped = %d, want 1", got)
	}
}

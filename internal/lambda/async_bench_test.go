package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// readCounter is a catalog that counts the bytes its reads return.
type readCounter struct {
	storage.Catalog
	bytes atomic.Int64
}

func (c *readCounter) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	v, rev, err := c.Catalog.Get(ctx, key)
	c.bytes.Add(int64(len(key) + len(v)))
	return v, rev, err
}

func (c *readCounter) List(ctx context.Context, prefix string) ([]storage.KV, error) {
	kvs, err := c.Catalog.List(ctx, prefix)
	for _, kv := range kvs {
		c.bytes.Add(int64(len(kv.Key) + len(kv.Value)))
	}
	return kvs, err
}

// BenchmarkAsyncQueue: N Event invocations of 100 KB queued as fast as
// they are accepted for an HTTP endpoint function whose reserved
// concurrency is 1 (each call takes 2 ms), run to the last; catalog-B/event
// is what the catalog's reads returned, everything counted, per event.
func BenchmarkAsyncQueue(b *testing.B) {
	for _, n := range []int{100, 2000} {
		b.Run(fmt.Sprint("events=", n), func(b *testing.B) { benchAsyncQueue(b, n) })
	}
}

func benchAsyncQueue(b *testing.B, n int) {
	var calls atomic.Int64
	done := make(chan struct{}, 1)
	var want atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte(`{}`))
		if calls.Add(1) == want.Load() {
			done <- struct{}{}
		}
	}))
	defer srv.Close()
	payload, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 100<<10-12)})
	ctx := context.Background()
	var read, events int64
	for b.Loop() {
		b.StopTimer()
		eng, err := pebble.Open(pebble.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		cat := &readCounter{Catalog: eng}
		s, err := New(ctx, Options{Catalog: cat})
		if err != nil {
			b.Fatal(err)
		}
		one := int32(1)
		f := &function{Account: "123456789012", Region: "us-east-1", Name: "slow", Runtime: "provided.al2023",
			Role: "arn:aws:iam::123456789012:role/r", Handler: srv.URL, Timeout: 60, MemorySize: 128,
			RevisionID: newRevisionID(), Reserved: &one}
		if err := s.store(ctx, f, 0); err != nil {
			b.Fatal(err)
		}
		calls.Store(0)
		want.Store(int64(n))
		cat.bytes.Store(0)
		b.StartTimer()
		for range n {
			if err := s.enqueue(ctx, f, &invocation{id: newRevisionID(), payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		b.StopTimer()
		read += cat.bytes.Load()
		events += int64(n)
		s.Close()
		eng.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(read)/float64(events), "catalog-B/event")
}

package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// An event the queue's index does not name (its enqueue stopped between
// its two writes, or it was queued before the index existed) is indexed
// when the unit starts and runs; an index entry whose event is gone (the
// server stopped while taking it off the queue) is dropped.
func TestEventQueueIndexRepair(t *testing.T) {
	ctx := context.Background()
	ran := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran <- r.Header.Get("Lambda-Runtime-Aws-Request-Id")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	f := &function{Account: "123456789012", Region: "us-east-1", Name: "fn", Runtime: "provided.al2023",
		Role: "arn:aws:iam::123456789012:role/r", Handler: srv.URL, Timeout: 10, MemorySize: 128, RevisionID: newRevisionID()}
	raw, _ := json.Marshal(f)
	if _, err := eng.Put(ctx, fnKey(f.Account, f.Region, f.Name), raw, 0); err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(asyncEvent{Account: f.Account, Region: f.Region, Function: f.Name, RequestID: "unindexed", Payload: []byte(`{}`)})
	if _, err := eng.Put(ctx, asyncKey(time.Now(), "unindexed"), ev, 0); err != nil {
		t.Fatal(err)
	}
	orphan := asyncIndexPrefix + "00000000000000000002-orphan"
	if _, err := eng.Put(ctx, orphan, []byte(`{"account":"123456789012","region":"us-east-1","function":"fn"}`), 0); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Options{Catalog: eng})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case id := <-ran:
		if id != "unindexed" {
			t.Fatalf("ran %q, want the unindexed event", id)
		}
	case <-time.After(time.Minute):
		t.Fatal("the unindexed event did not run")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		events, err := eng.List(ctx, asyncPrefix)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = eng.Get(ctx, orphan)
		if len(events) == 0 && errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still queued: %d events, orphan index entry: %v", len(events), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	idx, err := eng.List(ctx, asyncIndexPrefix)
	if err != nil || len(idx) != 0 {
		t.Fatalf("index left: %v, %v", idx, err)
	}
	select {
	case id := <-ran:
		t.Fatalf("ran %q too", id)
	default:
	}
}

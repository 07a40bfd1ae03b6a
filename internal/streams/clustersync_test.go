package streams

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage/pebble"
)

// TestCatalogSyncBetweenNodes runs two domains on one catalog, as two
// nodes of a cluster do: a stream created through one is served by the
// other at once, and a retention change and a deletion through one show
// in the other after a sync.
func TestCatalogSyncBetweenNodes(t *testing.T) {
	ctx := context.Background()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	open := func() *Streams {
		s, err := New(ctx, Options{Log: eng, Catalog: eng, CatalogSync: time.Hour, RetentionCheckInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	if err := a.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Describe(ref("s"))
	if err != nil || got.Status != StatusActive {
		t.Fatalf("node b: %+v %v; want the stream node a created, ACTIVE", got, err)
	}
	if err := a.IncreaseRetention(ctx, ref("s"), 48); err != nil {
		t.Fatal(err)
	}
	if err := b.syncCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Describe(ref("s")); got == nil || got.RetentionHours != 48 {
		t.Fatalf("node b after a sync: %+v; want retention 48 h", got)
	}
	if err := a.DeleteStream(ctx, ref("s"), false); err != nil {
		t.Fatal(err)
	}
	if err := b.syncCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Describe(ref("s")); err == nil {
		t.Fatal("node b still serves a stream node a deleted")
	} else if de := (*Error)(nil); !errors.As(err, &de) || de.Kind != KindNotFound {
		t.Fatalf("node b: %v; want not found", err)
	}
}

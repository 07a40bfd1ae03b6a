package streams

import (
	"context"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage/pebble"
)

// TestRestartOnPebble runs the lifecycle across a real engine restart: the
// metadata, the stream id counter and a pending transition all come back
// from disk.
func TestRestartOnPebble(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	ctx := context.Background()
	open := func() (*pebble.Engine, *Streams) {
		t.Helper()
		eng, err := pebble.Open(pebble.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, Options{Log: eng, Catalog: eng, Now: clk.now, CreateDelay: time.Hour, RetentionCheckInterval: time.Hour})
		if err != nil {
			eng.Close()
			t.Fatal(err)
		}
		return eng, s
	}
	eng, s := open()
	if err := s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 2, Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Describe(ref("s"))
	if st.Status != StatusCreating {
		t.Fatalf("status %s", st.Status)
	}
	s.Close()
	eng.Close()

	clk.advance(2 * time.Hour)
	eng, s = open()
	defer func() { s.Close(); eng.Close() }()
	got, err := s.Describe(ref("s"))
	if err != nil || got.Status != StatusActive || got.ID != st.ID || len(got.Shards) != 2 || got.Tags["k"] != "v" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if err := s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "t", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if t2, _ := s.Describe(ref("t")); t2.ID == st.ID {
		t.Fatal("stream id reused after restart")
	}
}

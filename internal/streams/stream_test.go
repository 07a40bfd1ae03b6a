package streams

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	acct   = "123456789012"
	region = "us-east-1"
)

// clock is a settable test clock.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ms.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli())
	return c
}
func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type env struct {
	t   *testing.T
	cat *memCatalog
	log *memLog
	clk *clock
	s   *Streams
}

// newEnv starts a domain on fresh in-memory storage; tweak adjusts Options.
func newEnv(t *testing.T, tweak ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, cat: newMemCatalog(), log: newMemLog(), clk: newClock()}
	e.open(tweak...)
	return e
}

func (e *env) options(tweak ...func(*Options)) Options {
	o := Options{Log: e.log, Catalog: e.cat, Now: e.clk.now, RetentionCheckInterval: time.Hour}
	for _, f := range tweak {
		f(&o)
	}
	return o
}

func (e *env) open(tweak ...func(*Options)) {
	e.t.Helper()
	s, err := New(context.Background(), e.options(tweak...))
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.s = s
	e.t.Cleanup(func() { s.Close() })
}

// restart closes the domain and opens a new one on the same storage.
func (e *env) restart(tweak ...func(*Options)) {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open(tweak...)
}

func ref(name string) StreamRef { return StreamRef{Account: acct, Region: region, Name: name} }

func (e *env) create(name string, shards int) {
	e.t.Helper()
	if err := e.s.CreateStream(context.Background(), CreateParams{Account: acct, Region: region, Name: name, ShardCount: shards}); err != nil {
		e.t.Fatalf("CreateStream(%s): %v", name, err)
	}
}

func (e *env) describe(name string) *Stream {
	e.t.Helper()
	st, err := e.s.Describe(ref(name))
	if err != nil {
		e.t.Fatalf("Describe(%s): %v", name, err)
	}
	return st
}

// wantErr checks that err is a domain error of kind whose message contains
// msg.
func wantErr(t *testing.T, err error, kind Kind, msg string) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want kind %d", err, err, kind)
	}
	if de.Kind != kind || !strings.Contains(de.Msg, msg) {
		t.Fatalf("error kind %d %q, want kind %d containing %q", de.Kind, de.Msg, kind, msg)
	}
}

// eventually polls cond until it holds; it fails after a generous bound so a
// slow machine does not make the test flaky.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCreateImmediateAndDuplicate(t *testing.T) {
	e := newEnv(t)
	e.create("s1", 3)
	st := e.describe("s1")
	if st.Status != StatusActive || st.Mode != ModeProvisioned || len(st.Shards) != 3 {
		t.Fatalf("got %s %s %d shards", st.Status, st.Mode, len(st.Shards))
	}
	if st.ARN != "arn:aws:kinesis:us-east-1:123456789012:stream/s1" || st.RetentionHours != 24 || st.MaxRecordSizeKiB != 1024 {
		t.Fatalf("got %+v", st)
	}
	if st.Shards[2].ID() != "shardId-000000000002" || st.Shards[2].EndingHashKey != MaxHashKey || st.Shards[0].ParentIndex != -1 {
		t.Fatalf("shards %+v", st.Shards)
	}
	err := e.s.CreateStream(context.Background(), CreateParams{Account: acct, Region: region, Name: "s1", ShardCount: 1})
	wantErr(t, err, KindInUse, "Stream s1 under account 123456789012 already exists.")
	// The same name in another region is another stream.
	if err := e.s.CreateStream(context.Background(), CreateParams{Account: acct, Region: "eu-west-1", Name: "s1", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateModes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		p      CreateParams
		mode   string
		shards int
		err    string
	}{
		{CreateParams{Name: "none"}, ModeOnDemand, 4, ""},
		{CreateParams{Name: "od", Mode: ModeOnDemand}, ModeOnDemand, 4, ""},
		{CreateParams{Name: "prov", Mode: ModeProvisioned, ShardCount: 2}, ModeProvisioned, 2, ""},
		{CreateParams{Name: "bad1", Mode: ModeProvisioned}, "", 0, "ShardCount is required"},
		{CreateParams{Name: "bad2", Mode: ModeOnDemand, ShardCount: 2}, "", 0, "ShardCount is not expected"},
		{CreateParams{Name: "bad3", ShardCount: 1, MaxRecordSizeKiB: 20000}, "", 0, "MaxRecordSizeInKiB"},
	} {
		tc.p.Account, tc.p.Region = acct, region
		err := e.s.CreateStream(ctx, tc.p)
		if tc.err != "" {
			wantErr(t, err, KindInvalidArgument, tc.err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.p.Name, err)
		}
		st := e.describe(tc.p.Name)
		if st.Mode != tc.mode || len(st.OpenShards()) != tc.shards {
			t.Errorf("%s: %s with %d shards", tc.p.Name, st.Mode, len(st.OpenShards()))
		}
	}
}

func TestLifecycleWithDelays(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CreateDelay, o.DeleteDelay = 5*time.Millisecond, 5*time.Millisecond })
	e.create("s", 2)
	if st := e.describe("s"); st.Status != StatusCreating {
		t.Fatalf("status %s right after create", st.Status)
	}
	// Tag changes and deletion wait for ACTIVE.
	wantErr(t, e.s.AddTags(context.Background(), ref("s"), map[string]string{"a": "b"}), KindInUse, "not ACTIVE, instead in state CREATING")
	wantErr(t, e.s.DeleteStream(context.Background(), ref("s"), false), KindInUse, "CREATING")
	eventually(t, "ACTIVE", func() bool { st, _ := e.s.Describe(ref("s")); return st != nil && st.Status == StatusActive })

	st := e.describe("s")
	if err := e.s.DeleteStream(context.Background(), ref("s"), false); err != nil {
		t.Fatal(err)
	}
	// DELETING: described, but gone for most operations.
	if d, err := e.s.Describe(ref("s")); err == nil && d.Status != StatusDeleting {
		t.Fatalf("status %s after delete", d.Status)
	}
	eventually(t, "deletion", func() bool { _, err := e.s.Describe(ref("s")); return err != nil })
	wantErr(t, e.s.DeleteStream(context.Background(), ref("s"), false), KindNotFound, "Stream s under account 123456789012 not found.")
	for i := range st.Shards {
		if !e.log.wasDeleted(st.Key(st.Shards[i].Index)) {
			t.Errorf("shard %d log not deleted", i)
		}
	}
	if kvs, _ := e.cat.List(context.Background(), streamPrefix); len(kvs) != 0 {
		t.Fatalf("catalog still holds %v", kvs)
	}
}

func TestDeleteImmediate(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	id := e.describe("s").ID
	if err := e.s.DeleteStream(context.Background(), ref("s"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Describe(ref("s")); err == nil {
		t.Fatal("stream still there after DeleteStream with delay 0")
	}
	// A stream created again under the same name is a new incarnation.
	e.create("s", 1)
	if got := e.describe("s").ID; got == id {
		t.Fatalf("stream id %d reused", got)
	}
}

func TestRestartResumesTransitions(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CreateDelay, o.DeleteDelay = time.Hour, time.Hour })
	e.create("creating", 1)
	e.create("deleting", 1)
	e.create("pending", 1)
	// Bring "deleting" to ACTIVE and start deleting it, on a clock that has
	// moved past the creation deadlines.
	e.clk.advance(2 * time.Hour)
	e.restart(func(o *Options) { o.CreateDelay, o.DeleteDelay = time.Hour, time.Hour })
	for _, n := range []string{"creating", "deleting", "pending"} {
		if st := e.describe(n); st.Status != StatusActive {
			t.Fatalf("%s: %s after restart past its deadline", n, st.Status)
		}
	}
	if err := e.s.DeleteStream(context.Background(), ref("deleting"), false); err != nil {
		t.Fatal(err)
	}
	// A restart before the deadline keeps the state; one after finishes it.
	e.restart(func(o *Options) { o.DeleteDelay = time.Hour })
	if st := e.describe("deleting"); st.Status != StatusDeleting {
		t.Fatalf("status %s after restart before the deadline", st.Status)
	}
	e.clk.advance(2 * time.Hour)
	e.restart()
	if _, err := e.s.Describe(ref("deleting")); err == nil {
		t.Fatal("DELETING stream survived a restart past its deadline")
	}
	if st := e.describe("pending"); st.Status != StatusActive || len(st.Shards) != 1 {
		t.Fatalf("pending: %+v", st)
	}
}

func TestCatalogCompareAndSet(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	key := streamCatalogKey(streamKey{acct, region, "s"})
	val, rev, err := e.cat.Get(ctx, key)
	if err != nil || rev != e.describe("s").rev {
		t.Fatalf("catalog rev %d, err %v; snapshot rev %d", rev, err, e.describe("s").rev)
	}
	// A write behind the domain's back makes its snapshot stale: the next
	// change must not overwrite it.
	if _, err := e.cat.Put(ctx, key, val, rev); err != nil {
		t.Fatal(err)
	}
	err = e.s.AddTags(ctx, ref("s"), map[string]string{"k": "v"})
	wantErr(t, err, KindInUse, "concurrently")
	if st := e.describe("s"); len(st.Tags) != 0 {
		t.Fatal("failed change was published")
	}
	// The conflict reloaded the stored metadata: a retry succeeds.
	if err := e.s.AddTags(ctx, ref("s"), map[string]string{"k": "v"}); err != nil {
		t.Fatalf("retry after conflict: %v", err)
	}
	// Published snapshots are never mutated by later changes.
	before := e.describe("s")
	if err := e.s.AddTags(ctx, ref("s"), map[string]string{"k2": "v"}); err != nil {
		t.Fatal(err)
	}
	if len(before.Tags) != 1 || e.describe("s").Tags["k2"] != "v" {
		t.Fatal("copy-on-write broken")
	}
}

func TestStreamIDCounter(t *testing.T) {
	e := newEnv(t)
	seen := map[uint64]bool{}
	for i, n := range []string{"a", "b", "c"} {
		e.create(n, 1)
		id := e.describe(n).ID
		if seen[id] || id == 0 {
			t.Fatalf("stream %d got id %d", i, id)
		}
		seen[id] = true
	}
	e.restart()
	e.create("d", 1)
	if seen[e.describe("d").ID] {
		t.Fatal("id reused after restart")
	}
}

func TestRefResolution(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	arn := StreamARN(region, acct, "s")
	// An ARN's account and region win over the caller's.
	if _, err := e.s.Describe(StreamRef{Account: "000000000000", Region: "eu-west-1", ARN: arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Describe(StreamRef{Account: acct, Region: region, Name: "s", ARN: arn}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Describe(StreamRef{Account: acct, Region: region, Name: "other", ARN: arn})
	wantErr(t, err, KindInvalidArgument, "do not refer to the same stream")
	_, err = e.s.Describe(StreamRef{Account: acct, Region: region})
	wantErr(t, err, KindInvalidArgument, "Either StreamName or StreamARN must be provided.")
	_, err = e.s.Describe(StreamRef{Account: "000000000000", Region: region, Name: "s"})
	wantErr(t, err, KindNotFound, "Stream s under account 000000000000 not found.")
}

package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/streams"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newTestStreams(t testing.TB, c *clock) (*streams.Streams, *pebble.Engine) {
	t.Helper()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s, err := streams.New(context.Background(), streams.Options{Log: eng, Catalog: eng, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, eng
}

func ref(name string) streams.StreamRef {
	return streams.StreamRef{Account: "000000000000", Region: "us-east-1", Name: name}
}

func readAll(t *testing.T, s *streams.Streams, r streams.StreamRef) []streams.Record {
	t.Helper()
	st, err := s.Describe(r)
	if err != nil {
		t.Fatal(err)
	}
	var out []streams.Record
	for i := range st.Shards {
		it, err := s.GetShardIterator(context.Background(), streams.IteratorParams{Ref: r, ShardID: st.Shards[i].ID(), Type: streams.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for {
			res, err := s.GetRecords(context.Background(), it, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Records...)
			if len(res.Records) == 0 || res.NextShardIterator == "" {
				break
			}
			it = res.NextShardIterator
		}
	}
	return out
}

var errCrash = errors.New("crash")

// TestApplicationExactlyOnce stops an application after a checkpoint that
// holds a closed window's results, with part of them written (a crash in
// the middle of the writes), starts it again from the checkpoint and
// checks that the output stream holds every window's count per key once,
// equal to the counts computed from the input.
func TestApplicationExactlyOnce(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	c := &clock{t: base}
	s, eng := newTestStreams(t, c)
	ctx := context.Background()
	for _, name := range []string{"in", "out"} {
		if err := s.CreateStream(ctx, streams.CreateParams{Account: "000000000000", Region: "us-east-1", Name: name, ShardCount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			c.set(base.Add(time.Duration(i) * 37 * time.Millisecond))
			k := fmt.Sprint("key-", i%5)
			if _, _, err := s.PutRecord(ctx, ref("in"), streams.PutEntry{Data: []byte(fmt.Sprintf(`{"k":%q,"v":%d}`, k, i)), PartitionKey: k}, ""); err != nil {
				t.Fatal(err)
			}
			ws := c.now().UnixMilli()
			ws -= mod(ws, 1000)
			want[fmt.Sprintf("%s@%d", k, ws)]++
		}
	}
	app := &Application{
		Name: "counts", Source: ref("in"), StartPosition: "TRIM_HORIZON",
		Config: Config{
			SQL: `CREATE OR REPLACE STREAM "DEST" (k VARCHAR(16), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM "k", UNIX_MILLIS(STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)), COUNT(*)
FROM "SOURCE_SQL_STREAM_001" GROUP BY "k", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);`,
			Schema:    Schema{Format: "JSON", Columns: []Column{{Name: "k", Mapping: "$.k", SQLType: "VARCHAR(16)"}, {Name: "v", Mapping: "$.v", SQLType: "BIGINT"}}},
			IdleGrace: 100 * time.Millisecond,
		},
		Outputs:            []Output{{Name: "DEST", Stream: ref("out"), Format: "JSON"}},
		CheckpointInterval: time.Hour,
	}
	put(0, 60) // about 2.2 s of records
	c.set(base.Add(2300 * time.Millisecond))
	crashes := 0
	rt := &Runtime{Streams: s, Catalog: eng, Now: c.now, PollInterval: time.Millisecond,
		afterCheckpoint: func(r *appRun) error {
			crashes++
			// Half the window's results reach the stream, then the process dies.
			half := r.cp.Pending[:len(r.cp.Pending)/2]
			for _, p := range half {
				if _, _, err := s.PutRecord(ctx, p.Stream, streams.PutEntry{Data: p.Data, PartitionKey: p.Key}, ""); err != nil {
					return err
				}
			}
			return errCrash
		}}
	if err := app.Run(ctx, rt); !errors.Is(err, errCrash) || crashes != 1 {
		t.Fatalf("first run: %v after %d checkpoints with output", err, crashes)
	}
	put(60, 120)
	c.set(base.Add(10 * time.Second))
	rt.afterCheckpoint = nil
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, rt) }()
	deadline := time.Now().Add(60 * time.Second)
	for len(readAll(t, s, ref("out"))) < len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// One more poll round may not add anything: let it run, then stop.
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, rec := range readAll(t, s, ref("out")) {
		var row struct {
			K  string
			WS int64
			N  int
		}
		if err := json.Unmarshal(rec.Data, &row); err != nil {
			t.Fatalf("%s: %v", rec.Data, err)
		}
		key := fmt.Sprintf("%s@%d", row.K, row.WS)
		if _, dup := got[key]; dup {
			t.Errorf("window %s written twice", key)
		}
		got[key] = row.N
	}
	if len(got) != len(want) {
		t.Errorf("%d window results, want %d", len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: count %d, want %d", k, got[k], n)
		}
	}
}

package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// chainSQL: P1 keeps the records with an even v (no window), P2 counts
// P1's rows per key and one-second window, P3 sums P2's counts per
// two-second window (P2's rows have their window's end as ROWTIME).
const chainSQL = `CREATE OR REPLACE STREAM "EVEN" (k VARCHAR(16), v BIGINT);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "EVEN"
  SELECT STREAM "k", "v" FROM "SOURCE_SQL_STREAM_001" WHERE MOD("v", 2) = 0;
CREATE OR REPLACE STREAM "PER_KEY" (k VARCHAR(16), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "PER_KEY"
  SELECT STREAM "k", UNIX_MILLIS(STEP("EVEN".ROWTIME BY INTERVAL '1' SECOND)), COUNT(*)
  FROM "EVEN" GROUP BY "k", STEP("EVEN".ROWTIME BY INTERVAL '1' SECOND);
CREATE OR REPLACE STREAM "TOTAL" (ws BIGINT, total BIGINT);
CREATE OR REPLACE PUMP "P3" AS INSERT INTO "TOTAL"
  SELECT STREAM UNIX_MILLIS(STEP("PER_KEY".ROWTIME BY INTERVAL '2' SECOND)), SUM("n")
  FROM "PER_KEY" GROUP BY STEP("PER_KEY".ROWTIME BY INTERVAL '2' SECOND);`

var chainSchema = Schema{Format: "JSON", Columns: []Column{{Name: "k", Mapping: "$.k", SQLType: "VARCHAR(16)"}, {Name: "v", Mapping: "$.v", SQLType: "BIGINT"}}}

// chainWant computes chainSQL's rows offline: per key and second, and
// per two seconds of the per-key windows' ends.
func chainWant(recs []streams.Record) (perKey, total map[string]int) {
	perKey, total = map[string]int{}, map[string]int{}
	for _, r := range recs {
		var row struct {
			K string
			V int
		}
		_ = json.Unmarshal(r.Data, &row)
		if row.V%2 != 0 {
			continue
		}
		ws := r.Arrival - mod(r.Arrival, 1000)
		perKey[fmt.Sprintf("%s@%d", row.K, ws)]++
		end := ws + 1000
		total[fmt.Sprint(end-mod(end, 2000))]++
	}
	return perKey, total
}

func TestPumpChainEngine(t *testing.T) {
	e, err := NewEngine(Config{SQL: chainSQL, Schema: chainSchema})
	if err != nil {
		t.Fatal(err)
	}
	var recs []streams.Record
	var out []Result
	for i := range 200 {
		r := streams.Record{Arrival: 1_700_000_000_000 + int64(i)*37, Data: fmt.Appendf(nil, `{"k":"key-%d","v":%d}`, i%7, i)}
		recs = append(recs, r)
		res, rej, err := e.Process(Input{Shard: "s", ID: fmt.Sprint(i), Arrival: r.Arrival, Data: r.Data})
		if err != nil || len(rej) > 0 {
			t.Fatal(err, rej)
		}
		out = append(out, res...)
		if i%50 == 0 {
			res, err := e.Advance(time.UnixMilli(r.Arrival))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res...)
		}
	}
	res, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, res...)
	wantKey, wantTotal := chainWant(recs)
	gotKey, gotTotal := map[string]int{}, map[string]int{}
	even := 0
	for _, r := range out {
		switch r.Dest {
		case "EVEN":
			even++
		case "PER_KEY":
			gotKey[fmt.Sprintf("%s@%d", r.Values[0], r.Values[1])] += int(r.Values[2].(int64))
		case "TOTAL":
			gotTotal[fmt.Sprint(r.Values[0])] += int(r.Values[1].(int64))
		}
	}
	if even != 100 || fmt.Sprint(gotKey) != fmt.Sprint(wantKey) || fmt.Sprint(gotTotal) != fmt.Sprint(wantTotal) {
		t.Fatalf("EVEN %d rows; PER_KEY %v, want %v; TOTAL %v, want %v", even, gotKey, wantKey, gotTotal, wantTotal)
	}
	if e.Late != 0 {
		t.Fatalf("%d late rows", e.Late)
	}
}

func TestPumpChainErrors(t *testing.T) {
	for sql, want := range map[string]string{
		`CREATE STREAM "B" (n BIGINT); CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM COUNT(*) FROM "A" GROUP BY STEP("A".ROWTIME BY INTERVAL '1' SECOND);
		 CREATE STREAM "A" (k VARCHAR(8)); CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM k FROM "SOURCE_SQL_STREAM_001";`: "which a later query writes",
		`CREATE STREAM "A" (k VARCHAR(8)); CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM k FROM "A";`: "reads the stream A it writes",
		`CREATE STREAM "A" (x VARCHAR(8)); CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM k FROM "SOURCE_SQL_STREAM_001";
		 CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM k FROM "A";`: "query 2: SELECT: column k is not in the input schema",
	} {
		_, err := NewEngine(Config{SQL: sql, Schema: Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(8)"}}}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", sql, err, want)
		}
	}
}

// TestPumpChainExactlyOnce runs chainSQL as an application that crashes
// after a checkpoint holding closed windows of both chained queries, with
// half their rows written, and checks that after the restart both output
// streams hold each window once, equal to the counts computed offline.
func TestPumpChainExactlyOnce(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	c := &clock{t: base}
	s, eng := newTestStreams(t, c)
	ctx := context.Background()
	for _, name := range []string{"in", "per-key", "total"} {
		if err := s.CreateStream(ctx, streams.CreateParams{Account: "000000000000", Region: "us-east-1", Name: name, ShardCount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			c.set(base.Add(time.Duration(i) * 37 * time.Millisecond))
			k := fmt.Sprint("key-", i%5)
			if _, _, err := s.PutRecord(ctx, ref("in"), streams.PutEntry{Data: fmt.Appendf(nil, `{"k":%q,"v":%d}`, k, i), PartitionKey: k}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	app := &Application{Name: "chain", Source: ref("in"), StartPosition: "TRIM_HORIZON",
		Config:             Config{SQL: chainSQL, Schema: chainSchema, IdleGrace: 100 * time.Millisecond},
		Outputs:            []Output{{Name: "PER_KEY", Stream: ref("per-key"), Format: "JSON"}, {Name: "TOTAL", Stream: ref("total"), Format: "JSON"}},
		CheckpointInterval: time.Hour}
	put(0, 120) // about 4.4 s of records
	c.set(base.Add(4500 * time.Millisecond))
	crashes := 0
	rt := &Runtime{Streams: s, Catalog: eng, Now: c.now, PollInterval: time.Millisecond,
		afterCheckpoint: func(r *appRun) error {
			dests := map[string]bool{}
			for _, p := range r.cp.Pending {
				dests[p.Stream.Name] = true
			}
			if !dests["total"] {
				return nil // wait for a checkpoint holding rows of both
			}
			crashes++
			for _, p := range r.cp.Pending[:len(r.cp.Pending)/2] {
				if _, _, err := s.PutRecord(ctx, p.Stream, streams.PutEntry{Data: p.Data, PartitionKey: p.Key}, ""); err != nil {
					return err
				}
			}
			return errCrash
		}}
	if err := app.Run(ctx, rt); !errors.Is(err, errCrash) || crashes != 1 {
		t.Fatalf("first run: %v after %d crashes", err, crashes)
	}
	put(120, 200)
	c.set(base.Add(20 * time.Second))
	rt.afterCheckpoint = nil
	wantKey, wantTotal := chainWant(readAll(t, s, ref("in")))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, rt) }()
	deadline := time.Now().Add(60 * time.Second)
	for (len(readAll(t, s, ref("per-key"))) < len(wantKey) || len(readAll(t, s, ref("total"))) < len(wantTotal)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	collect := func(name string, key func(m map[string]any) string, val string) map[string]int {
		got := map[string]int{}
		for _, rec := range readAll(t, s, ref(name)) {
			var m map[string]any
			if err := json.Unmarshal(rec.Data, &m); err != nil {
				t.Fatalf("%s: %v", rec.Data, err)
			}
			k := key(m)
			if _, dup := got[k]; dup {
				t.Errorf("%s: window %s written twice", name, k)
			}
			got[k] = int(m[val].(float64))
		}
		return got
	}
	gotKey := collect("per-key", func(m map[string]any) string { return fmt.Sprintf("%s@%.0f", m["k"], m["ws"]) }, "n")
	gotTotal := collect("total", func(m map[string]any) string { return fmt.Sprintf("%.0f", m["ws"]) }, "total")
	if fmt.Sprint(gotKey) != fmt.Sprint(wantKey) || fmt.Sprint(gotTotal) != fmt.Sprint(wantTotal) {
		t.Fatalf("PER_KEY %v, want %v; TOTAL %v, want %v", gotKey, wantKey, gotTotal, wantTotal)
	}
}

package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// TestStreamJoinExactlyOnce crashes an application joining two
// in-application streams in the middle of writing its joined rows, starts
// it again from the checkpoint and checks that the output holds every
// pair (and every order without a shipment) once, as computed offline.
func TestStreamJoinExactlyOnce(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	c := &clock{t: base}
	s, eng := newTestStreams(t, c)
	ctx := context.Background()
	for _, name := range []string{"in", "out"} {
		if err := s.CreateStream(ctx, streams.CreateParams{Account: "000000000000", Region: "us-east-1", Name: name, ShardCount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	type ev struct {
		kind string
		id   int
		at   int64
	}
	var evs []ev
	put := func(from, to int) {
		for i := from; i < to; i++ {
			c.set(base.Add(time.Duration(i) * 37 * time.Millisecond))
			e := ev{kind: []string{"order", "ship", "ship"}[i%3], id: (i * 7) % 11, at: c.now().UnixMilli()}
			data := fmt.Sprintf(`{"kind":%q,"id":%d}`, e.kind, e.id)
			if _, _, err := s.PutRecord(ctx, ref("in"), streams.PutEntry{Data: []byte(data), PartitionKey: fmt.Sprint(i)}, ""); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	offline := func() map[string]bool {
		want := map[string]bool{}
		for _, o := range evs {
			if o.kind != "order" {
				continue
			}
			matched := false
			for _, sh := range evs {
				if sh.kind == "ship" && sh.id == o.id && sh.at >= o.at && sh.at-o.at <= 1000 {
					want[fmt.Sprintf("%d@%d@%d", o.id, o.at, sh.at)], matched = true, true
				}
			}
			if !matched {
				want[fmt.Sprintf("%d@%d@-", o.id, o.at)] = true
			}
		}
		return want
	}
	app := &Application{
		Name: "shipped", Source: ref("in"), StartPosition: "TRIM_HORIZON",
		Config: Config{
			SQL: `CREATE OR REPLACE STREAM "ORDERS" (id INTEGER, at TIMESTAMP);
CREATE OR REPLACE PUMP "O" AS INSERT INTO "ORDERS" SELECT STREAM "id", ROWTIME FROM "SOURCE_SQL_STREAM_001" WHERE "kind" = 'order';
CREATE OR REPLACE STREAM "SHIPS" (id INTEGER, at TIMESTAMP);
CREATE OR REPLACE PUMP "S" AS INSERT INTO "SHIPS" SELECT STREAM "id", ROWTIME FROM "SOURCE_SQL_STREAM_001" WHERE "kind" = 'ship';
CREATE OR REPLACE STREAM "DEST" (id INTEGER, ordered BIGINT, shipped BIGINT);
CREATE OR REPLACE PUMP "J" AS INSERT INTO "DEST"
  SELECT STREAM o."id", UNIX_MILLIS(o."at"), UNIX_MILLIS(s."at") FROM "ORDERS" AS o LEFT JOIN "SHIPS" AS s
    ON o."id" = s."id" AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '1' SECOND;`,
			Schema:    Schema{Format: "JSON", Columns: []Column{{Name: "kind", Mapping: "$.kind", SQLType: "VARCHAR(8)"}, {Name: "id", Mapping: "$.id", SQLType: "INTEGER"}}},
			IdleGrace: 100 * time.Millisecond,
		},
		Outputs:            []Output{{Name: "DEST", Stream: ref("out"), Format: "JSON"}},
		CheckpointInterval: time.Hour,
	}
	put(0, 60)
	crashes := 0
	rt := &Runtime{Streams: s, Catalog: eng, Now: c.now, PollInterval: time.Millisecond,
		afterCheckpoint: func(r *appRun) error {
			crashes++
			// Half the joined rows reach the stream, then the process dies.
			for _, p := range r.cp.Pending[:len(r.cp.Pending)/2] {
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
	want := offline()
	rt.afterCheckpoint = nil
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, rt) }()
	deadline := time.Now().Add(60 * time.Second)
	for len(readAll(t, s, ref("out"))) < len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, rec := range readAll(t, s, ref("out")) {
		var row struct {
			ID      int
			Ordered int64
			Shipped *int64
		}
		if err := json.Unmarshal(rec.Data, &row); err != nil {
			t.Fatalf("%s: %v", rec.Data, err)
		}
		key := fmt.Sprintf("%d@%d@-", row.ID, row.Ordered)
		if row.Shipped != nil {
			key = fmt.Sprintf("%d@%d@%d", row.ID, row.Ordered, *row.Shipped)
		}
		if got[key] {
			t.Errorf("%s written twice", key)
		}
		got[key] = true
	}
	if len(got) != len(want) {
		t.Errorf("%d joined rows, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s is missing", k)
		}
	}
}

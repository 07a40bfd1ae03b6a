package analytics

import (
	"reflect"
	"testing"
)

// FuzzCompile: any SQL text either compiles or is refused with an error;
// nothing panics.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`SELECT STREAM ticker, COUNT(*) FROM "S" GROUP BY ticker, STEP("S".ROWTIME BY INTERVAL '60' SECOND)`,
		`SELECT window_start, COUNT(*) FROM TABLE(HOP(TABLE s, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end`,
		`CREATE OR REPLACE STREAM "D" (a INT); CREATE OR REPLACE PUMP "P" AS INSERT INTO "D" SELECT STREAM qty FROM "S"`,
		`SELECT STREAM ticker, COUNT(*) FROM "S" WINDOWED BY STAGGER (PARTITION BY ticker RANGE INTERVAL '1' MINUTE)`,
		`SELECT STREAM FLOOR(ts TO HOUR), CASE WHEN price > 1 THEN 'a' END FROM s WHERE ticker LIKE 'A%'`,
		`SELECT STREAM s.qty, r.company FROM s LEFT JOIN "REF" AS r ON s.ticker = r.ticker AND s.qty = r.n`,
		`SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s WHERE qty > 1), 'ticker', 2, 60, ))`,
		`SELECT STREAM * FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s), 'ticker', 1))`,
		`SELECT STREAM ticker, AVG(price) OVER W1 FROM s WINDOW W1 AS (PARTITION BY ticker RANGE INTERVAL '1' MINUTE PRECEDING)`,
		`SELECT STREAM qty, SUM(qty) OVER (ROWS 2 PRECEDING) FROM s`,
		`SELECT ticker, APPROX_COUNT_DISTINCT(qty) AS d FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, ticker ORDER BY d DESC LIMIT 2`,
		`CREATE STREAM "A" (t VARCHAR(8), q BIGINT); CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM ticker, qty FROM "S";
CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM t, SUM(q) FROM "A" GROUP BY t, STEP("A".ROWTIME BY INTERVAL '1' SECOND)`,
		`SELECT t.ticker, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ticker ORDER BY n DESC) AS rn FROM (SELECT ticker, window_start, window_end, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, ticker) AS a) t WHERE rn <= 2`,
		`SELECT STREAM a.qty, b.price FROM s AS a JOIN s AS b ON a.ticker = b.ticker AND a.ts BETWEEN b.ts - INTERVAL '5' MINUTE AND b.ts`,
		`SELECT a.qty FROM s a, s b WHERE a.ticker = b.ticker AND a.qty < b.qty AND a.ROWTIME > b.ROWTIME - INTERVAL '1' SECOND AND a.ROWTIME <= b.ROWTIME`,
		`SELECT STREAM a.qty, b.qty FROM s AS a LEFT JOIN s OVER (RANGE INTERVAL '1' SECOND PRECEDING) AS b ON a.ticker = b.ticker AND a.qty <> b.qty`,
		`CREATE STREAM "A" (t VARCHAR(8), q BIGINT); CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM ticker, qty FROM "S";
CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM x.t, COUNT(*) FROM "A" AS x JOIN "S" AS y ON x.t = y.ticker AND y.ROWTIME = x.ROWTIME GROUP BY x.t, STEP(x.ROWTIME BY INTERVAL '1' SECOND)`,
	} {
		f.Add(s)
	}
	ref, err := LoadTable("REF", Schema{Format: "CSV", Columns: []Column{{Name: "ticker", SQLType: "VARCHAR(8)"}, {Name: "company", SQLType: "VARCHAR(8)"}, {Name: "n", SQLType: "BIGINT"}}},
		[]byte("k,K Corp,1\nj,J Inc,2\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		e, err := NewEngine(Config{SQL: sql, Schema: tickerSchema, Tables: []Table{ref}})
		if err != nil {
			return
		}
		for i := 0; i < 3; i++ {
			if _, _, err := e.Process(Input{Shard: "0", Arrival: int64(i * 1000), Data: []byte(trade("k", 1.5, i, int64(i*700)))}); err != nil {
				return
			}
		}
		// The state at this point restores into an engine of the same code.
		snap, err := e.Snapshot()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		e2, err := NewEngine(Config{SQL: sql, Schema: tickerSchema, Tables: []Table{ref}})
		if err != nil {
			t.Fatalf("the same code does not compile again: %v", err)
		}
		if err := e2.Restore(snap); err != nil {
			t.Fatalf("restore of its own snapshot: %v", err)
		}
		e.Flush()
		e2.Flush()
	})
}

// FuzzRows: any record either maps to rows or is refused with an error.
func FuzzRows(f *testing.F) {
	f.Add([]byte(`{"ticker":"A","trade":{"price":1.5,"qty":2},"ts":"2026-01-01 00:00:00"}`))
	f.Add([]byte(`[{"ticker":1},{"trade":[1,2]}]`))
	f.Add([]byte("a,1\nb,2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []Schema{tickerSchema, {Format: "CSV", Columns: tickerSchema.Columns}} {
			if err := s.compile(); err != nil {
				t.Fatal(err)
			}
			rows, err := s.Rows(data)
			if s.fast != nil {
				// The fast path (gjson) and the decoder agree.
				slow := s
				slow.fast = nil
				want, werr := slow.Rows(data)
				if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(rows, want)) {
					t.Fatalf("%q: fast path %v, %v; decoder %v, %v", data, rows, err, want, werr)
				}
			}
			if err == nil {
				for _, r := range rows {
					if len(r) != len(s.Columns) {
						t.Fatalf("row of %d values, want %d", len(r), len(s.Columns))
					}
				}
			}
		}
	})
}

// FuzzLoadTable: any reference data either loads into rows of the
// schema's width or is refused with an error.
func FuzzLoadTable(f *testing.F) {
	f.Add([]byte(`{"t":"AMZN","x":"NASDAQ"}` + "\n" + `{"t":"MSFT","x":1}`))
	f.Add([]byte(`[{"t":"a"},{"t":"b"}] {"t":null}`))
	f.Add([]byte("AMZN,NASDAQ\nMSFT\n,,,\n"))
	cols := []Column{{Name: "ticker", Mapping: "$.t", SQLType: "VARCHAR(8)"}, {Name: "exchange", Mapping: "$.x", SQLType: "VARCHAR(8)"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, sc := range []Schema{{Format: "JSON", Columns: cols}, {Format: "CSV", Columns: []Column{{Name: "a", SQLType: "BIGINT"}, {Name: "b", SQLType: "VARCHAR(4)"}}}} {
			tab, err := LoadTable("T", sc, data)
			if err != nil {
				continue
			}
			for _, r := range tab.Rows {
				if len(r) != len(sc.Columns) {
					t.Fatalf("row of %d values, want %d", len(r), len(sc.Columns))
				}
			}
		}
	})
}

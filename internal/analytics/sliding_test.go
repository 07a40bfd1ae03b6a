package analytics

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// A KDA sliding window gives a row for every row, its aggregates over the
// partition's rows of the last second; the same after a restore.
func TestSlidingRange(t *testing.T) {
	sql := `CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(8), qty BIGINT, n BIGINT, total BIGINT, hi REAL);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM "ticker", "qty", COUNT(*) OVER W1, SUM("qty") OVER W1, MAX("price") OVER W1
FROM "SOURCE_SQL_STREAM_001"
WINDOW W1 AS (PARTITION BY "ticker" RANGE INTERVAL '1' SECOND PRECEDING);`
	type row struct {
		tk    string
		arr   int64
		qty   int
		price float64
	}
	var rows []row
	var recs []rec
	for i := 0; i < 400; i++ {
		r := row{fmt.Sprintf("T%d", i%3), int64(i*37 + (i%5)*11), i, float64((i * 7) % 23)}
		rows = append(rows, r)
		recs = append(recs, rec{"0", r.arr, trade(r.tk, r.price, r.qty, 0)})
	}
	var want []string
	for i, r := range rows {
		n, total, hi := 0, 0, -1.0
		for _, p := range rows[:i+1] {
			if p.tk == r.tk && p.arr >= r.arr-1000 {
				n++
				total += p.qty
				hi = max(hi, p.price)
			}
		}
		want = append(want, fmt.Sprintf("DEST|ticker=%s,qty=%d,n=%d,total=%d,hi=%s", r.tk, r.qty, n, total, formatValue(hi)))
	}
	got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got[:10], "\n"), strings.Join(want[:10], "\n"))
	}
}

func TestSlidingRows(t *testing.T) {
	sql := `SELECT STREAM qty, SUM(qty) OVER (ROWS 2 PRECEDING) AS last3, AVG(qty) OVER (ROWS 2 PRECEDING) AS avg3 FROM s WHERE qty <> 3`
	var recs []rec
	for i := 0; i < 6; i++ {
		recs = append(recs, rec{"0", int64(i), trade("A", 1, i, 0)})
	}
	got := runAll(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	want := []string{"|qty=0,last3=0,avg3=0", "|qty=1,last3=1,avg3=0.5", "|qty=2,last3=3,avg3=1",
		"|qty=4,last3=7,avg3=2.3333333333333335", "|qty=5,last3=11,avg3=3.6666666666666665"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSlidingCompileErrors(t *testing.T) {
	for _, tt := range []struct{ sql, want string }{
		{`SELECT STREAM COUNT(*) OVER W2 FROM s WINDOW W1 AS (RANGE INTERVAL '1' MINUTE PRECEDING)`, "no WINDOW W2"},
		{`SELECT STREAM COUNT(*) OVER (ROWS 1 PRECEDING), SUM(qty) OVER (ROWS 2 PRECEDING) FROM s`, "slide over one window"},
		{`SELECT STREAM ticker, COUNT(*) OVER (ROWS 1 PRECEDING) FROM s GROUP BY ticker`, "no GROUP BY or HAVING"},
		{`SELECT STREAM COUNT(*) OVER (PARTITION BY ticker RANGE INTERVAL '1' MINUTE FOLLOWING) FROM s`, "a sliding window is"},
		{`SELECT STREAM COUNT(*) OVER (ROWS -1 PRECEDING) FROM s`, "a sliding window is"},
		{`SELECT STREAM COUNT(*) FROM s WINDOW W1 AS (ROWS 1 PRECEDING)`, "no aggregate uses OVER"},
		{`SELECT STREAM window_start, COUNT(*) OVER (ROWS 1 PRECEDING) FROM s`, "window_start is only known"},
	} {
		_, err := NewEngine(Config{SQL: tt.sql, Schema: tickerSchema})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.sql, err, tt.want)
		}
	}
}

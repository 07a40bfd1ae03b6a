package analytics

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// distinctRecs is n distinct tickers, then every tenth of them again, all
// in one ROWTIME second per window given.
func distinctRecs(windows ...int) []rec {
	var recs []rec
	for w, n := range windows {
		for i := range n + n/10 {
			v := i
			if i >= n {
				v = (i - n) * 10
			}
			recs = append(recs, rec{fmt.Sprint(i % 2), int64(w*1000 + i*999/(n+n/10)), fmt.Sprintf(`{"ticker":"u%d"}`, v)})
		}
	}
	return recs
}

func countsOf(t *testing.T, lines []string) []int64 {
	t.Helper()
	var out []int64
	for _, l := range lines {
		f := strings.Split(l, "=")
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, n)
	}
	return out
}

// APPROX_COUNT_DISTINCT counts exactly up to 10,000 values, and within
// 2 % past it (HyperLogLog); the sketch is in the checkpoint.
func TestApproxCountDistinct(t *testing.T) {
	sql := `SELECT window_start, APPROX_COUNT_DISTINCT(ticker) AS users, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND)) GROUP BY window_start, window_end`
	recs := distinctRecs(100_000, 10_000, 3)
	got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	if len(got) != 3 {
		t.Fatalf("%d rows, want 3: %v", len(got), got)
	}
	var users []int64
	for _, l := range got {
		users = append(users, countsOf(t, []string{strings.Split(l, ",n=")[0]})[0])
	}
	if e := math.Abs(float64(users[0])-100_000) / 100_000; e > 0.02 {
		t.Errorf("100,000 distinct values counted %d: %.2f%% off", users[0], 100*e)
	}
	if users[1] != 10_000 || users[2] != 3 {
		t.Errorf("10,000 and 3 distinct values counted %d and %d, want them exactly", users[1], users[2])
	}
	// Halfway through the first window the group holds a sketch, not the
	// values: that is what the checkpoint carries.
	e, _ := NewEngine(Config{SQL: sql, Schema: tickerSchema})
	for i, r := range recs[:60_000] {
		if _, _, err := e.Process(Input{Shard: r.shard, ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(snap, []byte(`"h":"`)) || bytes.Contains(snap, []byte(`"d":[`)) || len(snap) > 64<<10 {
		t.Errorf("a checkpoint of 60,000 distinct values is %d bytes and holds no sketch or the values", len(snap))
	}
}

func TestCountDistinctItemsTumbling(t *testing.T) {
	sql := `CREATE OR REPLACE STREAM "DEST" (distinct_tickers BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM * FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'ticker', 1));`
	got := countsOf(t, runAll(t, Config{SQL: sql, Schema: tickerSchema}, distinctRecs(3000, 50_000)))
	if len(got) != 2 || got[0] != 3000 {
		t.Fatalf("counted %v, want 3000 exactly, then about 50,000", got)
	}
	if e := math.Abs(float64(got[1])-50_000) / 50_000; e > 0.02 {
		t.Errorf("50,000 distinct values counted %d: %.2f%% off", got[1], 100*e)
	}
}

// Session windows that a row joins together merge their sketches.
func TestApproxCountDistinctMerges(t *testing.T) {
	sql := `SELECT APPROX_COUNT_DISTINCT(ticker) AS users FROM TABLE(SESSION(TABLE s, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end`
	var recs []rec
	// Two sessions of 15,000 values each (7,500 shared), 3 s apart, then
	// rows in the gap that join them.
	for i := range 15_000 {
		recs = append(recs, rec{"0", int64(i), fmt.Sprintf(`{"ticker":"u%d","ts":%d}`, i, i/100)})
		recs = append(recs, rec{"0", int64(i), fmt.Sprintf(`{"ticker":"u%d","ts":%d}`, i+7500, 3000+i/100)})
	}
	for i, ts := range []int{1000, 1900, 2800} {
		recs = append(recs, rec{"0", int64(20_000 + i), fmt.Sprintf(`{"ticker":"bridge","ts":%d}`, ts)})
	}
	got := countsOf(t, runAll(t, Config{SQL: sql, Schema: tickerSchema, AllowedLateness: 1 << 40}, recs))
	if len(got) != 1 {
		t.Fatalf("%d sessions, want 1: %v", len(got), got)
	}
	if e := math.Abs(float64(got[0])-22_501) / 22_501; e > 0.02 {
		t.Errorf("22,501 distinct values counted %d: %.2f%% off", got[0], 100*e)
	}
}

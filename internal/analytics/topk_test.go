package analytics

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// Flink's window Top-N: each window's rows ranked by ORDER BY, the first
// LIMIT kept; the same after a restore.
func TestWindowTopN(t *testing.T) {
	sql := `SELECT ticker, window_start, SUM(qty) AS vol FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, ticker ORDER BY vol DESC, ticker LIMIT 3`
	var recs []rec
	vol := map[int64]map[string]int{}
	for i := 0; i < 600; i++ {
		tk := fmt.Sprintf("T%d", (i*7)%11)
		arr := int64(i * 9)
		qty := (i * 13) % 17
		recs = append(recs, rec{fmt.Sprint(i % 2), arr, trade(tk, 1, qty, 0)})
		w := arr - arr%1000
		if vol[w] == nil {
			vol[w] = map[string]int{}
		}
		vol[w][tk] += qty
	}
	var want []string
	var wins []int64
	for w := range vol {
		wins = append(wins, w)
	}
	sort.Slice(wins, func(i, j int) bool { return wins[i] < wins[j] })
	for _, w := range wins {
		type kv struct {
			k string
			v int
		}
		var all []kv
		for k, v := range vol[w] {
			all = append(all, kv{k, v})
		}
		sort.Slice(all, func(i, j int) bool {
			if all[i].v != all[j].v {
				return all[i].v > all[j].v
			}
			return all[i].k < all[j].k
		})
		for _, x := range all[:3] {
			want = append(want, fmt.Sprintf("|ticker=%s,window_start=%s,vol=%d", x.k, formatValue(time.UnixMilli(w).UTC()), x.v))
		}
	}
	got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// By position, ascending, with a KDA STEP window.
	kda := `SELECT STREAM ticker, COUNT(*) AS n FROM s GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '1' SECOND) ORDER BY 2, 1 LIMIT 1`
	got = runAll(t, Config{SQL: kda, Schema: tickerSchema}, recs)
	if len(got) != len(wins) {
		t.Fatalf("%d rows, want one per window (%d): %v", len(got), len(wins), got)
	}
}

func TestTopKItemsTumbling(t *testing.T) {
	sql := `CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM ("TICKER" VARCHAR(4), "MOST_FREQUENT_VALUES" BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM * FROM TABLE (TOP_K_ITEMS_TUMBLING(
  CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'ticker', 3, 60, ));`
	// Per window of 60 s: heavy items H0..H3 with 400, 300, 200 and 100
	// rows among 2,500 items seen once: more distinct items than the
	// 1,000 the summary keeps.
	var recs []rec
	heavy := []int{400, 300, 200, 100}
	for w := 0; w < 2; w++ {
		var items []string
		for h, n := range heavy {
			for range n {
				items = append(items, fmt.Sprintf("H%d", h))
			}
		}
		for i := range 2500 {
			items = append(items, fmt.Sprintf("u%d-%d", w, i))
		}
		// A fixed shuffle: the order is the same on every run.
		for i := range items {
			j := (i*7919 + 13) % len(items)
			items[i], items[j] = items[j], items[i]
		}
		for i, it := range items {
			recs = append(recs, rec{"0", int64(w*60_000 + i), trade(it, 1, 1, 0)})
		}
	}
	got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	if len(got) != 6 {
		t.Fatalf("%d rows, want 3 per window: %v", len(got), got)
	}
	n := 3500.0 // rows per window
	for i, line := range got {
		var item string
		var count int
		if _, err := fmt.Sscanf(strings.NewReplacer(",", " ", "=", " ").Replace(line), "DESTINATION_SQL_STREAM|TICKER %s MOST_FREQUENT_VALUES %d", &item, &count); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		h := i % 3
		if item != fmt.Sprintf("H%d", h) {
			t.Errorf("row %d is %s, want H%d", i, item, h)
		}
		// Space-Saving's bound: a count is too high by at most n/capacity.
		if exact, bound := heavy[h], heavy[h]+int(n/1000); count < exact || count > bound {
			t.Errorf("%s counted %d, want %d to %d", item, count, exact, bound)
		}
	}
	// The summary is bounded: a window never holds more groups than that.
	e, _ := NewEngine(Config{SQL: sql, Schema: tickerSchema})
	for i, r := range recs[:3500] {
		if _, _, err := e.Process(Input{Shard: "0", ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)}); err != nil {
			t.Fatal(err)
		}
	}
	for w, groups := range e.ops[0].aligned {
		if len(groups) != 1000 {
			t.Errorf("window %v holds %d groups, want the capacity, 1000", w, len(groups))
		}
	}
}

func TestTopKExactUnderCapacity(t *testing.T) {
	sql := `SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s WHERE qty > 0), 'ticker', 2, 1))`
	var recs []rec
	for i := 0; i < 40; i++ {
		recs = append(recs, rec{"0", int64(i * 50), trade([]string{"A", "B", "B", "C", "C", "C", "D", "D"}[i%8], 1, i%5, 0)})
	}
	got := runAll(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	want := []string{"|ticker=C,ITEM_COUNT=6", "|ticker=B,ITEM_COUNT=5", "|ticker=C,ITEM_COUNT=6", "|ticker=D,ITEM_COUNT=5"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestTopKCompileErrors(t *testing.T) {
	cur := `CURSOR(SELECT STREAM * FROM s)`
	for _, tt := range []struct{ sql, want string }{
		{`SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(` + cur + `, 'ticker', 0, 60))`, "K must be from 1 to 100000"},
		{`SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(` + cur + `, 'ticker', 3, 3601))`, "from 1 to 3600"},
		{`SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(` + cur + `, ticker, 3, 60))`, "in single quotes"},
		{`SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(` + cur + `, 'nope', 3, 60))`, "column nope is not in the input schema"},
		{`SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(s, 'ticker', 3, 60))`, "CURSOR(SELECT STREAM * FROM stream)"},
		{`SELECT STREAM ticker FROM TABLE(TOP_K_ITEMS_TUMBLING(` + cur + `, 'ticker', 3, 60))`, "is read whole"},
		{`SELECT STREAM * FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(` + cur + `, 'ticker', 3, 60))`, "takes a CURSOR"},
		{`SELECT STREAM ticker FROM s ORDER BY ticker`, "need a TUMBLE, HOP or CUMULATE window"},
		{`SELECT STREAM ticker, COUNT(*) FROM s GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '1' SECOND) LIMIT 2, 3`, "no OFFSET"},
		{`SELECT STREAM ticker, COUNT(*) FROM s GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '1' SECOND) ORDER BY 3`, "has 2 columns"},
		{`SELECT STREAM ticker, COUNT(*) FROM s GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '1' SECOND) ORDER BY price`, "price must appear in GROUP BY"},
	} {
		_, err := NewEngine(Config{SQL: tt.sql, Schema: tickerSchema})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.sql, err, tt.want)
		}
	}
}

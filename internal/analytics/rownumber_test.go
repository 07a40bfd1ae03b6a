package analytics

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// topNRecs are trades over 6 one-second windows: tickers T0..T4 at prices
// 1..4, quantities varying.
func topNRecs() []rec {
	var recs []rec
	for i := 0; i < 700; i++ {
		tk := fmt.Sprintf("T%d", (i*7)%5)
		price := float64(1 + (i*3)%4)
		recs = append(recs, rec{fmt.Sprint(i % 2), int64(i * 9), trade(tk, price, (i*13)%17, 0)})
	}
	return recs
}

// The ROW_NUMBER form of window Top-N gives the rows of the ORDER BY
// LIMIT form with their row number, the same after a restore.
func TestRowNumberTopNMatchesOrderByLimit(t *testing.T) {
	recs := topNRecs()
	limitSQL := `SELECT ticker, window_start, SUM(qty) AS vol FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, ticker ORDER BY vol DESC, ticker LIMIT 3`
	base := runAll(t, Config{SQL: limitSQL, Schema: tickerSchema}, recs)
	if len(base) == 0 {
		t.Fatal("no rows")
	}
	var want []string
	n := 0
	for i, l := range base {
		if i > 0 && strings.SplitN(l, ",", 3)[1] != strings.SplitN(base[i-1], ",", 3)[1] {
			n = 0
		}
		n++
		want = append(want, fmt.Sprintf("%s,rownum=%d", l, n))
	}
	for _, sql := range []string{
		// Flink's documented form: Top-N after a window aggregation.
		`SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY vol DESC, ticker) AS rownum
  FROM (SELECT ticker, window_start, window_end, SUM(qty) AS vol
        FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
        GROUP BY window_start, window_end, ticker)
) WHERE rownum <= 3`,
		// The aggregation and ROW_NUMBER in one SELECT, columns named, < N.
		`SELECT ticker, window_start, vol, rownum FROM (
  SELECT ticker, window_start, SUM(qty) AS vol,
    ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY SUM(qty) DESC, ticker ASC) AS rownum
  FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
  GROUP BY window_start, window_end, ticker
) t WHERE 4 > rownum`,
	} {
		got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema}, recs)
		if strings.Contains(sql, "SELECT *") {
			// window_end is selected too: drop it to compare.
			for i, l := range got {
				parts := strings.Split(l, ",")
				var kept []string
				for _, p := range parts {
					if !strings.HasPrefix(p, "window_end=") {
						kept = append(kept, p)
					}
				}
				got[i] = strings.Join(kept, ",")
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ngot\n%s\nwant\n%s", sql, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// PARTITION BY window_start, window_end, ticker ranks each ticker's
// groups of a window on their own: the two prices with the most trades
// per ticker and window, checked against counts computed here.
func TestRowNumberTopNPartitionKeys(t *testing.T) {
	recs := topNRecs()
	type grp struct {
		w      int64
		ticker string
		price  float64
	}
	counts := map[grp]int{}
	for _, r := range recs {
		var tk string
		var price float64
		var qty int
		fmt.Sscanf(strings.NewReplacer(`{"ticker":"`, "", `","trade":{"price":`, " ", `,"qty":`, " ", `},"ts":0}`, "").Replace(r.data), "%s %g %d", &tk, &price, &qty)
		counts[grp{r.arrival - r.arrival%1000, tk, price}]++
	}
	byPart := map[[2]string][]grp{}
	for g := range counts {
		k := [2]string{fmt.Sprint(g.w), g.ticker}
		byPart[k] = append(byPart[k], g)
	}
	var want []string
	for _, gs := range byPart {
		sort.Slice(gs, func(i, j int) bool {
			if counts[gs[i]] != counts[gs[j]] {
				return counts[gs[i]] > counts[gs[j]]
			}
			return gs[i].price < gs[j].price
		})
		for i, g := range gs[:min(2, len(gs))] {
			want = append(want, fmt.Sprintf("|w=%s,ticker=%s,price=%s,n=%d,rn=%d",
				formatValue(time.UnixMilli(g.w).UTC()), g.ticker, formatValue(g.price), counts[g], i+1))
		}
	}
	sort.Strings(want)
	sql := `SELECT w, ticker, price, n, rn FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ticker ORDER BY n DESC, price) AS rn
  FROM (SELECT window_start AS w, window_start, window_end, ticker, price, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
        GROUP BY window_start, window_end, ticker, price) AS agg
) WHERE rn <= 2`
	got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// An unnamed CASE ... END keeps its END, and a column named without AS.
	caseSQL := `SELECT * FROM (
  SELECT ticker, CASE WHEN COUNT(*) > 20 THEN 'busy' ELSE 'quiet' END, COUNT(*) n,
    ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC, ticker) AS rownum
  FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
  GROUP BY window_start, window_end, ticker
) WHERE rownum <= 1`
	got = runAll(t, Config{SQL: caseSQL, Schema: tickerSchema}, recs)
	if len(got) != 7 || !strings.Contains(got[0], "=busy,n=") || !strings.HasSuffix(got[0], ",rownum=1") {
		t.Fatalf("want one busy row per window (7), got %v", got)
	}
	// Into a declared stream, without the row number: its columns count.
	dest := `CREATE OR REPLACE STREAM "DEST" (tk VARCHAR(8), cnt BIGINT);
INSERT INTO "DEST" SELECT ticker, n FROM (
  SELECT ticker, n, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC, ticker) AS rownum
  FROM (SELECT ticker, window_start, window_end, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, ticker)
) WHERE rownum = 1`
	got = runAll(t, Config{SQL: dest, Schema: tickerSchema}, recs)
	if len(got) != 7 || !strings.HasPrefix(got[0], "DEST|tk=") {
		t.Fatalf("want one row per window (7) into DEST, got %v", got)
	}
}

func TestRowNumberErrors(t *testing.T) {
	agg := `FROM (SELECT ticker, window_start, window_end, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, ticker)`
	for _, tt := range []struct{ sql, want string }{
		{`SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC) AS rownum ` + agg,
			"needs an outer query that keeps its first rows (WHERE rownum <= N)"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC) AS rownum ` + agg + `)`,
			"needs WHERE rownum <= N"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY ticker ORDER BY n DESC) AS rownum ` + agg + `) WHERE rownum <= 3`,
			"needs PARTITION BY window_start, window_end"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start ORDER BY n DESC) AS rownum ` + agg + `) WHERE rownum <= 3`,
			"needs PARTITION BY window_start, window_end"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (ORDER BY n DESC) AS rownum ` + agg + `) WHERE rownum <= 3`,
			"needs PARTITION BY window_start, window_end"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end) AS rownum ` + agg + `) WHERE rownum <= 3`,
			"needs ORDER BY"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) ` + agg + `) WHERE rownum <= 3`,
			"needs a name"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum ` + agg + `) WHERE rownum >= 3`,
			"must be rownum <= N"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum ` + agg + `) WHERE rownum = 2`,
			"must be rownum <= N"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum ` + agg + `) WHERE rownum <= 3 AND n > 2`,
			"keeps rows by rownum alone"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum ` + agg + `) WHERE rownum <= 3 AND rownum <= 2`,
			"bounds rownum once"},
		{`SELECT nope FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum ` + agg + `) WHERE rownum <= 3`,
			"not nope"},
		{`SELECT * FROM (SELECT *, RANK() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum ` + agg + `) WHERE rownum <= 3`,
			"RANK() is not supported"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY qty) AS rownum FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))) WHERE rownum <= 3`,
			"without aggregation is not supported"},
		{`SELECT * FROM (SELECT ticker, COUNT(*) AS n, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n) AS rownum FROM TABLE(SESSION(TABLE s PARTITION BY ticker, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, ticker) WHERE rownum <= 3`,
			"ranks the groups of a TUMBLE, HOP or CUMULATE window"},
	} {
		_, err := NewEngine(Config{SQL: tt.sql, Schema: tickerSchema})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\nerror %v, want one containing %q", tt.sql, err, tt.want)
		}
	}
}

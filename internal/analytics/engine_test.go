package analytics

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var tickerSchema = Schema{Format: "JSON", Columns: []Column{
	{Name: "ticker", Mapping: "$.ticker", SQLType: "VARCHAR(8)"},
	{Name: "price", Mapping: "$.trade.price", SQLType: "REAL"},
	{Name: "qty", Mapping: "$.trade.qty", SQLType: "BIGINT"},
	{Name: "ts", Mapping: "$.ts", SQLType: "TIMESTAMP"},
}}

type rec struct {
	shard   string
	arrival int64
	data    string
}

func trade(ticker string, price float64, qty int, ts int64) string {
	return fmt.Sprintf(`{"ticker":%q,"trade":{"price":%g,"qty":%d},"ts":%d}`, ticker, price, qty, ts)
}

// runAll feeds records in order and flushes, returning every result as
// "dest|col=val,...".
func runAll(t *testing.T, cfg Config, recs []rec) []string {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	var out []Result
	for i, r := range recs {
		res, _, err := e.Process(Input{Shard: r.shard, ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res...)
		res, err = e.Advance(time.UnixMilli(0))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res...)
	}
	res, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	return lines(append(out, res...))
}

func lines(rs []Result) []string {
	var s []string
	for _, r := range rs {
		var b strings.Builder
		b.WriteString(r.Dest + "|")
		for i, c := range r.Columns {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%s", c, formatValue(r.Values[i]))
		}
		s = append(s, b.String())
	}
	return s
}

func TestKDAAndFlinkTumblingAgree(t *testing.T) {
	kda := `CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(8), window_start TIMESTAMP, n BIGINT, total DOUBLE);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM "ticker", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '2' SECOND), COUNT(*), SUM("price")
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY "ticker", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '2' SECOND);`
	flink := `INSERT INTO DEST
  SELECT ticker, window_start, COUNT(*) AS n, SUM(price) AS total
  FROM TABLE(TUMBLE(TABLE SOURCE_SQL_STREAM_001, DESCRIPTOR(ROWTIME), INTERVAL '2' SECONDS))
  GROUP BY window_start, window_end, ticker`
	var recs []rec
	want := map[string]int{}
	for i := 0; i < 500; i++ {
		tk := []string{"AMZN", "MSFT", "GOOG"}[i%3]
		arr := int64(1_700_000_000_000 + i*23)
		recs = append(recs, rec{fmt.Sprint(i % 2), arr, trade(tk, 1.5, 1, 0)})
		want[fmt.Sprintf("%s/%d", tk, arr-mod(arr, 2000))]++
	}
	a := runAll(t, Config{SQL: kda, Schema: tickerSchema}, recs)
	b := runAll(t, Config{SQL: flink, Schema: tickerSchema}, recs)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("KDA and Flink forms differ:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if len(a) != len(want) {
		t.Fatalf("%d results, want %d", len(a), len(want))
	}
	for _, line := range a {
		var tk, ws string
		var n int
		var total float64
		if _, err := fmt.Sscanf(strings.NewReplacer("|", " ", ",", " ", "=", " ").Replace(line), "DEST ticker %s window_start %s", &tk, &ws); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fields := strings.Split(strings.SplitN(line, "|", 2)[1], ",")
		fmt.Sscanf(fields[2], "n=%d", &n)
		fmt.Sscanf(fields[3], "total=%g", &total)
		start := strings.TrimPrefix(fields[1], "window_start=")
		st, _ := time.Parse(timestampLayout, start)
		key := fmt.Sprintf("%s/%d", tk, st.UnixMilli())
		if want[key] != n || total != 1.5*float64(n) {
			t.Errorf("%s: n=%d total=%g, want n=%d", line, n, total, want[key])
		}
	}
}

func TestFiltersHavingAndAggregates(t *testing.T) {
	sql := `SELECT STREAM ticker, COUNT(*) AS n, COUNT(DISTINCT qty) AS dq, MIN(price) AS lo, MAX(price) AS hi,
  AVG(qty) AS avgq, UPPER(ticker) AS up
FROM "SOURCE_SQL_STREAM_001"
WHERE price > 1 AND ticker <> 'X' AND ticker IS NOT NULL
GROUP BY ticker, FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE)
HAVING COUNT(*) >= 2`
	recs := []rec{
		{"0", 60_000, trade("aa", 2, 1, 0)},
		{"0", 60_001, trade("aa", 3, 1, 0)},
		{"0", 60_002, trade("aa", 5, 4, 0)},
		{"0", 60_003, trade("aa", 0.5, 9, 0)}, // filtered out
		{"0", 60_004, trade("bb", 7, 1, 0)},   // one row: HAVING drops it
		{"0", 60_005, trade("X", 7, 1, 0)},
		{"0", 60_006, `{"ticker":null,"trade":{"price":9}}`},
	}
	got := runAll(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	want := []string{"|ticker=aa,n=3,dq=2,lo=2,hi=5,avgq=2,up=AA"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestWindowKinds(t *testing.T) {
	var recs []rec
	for _, ts := range []int64{0, 1000, 2500, 9000, 9500, 20000} {
		recs = append(recs, rec{"0", ts, trade("k", 1, 1, ts)})
	}
	tests := []struct {
		name, sql string
		want      []string
	}{
		{"hop", `SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(HOP(TABLE s, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end`, []string{
			"|window_start=1969-12-31 23:59:55.000,window_end=1970-01-01 00:00:05.000,n=3",
			"|window_start=1970-01-01 00:00:00.000,window_end=1970-01-01 00:00:10.000,n=5",
			"|window_start=1970-01-01 00:00:05.000,window_end=1970-01-01 00:00:15.000,n=2",
			"|window_start=1970-01-01 00:00:15.000,window_end=1970-01-01 00:00:25.000,n=1",
			"|window_start=1970-01-01 00:00:20.000,window_end=1970-01-01 00:00:30.000,n=1",
		}},
		{"session", `SELECT ticker, window_start, window_end, COUNT(*) AS n FROM TABLE(SESSION(TABLE s PARTITION BY ticker, DESCRIPTOR(ts), INTERVAL '2' SECOND)) GROUP BY ticker, window_start, window_end`, []string{
			"|ticker=k,window_start=1970-01-01 00:00:00.000,window_end=1970-01-01 00:00:04.500,n=3",
			"|ticker=k,window_start=1970-01-01 00:00:09.000,window_end=1970-01-01 00:00:11.500,n=2",
			"|ticker=k,window_start=1970-01-01 00:00:20.000,window_end=1970-01-01 00:00:22.000,n=1",
		}},
		{"cumulate", `SELECT window_end, COUNT(*) AS n FROM TABLE(CUMULATE(TABLE s, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end`, []string{
			"|window_end=1970-01-01 00:00:05.000,n=3",
			"|window_end=1970-01-01 00:00:10.000,n=5",
			"|window_end=1970-01-01 00:00:25.000,n=1",
			"|window_end=1970-01-01 00:00:30.000,n=1",
		}},
		{"stagger", `SELECT STREAM ticker, COUNT(*) AS n FROM "S" WINDOWED BY STAGGER (PARTITION BY ticker RANGE INTERVAL '3' SECOND)`, []string{
			"|ticker=k,n=3", "|ticker=k,n=2", "|ticker=k,n=1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runAll(t, Config{SQL: tt.sql, Schema: tickerSchema}, recs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLateRowsAndWatermark(t *testing.T) {
	sql := `SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end`
	e, err := NewEngine(Config{SQL: sql, Schema: tickerSchema, AllowedLateness: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	feed := func(ts int64) []Rejected {
		_, rej, err := e.Process(Input{Shard: "0", Arrival: 0, Data: []byte(trade("k", 1, 1, ts))})
		if err != nil {
			t.Fatal(err)
		}
		return rej
	}
	feed(100)
	feed(1200) // watermark 700: window [0,1000) still open
	if rs, _ := e.Advance(time.Now()); len(rs) != 0 {
		t.Fatalf("window closed before watermark passed it: %v", lines(rs))
	}
	if rej := feed(900); len(rej) != 0 { // within lateness
		t.Fatalf("row within lateness rejected: %v", rej)
	}
	feed(1600) // watermark 1100: closes [0,1000)
	rs, _ := e.Advance(time.Now())
	if got := lines(rs); !reflect.DeepEqual(got, []string{"|window_start=1970-01-01 00:00:00.000,n=2"}) {
		t.Fatalf("got %v", got)
	}
	if rej := feed(950); len(rej) != 1 || e.Late != 1 {
		t.Fatalf("late row: rejected %v, Late %d", rej, e.Late)
	}
	if _, rej, _ := e.Process(Input{Shard: "0", Data: []byte("not json")}); len(rej) != 1 || e.Malformed != 1 {
		t.Fatalf("malformed record not rejected")
	}
}

func TestCSVAndProjection(t *testing.T) {
	schema := Schema{Format: "CSV", Columns: []Column{{Name: "k", SQLType: "VARCHAR(4)"}, {Name: "v", SQLType: "INTEGER"}}}
	sql := `SELECT STREAM k, v * 2 AS dbl, CASE WHEN v > 1 THEN 'big' ELSE 'small' END AS size FROM "S" WHERE v IN (1, 3) OR k LIKE 'z%'`
	got := runAll(t, Config{SQL: sql, Schema: schema}, []rec{{"0", 1, "a,1\nb,2\nc,3"}, {"0", 2, "zed,5"}})
	want := []string{"|k=a,dbl=2,size=small", "|k=c,dbl=6,size=big", "|k=zed,dbl=10,size=big"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct{ sql, want string }{
		{`SELECT STREAM COUNT(*) FROM s`, "needs a window"},
		{`SELECT STREAM nope FROM s`, "column nope is not in the input schema"},
		{`SELECT STREAM ticker, price, COUNT(*) FROM s GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '1' MINUTE)`, "price must appear in GROUP BY"},
		{`SELECT * FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' FORTNIGHT))`, "FORTNIGHT"},
		{`SELECT x FROM TABLE(SPIN(TABLE s, DESCRIPTOR(ts), INTERVAL '1' SECOND))`, "SPIN"},
		{`SELECT STREAM ticker FROM a JOIN b ON a.x = b.x`, "b is not a reference table"},
		{`DROP STREAM x`, "a statement must be"},
		{`SELECT STREAM bogus(ticker) FROM s`, "BOGUS is not supported"},
	} {
		_, err := NewEngine(Config{SQL: tt.sql, Schema: tickerSchema})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.sql, err, tt.want)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	sql := `SELECT ticker, window_start, COUNT(*) AS n, SUM(qty) AS q, COUNT(DISTINCT price) AS dp, MAX(ts) AS last FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, ticker`
	var recs []rec
	for i := 0; i < 300; i++ {
		recs = append(recs, rec{fmt.Sprint(i % 3), int64(i * 17), trade(fmt.Sprint("k", i%7), float64(i%5), i, int64(i))})
	}
	want := runAll(t, Config{SQL: sql, Schema: tickerSchema}, recs)
	// Cut halfway, snapshot, restore into a new engine, carry on.
	e1, _ := NewEngine(Config{SQL: sql, Schema: tickerSchema})
	var got []Result
	for i, r := range recs[:150] {
		out, _, _ := e1.Process(Input{Shard: r.shard, ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)})
		got = append(got, out...)
		out, _ = e1.Advance(time.UnixMilli(0))
		got = append(got, out...)
	}
	snap, err := e1.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := NewEngine(Config{SQL: sql, Schema: tickerSchema})
	if err := e2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs[150:] {
		out, _, _ := e2.Process(Input{Shard: r.shard, ID: fmt.Sprint(i + 150), Arrival: r.arrival, Data: []byte(r.data)})
		got = append(got, out...)
		out, _ = e2.Advance(time.UnixMilli(0))
		got = append(got, out...)
	}
	out, _ := e2.Flush()
	g := lines(append(got, out...))
	sort.Strings(g)
	sort.Strings(want)
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("after restore:\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// TestGroupKeysComputedAndDirect: keys and aggregate arguments read
// straight from the row's columns or computed by a program give the same
// groups as before; keys of several columns stay apart however their
// texts run together.
func TestGroupKeysComputedAndDirect(t *testing.T) {
	recs := []rec{
		{"0", 60_000, trade("aa", 1, 1, 0)},
		{"0", 60_001, trade("AA", 2, 2, 0)},
		{"0", 60_002, trade("a", 4, 11, 0)},
		{"0", 60_003, trade("a1", 8, 1, 0)},
		{"0", 60_004, trade("aa", 16, 1, 0)},
		{"0", 120_000, trade("aa", 32, 5, 0)},
	}
	tests := []struct {
		name, sql string
		want      []string
	}{
		{"computed", `SELECT STREAM UPPER(ticker) AS t, COUNT(*) AS n, SUM(qty * 2) AS q FROM "SOURCE_SQL_STREAM_001"
GROUP BY UPPER(ticker), STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND)`, []string{
			"|t=A,n=1,q=22", "|t=A1,n=1,q=2", "|t=AA,n=3,q=8", "|t=AA,n=1,q=10",
		}},
		{"direct", `SELECT STREAM ticker, qty, COUNT(*) AS n, SUM(price) AS p FROM "SOURCE_SQL_STREAM_001"
GROUP BY ticker, qty, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND)`, []string{
			"|ticker=AA,qty=2,n=1,p=2", "|ticker=a,qty=11,n=1,p=4", "|ticker=a1,qty=1,n=1,p=8", "|ticker=aa,qty=1,n=2,p=17", "|ticker=aa,qty=5,n=1,p=32",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runAll(t, Config{SQL: tc.sql, Schema: tickerSchema}, recs)
			sort.Strings(got[:len(got)-1]) // the first window's rows, in any order
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

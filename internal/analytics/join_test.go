package analytics

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// restoreHalfway runs recs through one engine up to the middle, snapshots
// it, restores a second engine from the snapshot and carries on there;
// the rows must be those of one uninterrupted run.
func restoreHalfway(t *testing.T, cfg Config, recs []rec) []string {
	t.Helper()
	want := runAll(t, cfg, recs)
	feed := func(e *Engine, from int, part []rec) []Result {
		var got []Result
		for i, r := range part {
			out, _, err := e.Process(Input{Shard: r.shard, ID: fmt.Sprint(from + i), Arrival: r.arrival, Data: []byte(r.data)})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
			out, err = e.Advance(time.UnixMilli(0))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
		}
		return got
	}
	half := len(recs) / 2
	e1, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := feed(e1, 0, recs[:half])
	snap, err := e1.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e2, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	got = append(got, feed(e2, half, recs[half:])...)
	out, err := e2.Flush()
	if err != nil {
		t.Fatal(err)
	}
	g := lines(append(got, out...))
	sort.Strings(g)
	w := append([]string(nil), want...)
	sort.Strings(w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("after restore:\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	return want
}

var companies = Schema{Format: "CSV", Columns: []Column{
	{Name: "ticker", SQLType: "VARCHAR(8)"},
	{Name: "company", SQLType: "VARCHAR(32)"},
	{Name: "sector", SQLType: "VARCHAR(16)"},
}}

func companyTable(t *testing.T) Table {
	t.Helper()
	tab, err := LoadTable("COMPANIES", companies, []byte("AMZN,Amazon,RETAIL\nMSFT,Microsoft,TECH\nGOOG,Alphabet,TECH\n"))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestJoinReferenceTable(t *testing.T) {
	tab := companyTable(t)
	var recs []rec
	for i := 0; i < 12; i++ {
		tk := []string{"AMZN", "MSFT", "GOOG", "ORCL"}[i%4]
		recs = append(recs, rec{"0", int64(1000 + i), trade(tk, 1, i, 0)})
	}
	for _, tt := range []struct {
		name, sql string
		want      []string
	}{
		{"inner", `SELECT STREAM s.ticker, r.company, s.qty FROM "SOURCE_SQL_STREAM_001" AS s JOIN "COMPANIES" AS r ON s.ticker = r.ticker WHERE s.qty < 4`,
			[]string{"|ticker=AMZN,company=Amazon,qty=0", "|ticker=MSFT,company=Microsoft,qty=1", "|ticker=GOOG,company=Alphabet,qty=2"}},
		{"left outer", `SELECT STREAM s.ticker, r.company, sector FROM "SOURCE_SQL_STREAM_001" AS s LEFT OUTER JOIN "COMPANIES" AS r ON r.ticker = s.ticker WHERE qty BETWEEN 2 AND 3`,
			[]string{"|ticker=GOOG,company=Alphabet,sector=TECH", "|ticker=ORCL,company=,sector="}},
		{"unaliased", `SELECT STREAM COMPANIES.company FROM SOURCE_SQL_STREAM_001 JOIN COMPANIES ON SOURCE_SQL_STREAM_001.ticker = COMPANIES.ticker WHERE qty = 5`,
			[]string{"|company=Microsoft"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := runAll(t, Config{SQL: tt.sql, Schema: tickerSchema, Tables: []Table{tab}}, recs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestJoinWindowedRestores(t *testing.T) {
	tab := companyTable(t)
	sql := `CREATE OR REPLACE STREAM "DEST" (sector VARCHAR(16), n BIGINT, volume BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM r.sector, COUNT(*), SUM(s.qty)
  FROM "SOURCE_SQL_STREAM_001" AS s LEFT JOIN "COMPANIES" AS r ON s.ticker = r.ticker
  GROUP BY r.sector, STEP(s.ROWTIME BY INTERVAL '1' SECOND);`
	var recs []rec
	want := map[string][2]int{}
	sector := map[string]string{"AMZN": "RETAIL", "MSFT": "TECH", "GOOG": "TECH", "ORCL": ""}
	for i := 0; i < 400; i++ {
		tk := []string{"AMZN", "MSFT", "GOOG", "ORCL"}[i%4]
		arr := int64(i * 13)
		recs = append(recs, rec{fmt.Sprint(i % 2), arr, trade(tk, 1, i, 0)})
		k := fmt.Sprintf("DEST|sector=%s,n=", sector[tk])
		w := want[fmt.Sprint(arr/1000)+" "+k]
		want[fmt.Sprint(arr/1000)+" "+k] = [2]int{w[0] + 1, w[1] + i}
	}
	got := restoreHalfway(t, Config{SQL: sql, Schema: tickerSchema, Tables: []Table{tab}}, recs)
	var wantLines []string
	for k, v := range want {
		wantLines = append(wantLines, fmt.Sprintf("%s%d,volume=%d", strings.SplitN(k, " ", 2)[1], v[0], v[1]))
	}
	sort.Strings(wantLines)
	sort.Strings(got)
	if !reflect.DeepEqual(got, wantLines) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
}

func TestJoinManyMatchesAndJSONTable(t *testing.T) {
	sc := Schema{Format: "JSON", Columns: []Column{
		{Name: "ticker", Mapping: "$.t", SQLType: "VARCHAR(8)"},
		{Name: "exchange", Mapping: "$.x", SQLType: "VARCHAR(8)"},
	}}
	tab, err := LoadTable("LISTINGS", sc, []byte(`{"t":"AMZN","x":"NASDAQ"}
{"t":"AMZN","x":"XETRA"} {"t":"MSFT","x":"NASDAQ"}`))
	if err != nil {
		t.Fatal(err)
	}
	recs := []rec{{"0", 1, trade("AMZN", 1, 1, 0)}, {"0", 2, trade("MSFT", 1, 2, 0)}}
	got := runAll(t, Config{SQL: `SELECT STREAM s.qty, l.exchange FROM s JOIN LISTINGS AS l ON l.ticker = s.ticker`, Schema: tickerSchema, Tables: []Table{tab}}, recs)
	want := []string{"|qty=1,exchange=NASDAQ", "|qty=1,exchange=XETRA", "|qty=2,exchange=NASDAQ"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := LoadTable("BAD", sc, []byte(`{"t":"AMZN"} {oops`)); err == nil || !strings.Contains(err.Error(), "value 2 is not JSON") {
		t.Fatalf("a table with a broken value: %v", err)
	}
}

func TestJoinCompileErrors(t *testing.T) {
	tab := companyTable(t)
	for _, tt := range []struct{ sql, want string }{
		{`SELECT STREAM s.ticker FROM s JOIN NOPE AS r ON s.ticker = r.ticker`, "NOPE is not a reference table"},
		{`SELECT STREAM s.ticker FROM s JOIN COMPANIES AS r ON s.ticker < r.ticker`, "on equalities"},
		{`SELECT STREAM s.ticker FROM s JOIN COMPANIES AS r ON s.ticker = s.ticker`, "column of the reference table"},
		{`SELECT STREAM s.ticker FROM s JOIN COMPANIES AS r ON r.company = r.ticker`, "must be of the stream"},
		{`SELECT STREAM s.ticker FROM s RIGHT JOIN COMPANIES AS r ON s.ticker = r.ticker`, "LEFT [OUTER] JOIN"},
		{`SELECT STREAM r.nope FROM s JOIN COMPANIES AS r ON s.ticker = r.ticker`, "r.nope is not in the input schema or the reference table"},
	} {
		_, err := NewEngine(Config{SQL: tt.sql, Schema: tickerSchema, Tables: []Table{tab}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.sql, err, tt.want)
		}
	}
}

// A join with a reference table reads the in-application stream its FROM
// names when a pump writes it.
func TestJoinReferenceTableOfAPumpsStream(t *testing.T) {
	sql := `CREATE OR REPLACE STREAM "BIG" (t VARCHAR(8), q BIGINT);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "BIG" SELECT STREAM ticker, qty FROM "SOURCE_SQL_STREAM_001" WHERE qty >= 10;
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "OUT" SELECT STREAM b.t, r.company, b.q FROM "BIG" AS b JOIN "COMPANIES" AS r ON b.t = r.ticker;`
	var recs []rec
	for i := 0; i < 12; i++ {
		recs = append(recs, rec{"0", int64(1000 + i), trade([]string{"AMZN", "MSFT", "ORCL"}[i%3], 1, i, 0)})
	}
	got := only(runAll(t, Config{SQL: sql, Schema: tickerSchema, Tables: []Table{companyTable(t)}}, recs), "OUT|")
	want := []string{"OUT|t=MSFT,company=Microsoft,q=10"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

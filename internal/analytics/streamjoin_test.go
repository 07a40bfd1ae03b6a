package analytics

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var eventSchema = Schema{Format: "JSON", Columns: []Column{
	{Name: "kind", Mapping: "$.kind", SQLType: "VARCHAR(8)"},
	{Name: "id", Mapping: "$.id", SQLType: "BIGINT"},
	{Name: "ts", Mapping: "$.ts", SQLType: "TIMESTAMP"},
}}

func event(kind string, id int, ts int64) string {
	return fmt.Sprintf(`{"kind":%q,"id":%d,"ts":%d}`, kind, id, ts)
}

// The orders and shipments of one source, split by two pumps.
const splitSQL = `CREATE OR REPLACE STREAM "ORDERS" (id BIGINT, ots TIMESTAMP);
CREATE OR REPLACE PUMP "O" AS INSERT INTO "ORDERS" SELECT STREAM id, ts FROM "SOURCE_SQL_STREAM_001" WHERE kind = 'order';
CREATE OR REPLACE STREAM "SHIPS" (id BIGINT, sts TIMESTAMP);
CREATE OR REPLACE PUMP "S" AS INSERT INTO "SHIPS" SELECT STREAM id, ts FROM "SOURCE_SQL_STREAM_001" WHERE kind = 'ship';
CREATE OR REPLACE STREAM "OUT" (id BIGINT, waited BIGINT);
`

const innerJoinSQL = splitSQL + `CREATE OR REPLACE PUMP "J" AS INSERT INTO "OUT"
SELECT STREAM o.id, UNIX_MILLIS(s.sts) - UNIX_MILLIS(o.ots) FROM "ORDERS" AS o JOIN "SHIPS" AS s
  ON o.id = s.id AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '5' SECOND;`

// joinRecords are orders and shipments of random ids over two shards,
// arriving in time order (their ts is their arrival).
func joinRecords(n int) []rec {
	rng := rand.New(rand.NewSource(7))
	var recs []rec
	at := int64(1_700_000_000_000)
	for i := 0; i < n; i++ {
		at += rng.Int63n(700)
		kind := "order"
		if rng.Intn(2) == 0 {
			kind = "ship"
		}
		recs = append(recs, rec{fmt.Sprint(i % 2), at, event(kind, rng.Intn(20), at)})
	}
	return recs
}

// offlineJoin is every pair of an order and a shipment of its id that
// arrived 0 to 5 s after it, as OUT rows; left adds the orders without one.
func offlineJoin(recs []rec, left bool) []string {
	type ev struct {
		kind string
		id   int
		at   int64
	}
	var evs []ev
	for _, r := range recs {
		var e ev
		var ts int64
		fmt.Sscanf(strings.NewReplacer(`{"kind":"`, "", `","id":`, " ", `,"ts":`, " ", "}", "").Replace(r.data), "%s %d %d", &e.kind, &e.id, &ts)
		e.at = r.arrival
		evs = append(evs, e)
	}
	var out []string
	for _, o := range evs {
		if o.kind != "order" {
			continue
		}
		matched := false
		for _, s := range evs {
			if s.kind == "ship" && s.id == o.id && s.at-o.at >= 0 && s.at-o.at <= 5000 {
				out = append(out, fmt.Sprintf("OUT|id=%d,waited=%d", o.id, s.at-o.at))
				matched = true
			}
		}
		if left && !matched {
			out = append(out, fmt.Sprintf("OUT|id=%d,waited=", o.id))
		}
	}
	sort.Strings(out)
	return out
}

func only(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func TestIntervalJoinMatchesOffline(t *testing.T) {
	recs := joinRecords(600)
	want := offlineJoin(recs, false)
	if len(want) < 50 {
		t.Fatalf("only %d pairs: the data does not test much", len(want))
	}
	flinkWhere := splitSQL + `INSERT INTO "OUT" SELECT o.id, UNIX_MILLIS(s.sts) - UNIX_MILLIS(o.ots) FROM ORDERS o, SHIPS s
  WHERE o.id = s.id AND s.ROWTIME >= o.ROWTIME AND o.ROWTIME + INTERVAL '5' SECONDS >= s.ROWTIME;`
	kda := splitSQL + `CREATE OR REPLACE PUMP "J" AS INSERT INTO "OUT"
SELECT STREAM s.id, UNIX_MILLIS(s.sts) - UNIX_MILLIS(o.ots) FROM "SHIPS" AS s
  JOIN "ORDERS" OVER (RANGE INTERVAL '5' SECOND PRECEDING) AS o ON s.id = o.id;`
	for name, sql := range map[string]string{"join on": innerJoinSQL, "from a, b where": flinkWhere, "kda over": kda} {
		got := only(runAll(t, Config{SQL: sql, Schema: eventSchema}, recs), "OUT|")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d rows, want %d; first %q want %q", name, len(got), len(want), got[:min(3, len(got))], want[:3])
		}
	}
	// A checkpoint taken halfway holds the kept rows: a restored engine
	// carries on to the same rows.
	restoreHalfway(t, Config{SQL: innerJoinSQL, Schema: eventSchema}, recs)
}

func TestLeftJoinEmitsUnmatchedWhenTheWatermarkPasses(t *testing.T) {
	sql := splitSQL + `CREATE OR REPLACE PUMP "J" AS INSERT INTO "OUT"
SELECT STREAM o.id, UNIX_MILLIS(s.sts) - UNIX_MILLIS(o.ots) FROM "ORDERS" AS o LEFT OUTER JOIN "SHIPS" AS s
  ON o.id = s.id AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '5' SECOND`
	e, err := NewEngine(Config{SQL: sql, Schema: eventSchema})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	step := func(i int, at int64, data string) {
		t.Helper()
		res, _, err := e.Process(Input{Shard: "0", ID: fmt.Sprint(i), Arrival: at, Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		adv, err := e.Advance(time.UnixMilli(0))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, only(lines(append(res, adv...)), "OUT|")...)
	}
	step(0, 1000, event("order", 1, 1000))
	step(1, 2000, event("order", 2, 2000))
	step(2, 3000, event("ship", 2, 3000))
	if want := []string{"OUT|id=2,waited=1000"}; !reflect.DeepEqual(out, want) {
		t.Fatalf("after the shipment of 2: %q, want %q", out, want)
	}
	// Order 1 may still meet its shipment up to 6000 inclusive.
	step(3, 6000, event("ship", 9, 6000))
	if len(out) != 1 {
		t.Fatalf("at 6000: %q; order 1 could still be shipped", out)
	}
	step(4, 6001, event("ship", 9, 6001))
	if want := []string{"OUT|id=2,waited=1000", "OUT|id=1,waited="}; !reflect.DeepEqual(out, want) {
		t.Fatalf("at 6001: %q, want %q", out, want)
	}
	// At 20000 nothing older can match a row to come: the state holds
	// the last order alone.
	step(5, 20000, event("order", 3, 20000))
	kept := 0
	for _, m := range e.ops[2].kept {
		for _, rows := range m {
			kept += len(rows)
		}
	}
	if kept != 1 {
		t.Fatalf("%d rows kept at 20000, want 1 (the order of 20000)", kept)
	}
	fl, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if got := only(lines(fl), "OUT|"); !reflect.DeepEqual(got, []string{"OUT|id=3,waited="}) {
		t.Fatalf("flush: %q", got)
	}

	recs := joinRecords(400)
	if got, want := only(runAll(t, Config{SQL: sql, Schema: eventSchema}, recs), "OUT|"), offlineJoin(recs, true); !reflect.DeepEqual(got, want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	restoreHalfway(t, Config{SQL: sql, Schema: eventSchema}, recs)
}

func TestIntervalJoinStateIsBounded(t *testing.T) {
	e, err := NewEngine(Config{SQL: innerJoinSQL, Schema: eventSchema})
	if err != nil {
		t.Fatal(err)
	}
	recs := joinRecords(3000)
	most := 0
	for i, r := range recs {
		if _, _, err := e.Process(Input{Shard: r.shard, ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Advance(time.UnixMilli(0)); err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, m := range e.ops[2].kept {
			for _, rows := range m {
				for _, k := range rows {
					kept++
					if k.T < r.arrival-6000 {
						t.Fatalf("a row of %d is kept at %d", k.T, r.arrival)
					}
				}
			}
		}
		most = max(most, kept)
	}
	// About 15 records arrive in 5 s.
	if most > 60 {
		t.Fatalf("up to %d rows kept", most)
	}
}

func TestIntervalJoinOnEventTime(t *testing.T) {
	sql := `SELECT STREAM o.id, s.ts FROM "SOURCE_SQL_STREAM_001" AS o JOIN "SOURCE_SQL_STREAM_001" AS s
  ON o.id = s.id AND o.kind = 'order' AND s.kind = 'ship' AND s.ts BETWEEN o.ts - INTERVAL '1' SECOND AND o.ts + INTERVAL '2' SECOND`
	e, err := NewEngine(Config{SQL: sql, Schema: eventSchema, AllowedLateness: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var late int
	for i, r := range []rec{
		{"0", 1, event("order", 1, 10_000)},
		{"0", 2, event("ship", 1, 9_500)},  // 0.5 s before: joined
		{"0", 3, event("ship", 1, 12_000)}, // 2 s after: joined
		{"0", 4, event("ship", 1, 12_001)}, // too late after the order
		{"0", 5, event("order", 7, 20_000)},
		{"0", 6, event("ship", 1, 11_000)}, // the watermark is 19 s: late
		{"0", 7, event("ship", 7, 19_500)}, // not late: joined
	} {
		res, rej, err := e.Process(Input{Shard: r.shard, ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)})
		if err != nil {
			t.Fatal(err)
		}
		late += len(rej)
		got = append(got, lines(res)...)
		res, err = e.Advance(time.UnixMilli(0))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, lines(res)...)
	}
	want := []string{"|id=1,ts=1970-01-01 00:00:09.500", "|id=1,ts=1970-01-01 00:00:12.000", "|id=7,ts=1970-01-01 00:00:19.500"}
	if !reflect.DeepEqual(got, want) || late != 1 || e.Late != 1 {
		t.Fatalf("got %q and %d late (%d), want %q and 1", got, late, e.Late, want)
	}
}

// a.ROWTIME is a side's own arrival; ROWTIME alone the later of the two,
// or for a row without a match the end of its interval.
func TestStreamJoinRowtimes(t *testing.T) {
	sql := `SELECT STREAM UNIX_MILLIS(o.ROWTIME) AS o, UNIX_MILLIS(s.ROWTIME) AS s, UNIX_MILLIS(ROWTIME) AS j
FROM src AS o LEFT JOIN src AS s ON o.id = s.id AND o.kind = 'order' AND s.kind = 'ship' AND UNIX_MILLIS(s.ROWTIME) > UNIX_MILLIS(o.ROWTIME) + 100
  AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '1' SECOND
WHERE o.kind = 'order'`
	got := runAll(t, Config{SQL: sql, Schema: eventSchema}, []rec{
		{"0", 1000, event("order", 1, 0)},
		{"0", 1050, event("ship", 1, 0)}, // not 100 ms after: no match
		{"0", 1200, event("ship", 1, 0)},
		{"0", 1300, event("order", 2, 0)},
	})
	want := []string{"|o=1000,s=1200,j=1200", "|o=1300,s=,j=2300"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStreamJoinCompileErrors(t *testing.T) {
	for _, tt := range []struct{ sql, want string }{
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o JOIN SHIPS s ON o.id = s.id`, "a join of two streams needs a time bound on both sides' event times"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o JOIN SHIPS s ON o.id = s.id AND s.sts >= o.ots`, "needs a time bound"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o, SHIPS s WHERE o.id = s.id`, "needs a time bound"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o RIGHT JOIN SHIPS s ON o.id = s.id AND s.sts BETWEEN o.ots AND o.ots + INTERVAL '1' MINUTE`, "JOIN (INNER) or LEFT [OUTER] JOIN"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o JOIN SHIPS s ON o.id = s.id AND s.sts BETWEEN o.ots + INTERVAL '2' MINUTE AND o.ots + INTERVAL '1' MINUTE`, "admit no pair of rows"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o JOIN SHIPS s ON o.id = s.id AND s.sts BETWEEN o.ots AND o.ots + INTERVAL '1' MINUTE AND s.ROWTIME <= o.ROWTIME`, "compare one time of each stream"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o JOIN SHIPS s ON o.id = s.id AND s.sts BETWEEN o.ots AND o.ots + INTERVAL '1' FORTNIGHT`, "FORTNIGHT"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, 1 FROM ORDERS o JOIN SHIPS OVER (ROWS 5 PRECEDING) AS s ON o.id = s.id`, "JOIN SHIPS OVER (RANGE INTERVAL 'n' UNIT PRECEDING)"},
		{splitSQL + `INSERT INTO OUT SELECT o.id, o.nope FROM ORDERS o JOIN SHIPS s ON o.id = s.id AND s.sts BETWEEN o.ots AND o.ots + INTERVAL '1' MINUTE`, "o.nope is not a column of either joined stream"},
		{`SELECT STREAM id FROM s WHERE ts > ts - INTERVAL '1' MINUTE`, "INTERVAL is only read in a join's time bound"},
		{`SELECT STREAM a.id FROM s AS a JOIN t AS b ON a.id = b.id`, "t is not a reference table or an in-application stream"},
		{`SELECT STREAM s.id FROM s JOIN s ON s.id = s.id AND s.ROWTIME = s.ROWTIME`, "needs an alias for each side"},
	} {
		_, err := NewEngine(Config{SQL: tt.sql, Schema: eventSchema})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\nerror %v,\nwant one containing %q", tt.sql, err, tt.want)
		}
	}
}

// Two source streams (millrace sql --stream NAME=STREAM): the orders on
// the first, the shipments on a named one, give the rows of the pumps'
// split.
func TestJoinOfTwoSourceStreams(t *testing.T) {
	sql := `SELECT STREAM o.id, UNIX_MILLIS(s.ts) - UNIX_MILLIS(o.ts) AS waited FROM orders AS o JOIN SHIPS AS s
  ON o.id = s.id AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '5' SECOND`
	cfg := Config{SQL: sql, Schema: eventSchema, Sources: []Source{{Name: "SHIPS", Schema: eventSchema}}}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := joinRecords(600)
	var got []string
	for i, r := range recs {
		in := Input{Shard: r.shard, ID: fmt.Sprint(i), Arrival: r.arrival, Data: []byte(r.data)}
		if strings.Contains(r.data, `"ship"`) {
			in.Source, in.Shard = "ships", "ships/"+r.shard
		}
		res, _, err := e.Process(in)
		if err != nil {
			t.Fatal(err)
		}
		adv, err := e.Advance(time.UnixMilli(0))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines(append(res, adv...)) {
			got = append(got, "OUT"+l)
		}
	}
	fl, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines(fl) {
		got = append(got, "OUT"+l)
	}
	sort.Strings(got)
	if want := offlineJoin(recs, false); !reflect.DeepEqual(got, want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	if _, _, err := e.Process(Input{Source: "NOPE", Shard: "x", Data: []byte("{}")}); err == nil || !strings.Contains(err.Error(), "no source stream NOPE") {
		t.Fatalf("a record of an unknown source: %v", err)
	}
}

// A join's rows go on to a window downstream at their own ROWTIME: the
// orders without a shipment, emitted when the watermark passes them, are
// counted in the window of their arrival.
func TestLeftJoinFeedsAWindow(t *testing.T) {
	sql := splitSQL + `CREATE OR REPLACE PUMP "J" AS INSERT INTO "OUT"
SELECT STREAM o.id, UNIX_MILLIS(s.sts) - UNIX_MILLIS(o.ots) FROM "ORDERS" AS o LEFT JOIN "SHIPS" AS s
  ON o.id = s.id AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '5' SECOND;
CREATE OR REPLACE STREAM "LOST" (ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "C" AS INSERT INTO "LOST"
SELECT STREAM UNIX_MILLIS(STEP("OUT".ROWTIME BY INTERVAL '10' SECOND)), COUNT(*) FROM "OUT" WHERE waited IS NULL
  GROUP BY STEP("OUT".ROWTIME BY INTERVAL '10' SECOND);`
	recs := joinRecords(500)
	want := map[string]int{}
	for _, r := range recs {
		if !strings.Contains(r.data, `"order"`) {
			continue
		}
		var id int
		fmt.Sscanf(r.data[strings.Index(r.data, `"id":`)+5:], "%d", &id)
		matched := false
		for _, s := range recs {
			if strings.Contains(s.data, `"ship"`) && strings.Contains(s.data, fmt.Sprintf(`"id":%d,`, id)) && s.arrival >= r.arrival && s.arrival-r.arrival <= 5000 {
				matched = true
			}
		}
		if !matched {
			end := r.arrival + 5000 // a row without a match has the time its interval ends
			want[fmt.Sprintf("LOST|ws=%d,n=", end-mod(end, 10_000))]++
		}
	}
	var wantLines []string
	for k, n := range want {
		wantLines = append(wantLines, fmt.Sprint(k, n))
	}
	sort.Strings(wantLines)
	if len(wantLines) < 3 {
		t.Fatalf("only %d windows with lost orders", len(wantLines))
	}
	if got := only(runAll(t, Config{SQL: sql, Schema: eventSchema}, recs), "LOST|"); !reflect.DeepEqual(got, wantLines) {
		t.Fatalf("got %q, want %q", got, wantLines)
	}
}

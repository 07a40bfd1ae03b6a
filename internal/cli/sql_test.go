package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// The sql command's tumbling count per key equals the counts computed
// from the same records' arrival times, one row per key and window.
func TestSQLTumblingCount(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "clicks", 2)
	const n = 300
	keys, datas := keysAndData(n, func(i int) string { return "p" + strconv.Itoa(i%4) },
		func(i int) string { return fmt.Sprintf(`{"page":"p%d","ms":%d}`, i%4, i) })
	putRecords(t, c, "clicks", keys[:n/2], datas[:n/2])
	putRecords(t, c, "clicks", keys[n/2:], datas[n/2:])

	// The counts, offline, from the records read back.
	want := map[string]int{}
	for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
		it, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"), ShardId: aws.String(id), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			var row struct{ Page string }
			json.Unmarshal(r.Data, &row)
			ms := r.ApproximateArrivalTimestamp.UnixMilli()
			want[fmt.Sprintf("%s@%d", row.Page, ms-ms%1000)]++
		}
	}
	q := `SELECT STREAM page, UNIX_MILLIS(STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '1' SECOND)) AS ws, COUNT(*) AS n
FROM SOURCE_SQL_STREAM_001 GROUP BY page, STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '1' SECOND)`
	b := runBackground(t, "sql", "--endpoint", srv.URL, "--stream", "clicks", "--from", "trim-horizon",
		"--columns", "page VARCHAR(8), ms BIGINT", "--idle-grace", "200ms", "--max", strconv.Itoa(len(want)), q)
	if code := b.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, b.stderr.String())
	}
	got := map[string]int{}
	for _, l := range b.stdout.lines() {
		var row struct {
			Page string
			WS   int64
			N    int
		}
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		k := fmt.Sprintf("%s@%d", row.Page, row.WS)
		if _, dup := got[k]; dup {
			t.Errorf("window %s printed twice", k)
		}
		got[k] = row.N
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(got), len(want), b.stdout.lines())
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d", k, got[k], v)
		}
	}
}

func TestSQLUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sql", "SELECT 1"}, "--stream is required"},
		{[]string{"sql", "--stream", "s", "SELECT STREAM a FROM s"}, "--columns is required"},
		{[]string{"sql", "--stream", "s", "--columns", "a", "SELECT STREAM a FROM s"}, `"name TYPE [path]"`},
		{[]string{"sql", "--stream", "s", "--columns", "a WIBBLE", "SELECT STREAM a FROM s"}, "WIBBLE"},
		{[]string{"sql", "--stream", "s", "--columns", "a BIGINT", "SELECT STREAM COUNT(*) FROM s"}, "needs a window"},
	} {
		b := runBackground(t, tt.args...)
		if code := b.wait(t); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tt.args, code, b.stderr.String())
		}
		if !strings.Contains(b.stderr.String(), tt.want) {
			t.Errorf("%v: stderr %q, want %q in it", tt.args, b.stderr.String(), tt.want)
		}
	}
}

// The sql command runs Flink's window Top-N written with ROW_NUMBER():
// each window's two most clicked pages with their rank, as computed from
// the records read back.
func TestSQLWindowTopNRowNumber(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "clicks", 1)
	const n = 200
	keys, datas := keysAndData(n, func(i int) string { return "k" },
		func(i int) string { return fmt.Sprintf(`{"page":"p%d"}`, []int{0, 0, 0, 1, 1, 2, 3, 1, 0, 2}[i%10]) })
	putRecords(t, c, "clicks", keys, datas)

	it, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int64]map[string]int{}
	for _, r := range out.Records {
		var row struct{ Page string }
		json.Unmarshal(r.Data, &row)
		ms := r.ApproximateArrivalTimestamp.UnixMilli()
		if counts[ms-ms%1000] == nil {
			counts[ms-ms%1000] = map[string]int{}
		}
		counts[ms-ms%1000][row.Page]++
	}
	want := map[string]bool{}
	for w, pages := range counts {
		var ps []string
		for p := range pages {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool {
			if pages[ps[i]] != pages[ps[j]] {
				return pages[ps[i]] > pages[ps[j]]
			}
			return ps[i] < ps[j]
		})
		for i, p := range ps[:min(2, len(ps))] {
			want[fmt.Sprintf("%d %s %d %d", w, p, pages[p], i+1)] = true
		}
	}
	q := `SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY n DESC, page) AS rownum
  FROM (SELECT UNIX_MILLIS(window_start) AS ws, window_start, window_end, page, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE SOURCE_SQL_STREAM_001, DESCRIPTOR(ROWTIME), INTERVAL '1' SECOND))
        GROUP BY window_start, window_end, page)
) WHERE rownum <= 2`
	b := runBackground(t, "sql", "--endpoint", srv.URL, "--stream", "clicks", "--from", "trim-horizon",
		"--columns", "page VARCHAR(8)", "--idle-grace", "200ms", "--max", strconv.Itoa(len(want)), q)
	if code := b.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, b.stderr.String())
	}
	got := map[string]bool{}
	for _, l := range b.stdout.lines() {
		var row struct {
			WS     int64
			Page   string
			N      int
			Rownum int
		}
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got[fmt.Sprintf("%d %s %d %d", row.WS, row.Page, row.N, row.Rownum)] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

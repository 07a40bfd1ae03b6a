package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The sql command reads two streams and joins them within an hour:
// every shipment with the earlier orders of its id, each pair printed once.
func TestSQLJoinsTwoStreams(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "orders", 2)
	createStream(t, c, "shipments", 1)
	putRecords(t, c, "orders", []string{"1", "2", "3", "4", "5"},
		[][]byte{[]byte(`{"id":1}`), []byte(`{"id":2}`), []byte(`{"id":3}`), []byte(`{"id":4}`), []byte(`{"id":5}`)})
	putRecords(t, c, "shipments", []string{"a", "b", "c", "d"},
		[][]byte{[]byte(`{"id":2,"n":1}`), []byte(`{"id":4,"n":2}`), []byte(`{"id":4,"n":3}`), []byte(`{"id":9,"n":4}`)})
	q := `SELECT STREAM o.id, s.n FROM orders AS o JOIN SHIPS AS s
  ON o.id = s.id AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '1' HOUR`
	b := runBackground(t, "sql", "--endpoint", srv.URL, "--from", "trim-horizon", "--idle-grace", "200ms", "--max", "3",
		"--stream", "orders", "--columns", "id BIGINT",
		"--stream", "SHIPS=shipments", "--stream-columns", "SHIPS=id BIGINT, n BIGINT", q)
	if code := b.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, b.stderr.String())
	}
	var got []string
	for _, l := range b.stdout.lines() {
		var row struct{ ID, N int }
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%d/%d", row.ID, row.N))
	}
	sort.Strings(got)
	if want := []string{"2/1", "4/2", "4/3"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("printed %q, want %q", got, want)
	}
}

func TestSQLStreamUsageErrors(t *testing.T) {
	q := "SELECT STREAM a FROM s"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sql", "--stream", "B=b", "--stream-columns", "B=a BIGINT", "--columns", "a BIGINT", q}, "--stream is required"},
		{[]string{"sql", "--stream", "a", "--stream", "b", "--columns", "a BIGINT", q}, "name the second, --stream NAME=b"},
		{[]string{"sql", "--stream", "a", "--stream", "B=b", "--columns", "a BIGINT", q}, "stream B needs its columns: --stream-columns B="},
		{[]string{"sql", "--stream", "a", "--stream-columns", "B=a BIGINT", "--columns", "a BIGINT", q}, "--stream-columns names B"},
		{[]string{"sql", "--stream", "a", "--stream", "=b", "--columns", "a BIGINT", q}, "is not STREAM or NAME=STREAM"},
		{[]string{"sql", "--stream", "a", "--stream", "B=b", "--stream-columns", "B=x WIBBLE", "--columns", "a BIGINT", q}, "stream B: "},
		{[]string{"sql", "--stream", "a", "--stream", "B=b", "--stream-columns", "B=a BIGINT", "--columns", "a BIGINT",
			"SELECT STREAM s.a FROM s JOIN B ON s.a = B.a"}, "needs a time bound on both sides' event times"},
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

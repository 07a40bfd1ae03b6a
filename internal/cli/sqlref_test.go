package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The sql command joins the stream with reference tables read from local
// files, CSV and JSON.
func TestSQLReferenceJoin(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "trades", 1)
	keys, datas := keysAndData(4, func(i int) string { return "k" }, func(i int) string {
		return fmt.Sprintf(`{"ticker":%q,"n":%d}`, []string{"AMZN", "MSFT", "ORCL", "AMZN"}[i], i)
	})
	putRecords(t, c, "trades", keys, datas)
	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "companies.csv"), filepath.Join(dir, "sectors.json")
	if err := os.WriteFile(csvPath, []byte("AMZN,Amazon\nMSFT,Microsoft\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonPath, []byte(`{"t":"AMZN","s":"RETAIL"}`+"\n"+`{"t":"MSFT","s":"TECH"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref, cols string
		q         string
		want      []string
	}{
		{"COMPANIES=" + csvPath, "COMPANIES=ticker VARCHAR(8), name VARCHAR(32)",
			`SELECT STREAM s.n, c.name FROM SOURCE_SQL_STREAM_001 AS s LEFT JOIN COMPANIES AS c ON s.ticker = c.ticker`,
			[]string{`0 Amazon`, `1 Microsoft`, `2 <nil>`, `3 Amazon`}},
		{"SECTORS=" + jsonPath, "SECTORS=ticker VARCHAR(8) $.t, sector VARCHAR(8) $.s",
			`SELECT STREAM s.n, x.sector AS name FROM SOURCE_SQL_STREAM_001 AS s JOIN SECTORS AS x ON s.ticker = x.ticker`,
			[]string{`0 RETAIL`, `1 TECH`, `3 RETAIL`}},
	} {
		b := runBackground(t, "sql", "--endpoint", srv.URL, "--stream", "trades", "--from", "trim-horizon",
			"--columns", "ticker VARCHAR(8), n BIGINT", "--reference", tt.ref, "--reference-columns", tt.cols,
			"--max", fmt.Sprint(len(tt.want)), tt.q)
		if code := b.wait(t); code != 0 {
			t.Fatalf("exit %d: %s", code, b.stderr.String())
		}
		var got []string
		for _, l := range b.stdout.lines() {
			var row struct {
				N    int64
				Name any
			}
			if err := json.Unmarshal([]byte(l), &row); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			got = append(got, fmt.Sprint(row.N, " ", row.Name))
		}
		sort.Strings(got)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: rows %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestSQLReferenceUsageErrors(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(csvPath, []byte("a,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := `SELECT STREAM s.a FROM s JOIN T AS t ON s.a = t.a`
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--reference", "T"}, "is not NAME=PATH"},
		{[]string{"--reference", "T=" + csvPath}, "needs its columns"},
		{[]string{"--reference", "T=" + filepath.Join(dir, "none.csv"), "--reference-columns", "T=a VARCHAR(4)"}, "none.csv"},
		{[]string{"--reference-columns", "U=a VARCHAR(4)"}, "no --reference names"},
		{[]string{"--reference", "T=" + csvPath, "--reference-columns", "T=a VARCHAR(4) $.a"}, "CSV columns are taken in order"},
		{[]string{}, "T is not a reference table"},
	} {
		args := append(append([]string{"sql", "--stream", "s", "--columns", "a VARCHAR(4)"}, tt.args...), q)
		b := runBackground(t, args...)
		if code := b.wait(t); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tt.args, code, b.stderr.String())
		}
		if !strings.Contains(b.stderr.String(), tt.want) {
			t.Errorf("%v: stderr %q, want %q in it", tt.args, b.stderr.String(), tt.want)
		}
	}
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/millrace/millrace/internal/firehose/sink"
)

var tableSeq atomic.Int64

// newTable creates a table with a fresh name and returns its name and a
// connection for checking what was loaded.
func newTable(t *testing.T, columns string) (string, *pgx.Conn) {
	t.Helper()
	url := needServer(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	name := fmt.Sprintf("t_%s_%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")), tableSeq.Add(1))
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", name, columns)); err != nil {
		t.Fatal(err)
	}
	return name, conn
}

func batch(data ...string) *sink.Batch {
	b := &sink.Batch{ID: "batch-1", Stream: "s", Version: 1, FirstArrival: time.Now()}
	for i, d := range data {
		b.Records = append(b.Records, sink.Record{ID: fmt.Sprint(i), Data: []byte(d), Arrival: time.Now()})
	}
	return b
}

func newDest(t *testing.T, table, columns, options string) *Destination {
	t.Helper()
	d, err := New(Config{
		ClusterJDBCURL: "jdbc:" + strings.Replace(needServer(t), "postgres://postgres@", "postgresql://", 1),
		Username:       "postgres",
		CopyCommand:    CopyCommand{DataTableName: table, DataTableColumns: columns, CopyOptions: options},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// dump reads the table as text, one line per row ordered by the first
// column, NULL as "NULL".
func dump(t *testing.T, conn *pgx.Conn, table string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), fmt.Sprintf("SELECT * FROM %s ORDER BY 1", table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, v := range vals {
			switch v := v.(type) {
			case nil:
				fields = append(fields, "NULL")
			case pgtype.Numeric:
				f, err := v.Float64Value()
				if err != nil {
					t.Fatal(err)
				}
				fields = append(fields, fmt.Sprint(f.Float64))
			case time.Time:
				fields = append(fields, v.UTC().Format(time.RFC3339Nano))
			default:
				if s, ok := v.(fmt.Stringer); ok {
					fields = append(fields, s.String())
				} else {
					fields = append(fields, fmt.Sprint(v))
				}
			}
		}
		lines = append(lines, strings.Join(fields, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func deliver(t *testing.T, d *Destination, b *sink.Batch) sink.Result {
	t.Helper()
	res, err := d.Deliver(context.Background(), b)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	return res
}

func TestJSONAuto(t *testing.T) {
	table, conn := newTable(t, "id bigint, name text, ts timestamptz, ok boolean, attrs text, price numeric(10,2)")
	d := newDest(t, table, "", "json 'auto' gzip region 'us-east-1'")
	res := deliver(t, d, batch(
		`{"id":1,"name":"a \"quoted\", comma","ts":"2024-02-25T13:04:05Z","ok":true,"attrs":{"k":[1,2]},"price":12.5,"extra":"ignored"}`+"\n",
		`{"id":2,"NAME":"upper key is not name"}`+"\n"+`{"id":3,"name":null,"ok":false}`,
		`{"id":4,"name":"line\nbreak"}`,
	))
	if len(res.Rejected) != 0 || !strings.Contains(res.Location, "4 rows") {
		t.Errorf("result %+v", res)
	}
	want := strings.Join([]string{
		`1 | a "quoted", comma | 2024-02-25T13:04:05Z | true | {"k":[1,2]} | 12.5`,
		`2 | NULL | NULL | NULL | NULL | NULL`,
		`3 | NULL | NULL | false | NULL | NULL`,
		"4 | line\nbreak | NULL | NULL | NULL | NULL",
	}, "\n")
	if got := dump(t, conn, table); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONAutoIgnoreCaseAndColumns(t *testing.T) {
	table, conn := newTable(t, "id bigint, name text, note text default 'none'")
	d := newDest(t, table, "id, NAME", "format as json 'auto ignorecase'")
	deliver(t, d, batch(`{"ID":1,"Name":"x","note":"not loaded"}`))
	if got, want := dump(t, conn, table), "1 | x | none"; got != want {
		t.Errorf("table %q, want %q", got, want)
	}
}

func TestCSV(t *testing.T) {
	table, conn := newTable(t, "id int, name text, score double precision")
	d := newDest(t, table, "", "csv ignoreheader 1 delimiter ';'")
	deliver(t, d, batch(
		"id;name;score\n",
		"1;\"semi;colon\";1.5\n2;\"multi\nline\";\n",
		"3;\\N;2\n4;;\n",
	))
	want := "1 | semi;colon | 1.5\n2 | multi\nline | NULL\n3 | NULL | 2\n4 |  | NULL"
	if got := dump(t, conn, table); got != want {
		t.Errorf("table:\n%q\nwant:\n%q", got, want)
	}
}

func TestDelimited(t *testing.T) {
	table, conn := newTable(t, "id int, name text, n int")
	d := newDest(t, table, "", `delimiter '\t' escape fillrecord emptyasnull null as 'nil' lzop`)
	deliver(t, d, batch(
		"1\tTab\\\there\t7\n",
		"2\tnil\n3\t\t\n",
		"4\tback\\\\slash\t5", // no final newline: the record's last line still loads
	))
	want := "1 | Tab\there | 7\n2 | NULL | NULL\n3 | NULL | NULL\n4 | back\\slash | 5"
	if got := dump(t, conn, table); got != want {
		t.Errorf("table:\n%q\nwant:\n%q", got, want)
	}

	// Redshift's default: '|' between fields and \N for NULL.
	table2, conn2 := newTable(t, "id int, name text")
	d2 := newDest(t, table2, "", "")
	deliver(t, d2, batch("1|a\n2|\\N\n3|\n"))
	if got, want := dump(t, conn2, table2), "1 | a\n2 | NULL\n3 | "; got != want {
		t.Errorf("default format: table %q, want %q", got, want)
	}
}

func TestMaxErrorRejectsRecords(t *testing.T) {
	table, conn := newTable(t, "id int, name text")
	d := newDest(t, table, "", "json 'auto' maxerror 2")
	res := deliver(t, d, batch(`{"id":1}`, `not json`, `{"id":2}`, `[1]`))
	if len(res.Rejected) != 2 || res.Rejected[0].Index != 1 || res.Rejected[1].Index != 3 || res.Rejected[0].Code != RejectionCode {
		t.Errorf("rejected %+v", res.Rejected)
	}
	if got := dump(t, conn, table); got != "1 | NULL\n2 | NULL" {
		t.Errorf("table %q", got)
	}

	// Past MAXERROR (default 0) the batch fails and loads nothing.
	d0 := newDest(t, table, "", "json 'auto'")
	if _, err := d0.Deliver(context.Background(), batch(`{"id":5}`, `nope`)); err == nil || !strings.Contains(err.Error(), "MAXERROR 0") {
		t.Errorf("Deliver with a bad record and no MAXERROR: %v", err)
	}
	if got := dump(t, conn, table); got != "1 | NULL\n2 | NULL" {
		t.Errorf("after a failed batch the table is %q", got)
	}
}

func TestCopyFailureLoadsNothing(t *testing.T) {
	table, conn := newTable(t, "id int primary key, n int")
	d := newDest(t, table, "", "json 'auto'")
	deliver(t, d, batch(`{"id":1,"n":1}`))
	// A value PostgreSQL refuses fails the whole COPY: one transaction.
	_, err := d.Deliver(context.Background(), batch(`{"id":2,"n":2}`, `{"id":3,"n":"three"}`))
	if err == nil || !strings.Contains(err.Error(), "COPY into") {
		t.Fatalf("Deliver: %v, want a COPY error", err)
	}
	if got := dump(t, conn, table); got != "1 | 1" {
		t.Errorf("table %q after a failed COPY", got)
	}
	// The same batch again after fixing nothing still fails the same way;
	// a good batch loads.
	deliver(t, d, batch(`{"id":2,"n":2}`))
	if got := dump(t, conn, table); got != "1 | 1\n2 | 2" {
		t.Errorf("table %q", got)
	}
}

func TestMissingTableAndColumn(t *testing.T) {
	table, _ := newTable(t, "id int")
	d := newDest(t, "no_such_table", "", "")
	if _, err := d.Deliver(context.Background(), batch("1\n")); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("missing table: %v", err)
	}
	d = newDest(t, table, "id, nope", "")
	if _, err := d.Deliver(context.Background(), batch("1|2\n")); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing column: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"scheme":       {Config{ClusterJDBCURL: "jdbc:mysql://h/db", CopyCommand: CopyCommand{DataTableName: "t"}}, "scheme"},
		"table":        {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "a.b.c"}}, "DataTableName"},
		"bad name":     {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t; drop"}}, "not a valid identifier"},
		"columns":      {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", DataTableColumns: "a,,b"}}, "DataTableColumns"},
		"jsonpaths":    {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "json 's3://b/paths.json'"}}, "JSONPaths"},
		"avro":         {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "format as avro 'auto'"}}, "AVRO"},
		"unknown":      {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "frobnicate"}}, "FROBNICATE"},
		"dateformat":   {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "dateformat 'MM-DD-YYYY'"}}, "only 'auto'"},
		"quote":        {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "csv quote as '%'"}}, "QUOTE"},
		"json+delim":   {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "json 'auto' delimiter ','"}}, "cannot be combined"},
		"unterminated": {Config{ClusterJDBCURL: "jdbc:redshift://h:5439/db", CopyCommand: CopyCommand{DataTableName: "t", CopyOptions: "delimiter '|"}}, "unterminated"},
	} {
		_, err := New(tc.cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidConfig saying %q", name, err, tc.want)
		}
	}
}

func TestConnString(t *testing.T) {
	for in, want := range map[string]string{
		"jdbc:redshift://c.abc.us-east-1.redshift.amazonaws.com:5439/dev": "postgres://u:p@c.abc.us-east-1.redshift.amazonaws.com:5439/dev",
		"jdbc:postgresql://127.0.0.1:5432/db?ssl=true&tcpKeepAlive=true":  "postgres://u:p@127.0.0.1:5432/db?sslmode=require",
		"postgres://127.0.0.1/db?sslmode=disable":                         "postgres://u:p@127.0.0.1/db?sslmode=disable",
	} {
		got, err := connString(Config{ClusterJDBCURL: in, Username: "u", Password: "p"})
		if err != nil || got != want {
			t.Errorf("connString(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

package postgres

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// FuzzConvert: any record under any of the input formats either is
// rejected or becomes CSV rows that encoding/csv reads back with one field
// per column; it never panics.
func FuzzConvert(f *testing.F) {
	options := []string{"", "json 'auto'", "json 'auto ignorecase'", "csv ignoreheader 1", `delimiter '\t' escape removequotes fillrecord`, "csv delimiter ';' blanksasnull trimblanks", "emptyasnull null as 'nil' ignoreblanklines"}
	for i := range options {
		f.Add(uint8(i), []byte("1|a\n2|\\N\n"))
		f.Add(uint8(i), []byte(`{"id":1,"name":"x"}{"ID":2}`))
		f.Add(uint8(i), []byte("\"q\",\"a\"\"b\"\n\n3\t\"x\ty\"\\\n"))
	}
	cols := []column{{"id", false}, {"name", true}, {"n", false}}
	f.Fuzz(func(t *testing.T, opt uint8, data []byte) {
		o, err := parseCopyOptions(options[int(opt)%len(options)])
		if err != nil {
			t.Fatal(err)
		}
		body, rows, bad := newConverter(o, cols).convert([]sink.Record{{Data: data}})
		if len(bad) > 0 {
			if rows != 0 || len(body) != 0 || bad[0].Message == "" {
				t.Fatalf("rejected record still wrote %d rows / %q", rows, body)
			}
			return
		}
		r := csv.NewReader(bytes.NewReader(body))
		r.FieldsPerRecord = len(cols)
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("output is not CSV with %d fields: %v\n%q", len(cols), err, body)
		}
		if len(recs) != rows {
			t.Fatalf("%d CSV rows, reported %d", len(recs), rows)
		}
	})
}

// FuzzParseCopyOptions: the option parser never panics.
func FuzzParseCopyOptions(f *testing.F) {
	for _, s := range []string{"json 'auto'", `delimiter '\t' lzop;`, "csv quote as '\"' ignoreheader as 1 maxerror 10", "null as '\\N' region 'us-east-1'", "'", "format as json 'auto ignorecase'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseCopyOptions(s)
		if err == nil && o.format != formatJSON && o.delimiter == 0 {
			t.Fatalf("%q: no delimiter", s)
		}
	})
}

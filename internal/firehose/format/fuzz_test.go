package format

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// FuzzJSONToRow feeds arbitrary records to the converter: it must never
// panic, must either reject a record or write it, and what it writes must
// read back as a valid file with one row per object of the accepted
// records.
func FuzzJSONToRow(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"name":"a","tags":["x",null],"attrs":{"k":1.5},"u":{"a":1,"b":[{"c":"2024-01-01 00:00:00"}]},"p":"12.5","ts":1700000000,"d":"2024-02-29","ok":true}`,
		`{"ID":"7","Name":{"nested":true},"tags":[],"attrs":{},"u":null}{"id":2}`,
		`{"p":1e40}`, `{"ts":"2024-02-25T13:04:05.123+01:00"}`, `[]`, `"s"`, `{"a.b":1}`, `{`, ``,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	columns := []Column{
		{"id", "bigint"}, {"name", "string"}, {"tags", "array<string>"}, {"attrs", "map<string,double>"},
		{"u", "struct<a:int,b:array<struct<c:timestamp>>>"}, {"p", "decimal(20,4)"}, {"ts", "timestamp"},
		{"d", "date"}, {"ok", "boolean"}, {"small", "decimal(6,2)"}, {"a_b", "tinyint"},
	}
	openx := parquetConfig(columns...)
	openx.InputFormatConfiguration.Deserializer.OpenXJsonSerDe = &OpenXJsonSerDe{ConvertDotsInJsonKeysToUnderscores: ptr(true)}
	hive := parquetConfig(columns...)
	hive.InputFormatConfiguration.Deserializer.HiveJsonSerDe = &HiveJsonSerDe{TimestampFormats: []string{"millis", "yyyy-MM-dd'T'HH:mm:ssZZ"}}
	po, err := New(openx)
	if err != nil {
		f.Fatal(err)
	}
	ph, err := New(hive)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, useHive bool) {
		p := po
		if useHive {
			p = ph
		}
		recs := []sink.Record{{ID: "0", Data: data}, {ID: "1", Data: []byte(`{"id":1}`)}}
		body, failed, err := p.Encode(recs)
		if err != nil {
			t.Fatalf("Encode error (should be a rejection or nothing): %v", err)
		}
		if len(failed) > 1 || len(failed) == 1 && (failed[0].Index != 0 || failed[0].Message == "") {
			t.Fatalf("rejections %+v", failed)
		}
		want := int64(1)
		if len(failed) == 0 {
			objs, err := decodeRecord(data)
			if err != nil {
				t.Fatalf("accepted a record that does not decode: %v", err)
			}
			want += int64(len(objs))
		}
		pf, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("written file does not open: %v", err)
		}
		if pf.NumRows() != want {
			t.Fatalf("%d rows, want %d", pf.NumRows(), want)
		}
		r := parquet.NewReader(pf)
		defer r.Close()
		for i := int64(0); i < want; i++ {
			row := map[string]any{}
			if err := r.Read(&row); err != nil {
				t.Fatalf("row %d does not read back: %v", i, err)
			}
		}
	})
}

// FuzzParseType: the Hive type parser never panics, and what it accepts
// makes a schema parquet-go builds.
func FuzzParseType(f *testing.F) {
	for _, s := range []string{"int", "array<struct<a:int,`b c`:map<string,array<decimal(38,10)>>>>", "decimal", "varchar(10)", "map<int,", "struct<>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1000 {
			return
		}
		ht, err := parseType(s)
		if err != nil {
			return
		}
		if _, _, err := buildNodes([]*node{newNode("c", ht)}); err != nil {
			t.Fatalf("type %q parsed but builds no schema: %v", s, err)
		}
	})
}

package format

import (
	"testing"

	"github.com/parquet-go/parquet-go"
)

// FuzzJSONToRow feeds arbitrary records to the JSON-to-row conversion: it
// must never panic, must either reject a record or convert every object
// in it, and each row must be well formed for the schema (every leaf
// column present, in order, with levels within the column's maxima) and
// reassemble with parquet-go. Writing whole files is left to the unit and
// interop tests, which are too slow per input for a fuzz budget.
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
		sh := &shredder{d: p.d, columns: make([][]parquet.Value, p.columnCount)}
		var rows []parquet.Row
		var buf parquet.Row
		err := p.recordRows(data, sh, &rows, &buf)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("rejection without a message")
			}
			return
		}
		objs, derr := decodeRecord(data)
		if derr != nil || len(objs) != len(rows) {
			t.Fatalf("%d rows from a record of %d objects (%v)", len(rows), len(objs), derr)
		}
		leaves := p.schema.Columns()
		for _, row := range rows {
			last := -1
			for _, v := range row {
				c := v.Column()
				if c < last || c >= len(leaves) {
					t.Fatalf("value of column %d after column %d", c, last)
				}
				if c != last && v.RepetitionLevel() != 0 {
					t.Fatalf("column %d starts with repetition level %d", c, v.RepetitionLevel())
				}
				leaf, _ := p.schema.Lookup(leaves[c]...)
				if v.RepetitionLevel() > leaf.MaxRepetitionLevel || v.DefinitionLevel() > leaf.MaxDefinitionLevel {
					t.Fatalf("column %d levels %d/%d above %d/%d", c, v.RepetitionLevel(), v.DefinitionLevel(), leaf.MaxRepetitionLevel, leaf.MaxDefinitionLevel)
				}
				if v.IsNull() != (v.DefinitionLevel() < leaf.MaxDefinitionLevel) {
					t.Fatalf("column %d: null %v at definition level %d of %d", c, v.IsNull(), v.DefinitionLevel(), leaf.MaxDefinitionLevel)
				}
				last = c
			}
			if last != len(leaves)-1 {
				t.Fatalf("row ends at column %d of %d", last, len(leaves))
			}
			out := map[string]any{}
			if err := p.schema.Reconstruct(&out, row); err != nil {
				t.Fatalf("row does not reassemble: %v", err)
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

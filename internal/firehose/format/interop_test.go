package format

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The interop fixtures are Parquet files this package writes, with the
// rows an independent reader must see in them. tests/parquet-read/check.mjs
// reads them with hyparquet (npm, pinned) in CI; TestInteropFixtures keeps
// them what the encoder writes today. Rewrite them with
//
//	go test ./internal/firehose/format -run TestInteropFixtures -update
var update = flag.Bool("update", false, "rewrite testdata/interop")

// interopFixture: the expected rows use one canonical JSON form for every
// reader: bigint as a decimal string, decimal as a number, timestamp and
// date as ISO 8601 UTC with milliseconds, map as an object. An empty JSON
// array is an empty list, not null (parquet-go's generic reader shows both
// as nil; hyparquet tells them apart).
type interopFixture struct {
	name    string
	serde   ParquetSerDe
	records []string
	want    string
}

var interopColumns = []Column{
	{"id", "bigint"}, {"name", "string"}, {"score", "double"}, {"ratio", "float"}, {"count", "int"},
	{"flag", "boolean"}, {"ts", "timestamp"}, {"day", "date"}, {"price", "decimal(10,2)"},
	{"big", "decimal(30,3)"}, {"tags", "array<string>"}, {"attrs", "map<string,bigint>"},
	{"user", "struct<name:string,age:int,langs:array<string>>"},
}

var interopRecords = []string{
	`{"id":9007199254740993,"name":"héllo","score":1.5,"ratio":0.25,"count":-7,"flag":true,"ts":"2024-02-25T13:04:05.123Z","day":"2024-02-25","price":"12.345","big":"-123456789012345678901.5","tags":["a",null,"c"],"attrs":{"x":1,"y":-2},"user":{"name":"Ann","age":30,"langs":["go","sql"]}}`,
	`{"id":2,"name":null,"tags":[],"user":{"name":"Bob"}}{"id":3,"count":2147483647,"ts":1708866245}`,
}

const interopWant = `[
 {"id":"9007199254740993","name":"héllo","score":1.5,"ratio":0.25,"count":-7,"flag":true,"ts":"2024-02-25T13:04:05.123Z","day":"2024-02-25T00:00:00.000Z","price":12.35,"big":-123456789012345678901.5,"tags":["a",null,"c"],"attrs":{"x":"1","y":"-2"},"user":{"age":30,"langs":["go","sql"],"name":"Ann"}},
 {"id":"2","name":null,"score":null,"ratio":null,"count":null,"flag":null,"ts":null,"day":null,"price":null,"big":null,"tags":[],"attrs":null,"user":{"age":null,"langs":null,"name":"Bob"}},
 {"id":"3","name":null,"score":null,"ratio":null,"count":2147483647,"flag":null,"ts":"2024-02-25T13:04:05.000Z","day":null,"price":null,"big":null,"tags":null,"attrs":null,"user":null}
]`

func interopFixtures() []interopFixture {
	return []interopFixture{
		{name: "snappy-v1", serde: ParquetSerDe{}, records: interopRecords, want: interopWant},
		{name: "gzip-v2-dictionary", serde: ParquetSerDe{Compression: "GZIP", WriterVersion: "V2", EnableDictionaryCompression: ptr(true)}, records: interopRecords, want: interopWant},
		{name: "uncompressed", serde: ParquetSerDe{Compression: "UNCOMPRESSED"}, records: interopRecords, want: interopWant},
	}
}

func TestInteropFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "interop")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, fx := range interopFixtures() {
		cfg := parquetConfig(interopColumns...)
		serde := fx.serde
		cfg.OutputFormatConfiguration.Serializer.ParquetSerDe = &serde
		p := mustNew(t, cfg)
		body, failed, err := p.Encode(records(fx.records...))
		if err != nil || len(failed) > 0 {
			t.Fatalf("%s: Encode: %v, failed %v", fx.name, err, failed)
		}
		var want []any
		if err := json.Unmarshal([]byte(fx.want), &want); err != nil {
			t.Fatalf("%s: expected rows: %v", fx.name, err)
		}
		if got := len(readRows(t, body)); got != len(want) {
			t.Fatalf("%s: parquet-go reads %d rows, want %d", fx.name, got, len(want))
		}
		if serde.EnableDictionaryCompression != nil && *serde.EnableDictionaryCompression {
			if !hasDictionaryPage(t, body) {
				t.Errorf("%s: EnableDictionaryCompression wrote no dictionary page", fx.name)
			}
		} else if hasDictionaryPage(t, body) {
			t.Errorf("%s: dictionary pages without EnableDictionaryCompression", fx.name)
		}
		wantJSON, _ := json.MarshalIndent(want, "", " ")
		pq, js := filepath.Join(dir, fx.name+".parquet"), filepath.Join(dir, fx.name+".json")
		if *update {
			if err := os.WriteFile(pq, body, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(js, append(wantJSON, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(pq)
		if err != nil {
			t.Fatalf("%v (run with -update to write the fixtures)", err)
		}
		if !bytes.Equal(old, body) {
			t.Errorf("%s: the encoder now writes different bytes than %s; rerun with -update, and CI's hyparquet check reads the new file", fx.name, pq)
		}
		oldJSON, err := os.ReadFile(js)
		if err != nil || !bytes.Equal(bytes.TrimSpace(oldJSON), wantJSON) {
			t.Errorf("%s: %s differs from the expected rows; rerun with -update", fx.name, js)
		}
	}
}

func hasDictionaryPage(t *testing.T, body []byte) bool {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.DictionaryPageOffset != 0 {
				return true
			}
		}
	}
	return false
}

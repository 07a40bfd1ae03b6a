package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/millrace/millrace/internal/firehose/sink"
)

func parquetConfig(columns ...Column) Config {
	return Config{
		Columns:                   columns,
		OutputFormatConfiguration: OutputFormatConfiguration{Serializer: Serializer{ParquetSerDe: &ParquetSerDe{}}},
	}
}

func records(data ...string) []sink.Record {
	out := make([]sink.Record, len(data))
	for i, d := range data {
		out[i] = sink.Record{ID: fmt.Sprint(i), Data: []byte(d), Arrival: time.Unix(1700000000, 0)}
	}
	return out
}

// readRows reads a Parquet file back with parquet-go's generic reader.
func readRows(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	r := parquet.NewReader(f)
	defer r.Close()
	var out []map[string]any
	for {
		row := map[string]any{}
		err := r.Read(&row)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read parquet row %d: %v", len(out), err)
		}
		out = append(out, row)
	}
}

func mustNew(t *testing.T, cfg Config) *Parquet {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParquetScalars(t *testing.T) {
	p := mustNew(t, parquetConfig(
		Column{"s", "string"}, Column{"i", "int"}, Column{"b", "bigint"}, Column{"d", "double"},
		Column{"f", "float"}, Column{"ok", "boolean"}, Column{"ts", "timestamp"}, Column{"day", "date"},
		Column{"price", "decimal(10,2)"}, Column{"small", "decimal(5,1)"}, Column{"t", "tinyint"}, Column{"sm", "smallint"},
	))
	body, failed, err := p.Encode(records(
		`{"s":"hello","i":42,"b":9007199254740993,"d":1.5,"f":2.25,"ok":true,"ts":"2024-02-25T13:04:05.123Z","day":"2024-02-25","price":12.345,"small":"-3.25","t":-128,"sm":300}`,
		`{"S":"upper key","I":"7","ok":"FALSE","ts":1708866245,"price":0}`,
		`{"ts":1708866245123,"d":null}`,
	))
	if err != nil || len(failed) != 0 {
		t.Fatalf("Encode: %v, failed %v", err, failed)
	}
	rows := readRows(t, body)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	r := rows[0]
	want := map[string]any{
		"s": "hello", "i": int32(42), "b": int64(9007199254740993), "d": 1.5, "f": float32(2.25), "ok": true,
		"t": int32(-128), "sm": int32(300),
	}
	for k, v := range want {
		if !reflect.DeepEqual(r[k], v) {
			t.Errorf("row 0 %s = %#v (%T), want %#v", k, r[k], r[k], v)
		}
	}
	if got := r["ts"]; !timeIs(got, time.Date(2024, 2, 25, 13, 4, 5, 123e6, time.UTC)) {
		t.Errorf("row 0 ts = %#v", got)
	}
	if got := r["day"]; !timeIs(got, time.Date(2024, 2, 25, 0, 0, 0, 0, time.UTC)) && got != int32(19778) {
		t.Errorf("row 0 day = %#v (%T)", got, got)
	}
	// parquet-go reads decimals back as floating point.
	if got := fmt.Sprint(r["price"]); got != "12.35" { // 12.345 rounds half up
		t.Errorf("row 0 price = %s, want 12.35", got)
	}
	if got := fmt.Sprint(r["small"]); got != "-3.3" { // -3.25 rounds away from zero
		t.Errorf("row 0 small = %s, want -3.3", got)
	}
	r = rows[1]
	if r["s"] != "upper key" || r["i"] != int32(7) || r["ok"] != false || fmt.Sprint(r["price"]) != "0" {
		t.Errorf("row 1 = %#v", r)
	}
	if !timeIs(r["ts"], time.Unix(1708866245, 0)) {
		t.Errorf("row 1 ts (epoch seconds) = %#v", r["ts"])
	}
	if r["b"] != nil || r["d"] != nil {
		t.Errorf("row 1 missing columns are not null: b=%#v d=%#v", r["b"], r["d"])
	}
	if !timeIs(rows[2]["ts"], time.UnixMilli(1708866245123)) {
		t.Errorf("row 2 ts (epoch ms) = %#v", rows[2]["ts"])
	}
}

func timeIs(v any, want time.Time) bool {
	switch v := v.(type) {
	case time.Time:
		return v.Equal(want)
	case int64:
		return v == want.UnixMilli()
	}
	return false
}

func TestParquetNested(t *testing.T) {
	p := mustNew(t, parquetConfig(
		Column{"id", "bigint"},
		Column{"tags", "array<string>"},
		Column{"attrs", "map<string,int>"},
		Column{"user", "struct<name:string,age:int,emails:array<string>>"},
		Column{"points", "array<struct<x:double,y:double>>"},
	))
	body, failed, err := p.Encode(records(
		`{"id":1,"tags":["a",null,"c"],"attrs":{"k1":1,"k2":2},"user":{"Name":"Ann","age":30,"emails":["a@x"]},"points":[{"x":1,"y":2},{"x":3}]}`,
		`{"id":2,"tags":[],"attrs":{},"user":null}`,
		`{"id":3}`,
	))
	if err != nil || len(failed) != 0 {
		t.Fatalf("Encode: %v, failed %v", err, failed)
	}
	rows := readRows(t, body)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	got, _ := json.Marshal(rows[0])
	for _, want := range []string{`"tags":["a",null,"c"]`, `"name":"Ann"`, `"age":30`, `"emails":["a@x"]`, `"x":3`, `"k2":2`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("row 0 %s lacks %s", got, want)
		}
	}
	if rows[2]["id"] != int64(3) {
		t.Errorf("row 2 = %#v", rows[2])
	}
}

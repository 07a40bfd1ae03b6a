package format

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

func ptr[T any](v T) *T { return &v }

func TestOpenXOptions(t *testing.T) {
	cfg := parquetConfig(Column{"a_b", "string"}, Column{"ts", "string"}, Column{"name", "string"})
	cfg.InputFormatConfiguration.Deserializer.OpenXJsonSerDe = &OpenXJsonSerDe{
		ConvertDotsInJsonKeysToUnderscores: ptr(true),
		ColumnToJsonKeyMappings:            map[string]string{"ts": "timestamp"},
	}
	p := mustNew(t, cfg)
	body, failed, err := p.Encode(records(`{"a.b":"dots","timestamp":"then","ts":"not this","NAME":"folded"}`))
	if err != nil || len(failed) != 0 {
		t.Fatalf("Encode: %v, failed %v", err, failed)
	}
	row := readRows(t, body)[0]
	if row["a_b"] != "dots" || row["ts"] != "then" || row["name"] != "folded" {
		t.Errorf("row = %#v", row)
	}

	// CaseInsensitive false: "NAME" no longer fills "name"; no dot
	// conversion: "a.b" fills nothing.
	cfg.InputFormatConfiguration.Deserializer.OpenXJsonSerDe = &OpenXJsonSerDe{CaseInsensitive: ptr(false)}
	p = mustNew(t, cfg)
	body, _, err = p.Encode(records(`{"a.b":"dots","NAME":"upper","ts":"own"}`))
	if err != nil {
		t.Fatal(err)
	}
	row = readRows(t, body)[0]
	if row["a_b"] != nil || row["name"] != nil || row["ts"] != "own" {
		t.Errorf("case-sensitive row = %#v", row)
	}
}

func TestOpenXLeniency(t *testing.T) {
	p := mustNew(t, parquetConfig(Column{"n", "int"}, Column{"s", "string"}, Column{"d", "double"}))
	body, failed, err := p.Encode(records(`{"n":"12","s":{"k":[1,true]},"d":"2.5"}`, `{"n":3.0,"s":17,"d":1e3}`))
	if err != nil || len(failed) != 0 {
		t.Fatalf("Encode: %v, failed %v", err, failed)
	}
	rows := readRows(t, body)
	if rows[0]["n"] != int32(12) || rows[0]["s"] != `{"k":[1,true]}` || rows[0]["d"] != 2.5 {
		t.Errorf("row 0 = %#v", rows[0])
	}
	if rows[1]["n"] != int32(3) || rows[1]["s"] != "17" || rows[1]["d"] != 1000.0 {
		t.Errorf("row 1 = %#v", rows[1])
	}
}

func TestHiveJsonSerDe(t *testing.T) {
	cfg := parquetConfig(Column{"n", "int"}, Column{"ts", "timestamp"})
	cfg.InputFormatConfiguration.Deserializer.HiveJsonSerDe = &HiveJsonSerDe{
		TimestampFormats: []string{"yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "dd/MM/yyyy HH:mm", "millis"},
	}
	p := mustNew(t, cfg)
	body, failed, err := p.Encode(records(
		`{"n":1,"ts":"2024-02-25T13:04:05.250+02:00"}`,
		`{"n":2,"ts":"25/02/2024 13:04"}`,
		`{"n":3,"ts":1708866245123}`,
		`{"n":4,"ts":"2024-2-5 01:02:03.5"}`,
		`{"n":"5"}`,                // Hive refuses a string for a number
		`{"n":6,"ts":"yesterday"}`, // matches no format
		`{"n.x":7}`,                // Hive refuses dots in keys
	))
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, f := range failed {
		idx = append(idx, f.Index)
		if f.Code != RejectionCode || f.Message == "" {
			t.Errorf("rejection %+v", f)
		}
	}
	if len(idx) != 3 || idx[0] != 4 || idx[1] != 5 || idx[2] != 6 {
		t.Fatalf("rejected %v (%v), want records 4, 5, 6", idx, failed)
	}
	rows := readRows(t, body)
	want := []time.Time{
		time.Date(2024, 2, 25, 11, 4, 5, 250e6, time.UTC),
		time.Date(2024, 2, 25, 13, 4, 0, 0, time.UTC),
		time.UnixMilli(1708866245123),
		time.Date(2024, 2, 5, 1, 2, 3, 500e6, time.UTC),
	}
	for i, w := range want {
		if !timeIs(rows[i]["ts"], w) {
			t.Errorf("row %d ts = %#v, want %v", i, rows[i]["ts"], w)
		}
	}
}

func TestRejections(t *testing.T) {
	p := mustNew(t, parquetConfig(Column{"n", "int"}, Column{"tags", "array<string>"}, Column{"u", "struct<a:int>"}, Column{"p", "decimal(4,2)"}))
	body, failed, err := p.Encode(records(
		`{"n":1}`,
		`not json`,
		`[1,2]`,
		`{"n":1}{"n":"x"}`, // the second object does not fit: the whole record fails
		`{"n":2147483648}`,
		`{"tags":"a"}`,
		`{"u":{"a":[1]}}`,
		`{"p":100.5}`,
		``,
		`{"n":2}  {"n":3}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[int]string{}
	for _, f := range failed {
		msgs[f.Index] = f.Message
	}
	for i, want := range map[int]string{1: "not JSON", 2: "array, not an object", 3: "column n", 4: "32-bit", 5: "column tags", 6: "column u.a", 7: "more than 4 digits", 8: "no JSON object"} {
		if !strings.Contains(msgs[i], want) {
			t.Errorf("record %d: rejection %q, want it to say %q", i, msgs[i], want)
		}
	}
	if len(failed) != 8 {
		t.Errorf("%d rejections, want 8: %v", len(failed), failed)
	}
	rows := readRows(t, body)
	if len(rows) != 3 || rows[0]["n"] != int32(1) || rows[1]["n"] != int32(2) || rows[2]["n"] != int32(3) {
		t.Errorf("rows = %v", rows)
	}

	// Nothing converts: no body, every record rejected.
	body, failed, err = p.Encode(records(`x`, `y`))
	if err != nil || body != nil || len(failed) != 2 {
		t.Errorf("all bad: body %d bytes, %d rejections, err %v", len(body), len(failed), err)
	}
}

func TestParquetSerDeOptions(t *testing.T) {
	for _, tc := range []struct {
		compression string
		version     string
		codec       format.CompressionCodec
		pageType    format.PageType
	}{
		{"", "", format.Snappy, format.DataPage},
		{"GZIP", "V1", format.Gzip, format.DataPage},
		{"UNCOMPRESSED", "V2", format.Uncompressed, format.DataPageV2},
	} {
		cfg := parquetConfig(Column{"s", "string"})
		cfg.OutputFormatConfiguration.Serializer.ParquetSerDe = &ParquetSerDe{Compression: tc.compression, WriterVersion: tc.version, PageSizeBytes: ptr[int32](64 << 10)}
		p := mustNew(t, cfg)
		body, _, err := p.Encode(records(`{"s":"a"}`, `{"s":"b"}`))
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		md := f.Metadata()
		if got := md.RowGroups[0].Columns[0].MetaData.Codec; got != tc.codec {
			t.Errorf("Compression %q: codec %v, want %v", tc.compression, got, tc.codec)
		}
		// The page header's type shows the writer version.
		if got := pageTypeOf(t, body, md); got != tc.pageType {
			t.Errorf("WriterVersion %q: page type %v, want %v", tc.version, got, tc.pageType)
		}
	}
}

// pageTypeOf decodes the first data page header of the first column.
func pageTypeOf(t *testing.T, body []byte, md *format.FileMetaData) format.PageType {
	t.Helper()
	off := md.RowGroups[0].Columns[0].MetaData.DataPageOffset
	var h format.PageHeader
	r := new(thrift.CompactProtocol).NewReader(bytes.NewReader(body[off:]))
	if err := thrift.NewDecoder(r).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Type
}

func TestConfigErrors(t *testing.T) {
	good := func() Config { return parquetConfig(Column{"a", "int"}) }
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no columns":    {func(c *Config) { c.Columns = nil }, "no columns"},
		"bad type":      {func(c *Config) { c.Columns[0].Type = "int64" }, `unsupported type "int64"`},
		"unclosed":      {func(c *Config) { c.Columns[0].Type = "array<int" }, `expected ">"`},
		"decimal":       {func(c *Config) { c.Columns[0].Type = "decimal(40,2)" }, "precision 40"},
		"duplicate":     {func(c *Config) { c.Columns = append(c.Columns, Column{"A", "string"}) }, "appears twice"},
		"no serializer": {func(c *Config) { c.OutputFormatConfiguration.Serializer.ParquetSerDe = nil }, "must name ParquetSerDe"},
		"block size": {func(c *Config) {
			c.OutputFormatConfiguration.Serializer.ParquetSerDe.BlockSizeBytes = ptr[int32](1 << 20)
		}, "BlockSizeBytes"},
		"page size":      {func(c *Config) { c.OutputFormatConfiguration.Serializer.ParquetSerDe.PageSizeBytes = ptr[int32](1024) }, "PageSizeBytes"},
		"compression":    {func(c *Config) { c.OutputFormatConfiguration.Serializer.ParquetSerDe.Compression = "LZO" }, "Compression"},
		"writer version": {func(c *Config) { c.OutputFormatConfiguration.Serializer.ParquetSerDe.WriterVersion = "V3" }, "WriterVersion"},
		"both serdes": {func(c *Config) {
			c.InputFormatConfiguration.Deserializer = Deserializer{&OpenXJsonSerDe{}, &HiveJsonSerDe{}}
		}, "both"},
		"mapping": {func(c *Config) {
			c.InputFormatConfiguration.Deserializer.OpenXJsonSerDe = &OpenXJsonSerDe{ColumnToJsonKeyMappings: map[string]string{"zz": "k"}}
		}, `column "zz"`},
		"joda": {func(c *Config) {
			c.InputFormatConfiguration.Deserializer.HiveJsonSerDe = &HiveJsonSerDe{TimestampFormats: []string{"yyyy-QQ"}}
		}, "not supported"},
	} {
		c := good()
		tc.mod(&c)
		_, err := New(c)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalidConfig saying %q", name, err, tc.want)
		}
	}
	c := good()
	c.OutputFormatConfiguration.Serializer = Serializer{OrcSerDe: &OrcSerDe{}}
	if _, err := New(c); !errors.Is(err, ErrORCUnsupported) {
		t.Errorf("OrcSerDe: %v, want ErrORCUnsupported", err)
	}
}

func TestRowGroupsFollowBlockSize(t *testing.T) {
	p := mustNew(t, parquetConfig(Column{"s", "string"}))
	p.blockSize = 64 << 10 // below the API's minimum, to see several row groups cheaply
	var data []string
	for i := 0; i < 3000; i++ {
		data = append(data, `{"s":"`+strings.Repeat("x", 100)+`"}`)
	}
	body, _, err := p.Encode(records(data...))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.RowGroups()); n < 2 {
		t.Errorf("%d row groups for ~300 KB of rows with 64 KiB blocks, want several", n)
	}
	if f.NumRows() != 3000 {
		t.Errorf("%d rows, want 3000", f.NumRows())
	}
}

func TestTypeDepthLimit(t *testing.T) {
	deep := strings.Repeat("array<", 65) + "int" + strings.Repeat(">", 65)
	if _, err := New(parquetConfig(Column{"a", deep})); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "nest more than 64") {
		t.Errorf("65 nested arrays: %v", err)
	}
	ok := strings.Repeat("array<", 60) + "int" + strings.Repeat(">", 60)
	p := mustNew(t, parquetConfig(Column{"a", ok}))
	body, failed, err := p.Encode(records(`{"a":` + strings.Repeat("[", 60) + "7" + strings.Repeat("]", 60) + `}`))
	if err != nil || len(failed) != 0 || len(readRows(t, body)) != 1 {
		t.Errorf("60 nested arrays: %v %v", err, failed)
	}
}

package s3

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"

	"github.com/millrace/millrace/internal/firehose/sink"
)

func TestPrefixEval(t *testing.T) {
	at := time.Date(2019, 8, 9, 20, 55, 9, 123e6, time.UTC)
	cases := []struct {
		prefix, want string
		keys         map[string]string
	}{
		{"", "2019/08/09/20/", nil},
		{"logs/", "logs/2019/08/09/20/", nil},
		{"y=!{timestamp:yyyy}/m=!{timestamp:MM}/", "y=2019/m=08/", nil},
		{"!{timestamp:yyyy-MM-dd'T'HH:mm:ss.SSS}/", "2019-08-09T20:55:09.123/", nil},
		{"!{timestamp:yy D EEE a hh}/", "19 221 Fri PM 08/", nil},
		{"!{timestamp:'quoted ''x'''}/", "quoted 'x'/", nil},
		{"customer_id=!{partitionKeyFromQuery:customer_id}/", "customer_id=1234567890/2019/08/09/20/", map[string]string{"customer_id": "1234567890"}},
	}
	for _, tc := range cases {
		tpl, err := ParsePrefix(tc.prefix, true)
		if err != nil {
			t.Fatalf("%q: %v", tc.prefix, err)
		}
		got, err := tpl.Eval(Values{Time: at, PartitionKeys: tc.keys})
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.prefix, got, err, tc.want)
		}
	}
	tpl, _ := ParsePrefix("!{firehose:error-output-type}/!{firehose:random-string}/", false)
	got, _ := tpl.Eval(Values{Time: at, ErrorOutputType: "processing-failed"})
	parts := strings.Split(got, "/")
	if parts[0] != "processing-failed" || len(parts[1]) != 11 {
		t.Fatalf("got %q: want the error type and 11 random characters", got)
	}
}

func TestPrefixErrors(t *testing.T) {
	for _, p := range []string{"!{timestamp:yyyy", "!{nope:x}", "!{timestamp:QQ}", "!{firehose:other}", "!{timestamp}", "!{timestamp:'open}"} {
		if _, err := ParsePrefix(p, true); err == nil {
			t.Errorf("%q parsed", p)
		}
	}
	tpl, _ := ParsePrefix(strings.Repeat("a", 600), false)
	if _, err := tpl.Eval(Values{}); err == nil {
		t.Error("a 600-character prefix evaluated")
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"", "logs/", "!{timestamp:yyyy/MM/dd}/", "!{partitionKeyFromQuery:a}", "!{firehose:random-string}", "!{timestamp:''}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := ParsePrefix(s, true)
		if err != nil {
			return
		}
		q, l := tpl.PartitionKeys()
		keys := map[string]string{}
		for _, k := range append(q, l...) {
			keys[k] = "v"
		}
		if _, err := tpl.Eval(Values{Time: time.Unix(0, 0).UTC(), PartitionKeys: keys}); err != nil && !strings.Contains(err.Error(), "over the limit") {
			t.Fatalf("%q: %v", s, err)
		}
	})
}

func TestCompress(t *testing.T) {
	body := bytes.Repeat([]byte(`{"n":12345,"s":"hello"}`+"\n"), 20000) // over one Hadoop block
	// The same body as records of uneven sizes, for CompressRecords.
	var recs []sink.Record
	for rest, n := body, 1; len(rest) > 0; n = n*7%1000 + 1 {
		k := min(n, len(rest))
		recs = append(recs, sink.Record{Data: rest[:k]})
		rest = rest[k:]
	}
	for _, c := range []struct {
		f       string
		records bool
	}{{Uncompressed, false}, {GZIP, false}, {ZIP, false}, {Snappy, false}, {HadoopSnappy, false},
		{Uncompressed, true}, {GZIP, true}, {ZIP, true}, {Snappy, true}, {HadoopSnappy, true}} {
		f := c.f
		var out []byte
		var err error
		if c.records {
			out, err = CompressRecords(f, "obj", recs)
		} else {
			out, err = Compress(f, "obj", body)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var plain []byte
		switch f {
		case Uncompressed:
			plain = out
		case GZIP:
			zr, err := gzip.NewReader(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			plain, err = io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
		case ZIP:
			zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
			if err != nil || len(zr.File) != 1 || zr.File[0].Name != "obj" {
				t.Fatalf("zip: %v", err)
			}
			rc, _ := zr.File[0].Open()
			plain, _ = io.ReadAll(rc)
		case Snappy:
			plain, err = io.ReadAll(snappy.NewReader(bytes.NewReader(out)))
			if err != nil {
				t.Fatal(err)
			}
		case HadoopSnappy:
			for rest := out; len(rest) > 0; {
				n := binary.BigEndian.Uint32(rest)
				c := binary.BigEndian.Uint32(rest[4:])
				block, err := snappy.Decode(nil, rest[8:8+c])
				if err != nil || len(block) != int(n) {
					t.Fatalf("hadoop block: %v", err)
				}
				plain = append(plain, block...)
				rest = rest[8+c:]
				if len(rest) > 0 && n != hadoopBlock {
					t.Fatalf("hadoop block of %d bytes before the last one", n)
				}
			}
		}
		if !bytes.Equal(plain, body) {
			t.Errorf("%s (records %v): the body does not come back", f, c.records)
		}
	}
}

type memPut struct{ objects map[string][]byte }

func (m *memPut) Put(_ context.Context, bucket, key string, body []byte) error {
	m.objects[bucket+"/"+key] = body
	return nil
}

func TestDeliverNamesAndExtension(t *testing.T) {
	m := &memPut{objects: map[string][]byte{}}
	tz, _ := time.LoadLocation("Asia/Tokyo")
	pre, _ := ParsePrefix("d=!{timestamp:yyyy-MM-dd-HH}/", true)
	d := New(Config{Bucket: "b", Prefix: pre, Compression: Snappy, TimeZone: tz}, m)
	at := time.Date(2024, 1, 31, 20, 0, 0, 0, time.UTC)
	res, err := d.Deliver(t.Context(), &sink.Batch{ID: "11111111-2222-3333-4444-555555555555", Stream: "s", Version: 3,
		Records: []sink.Record{{Data: []byte("a")}}, FirstArrival: at})
	if err != nil {
		t.Fatal(err)
	}
	// The prefix is in the custom time zone; the name's time is UTC.
	want := "s3://b/d=2024-02-01-05/s-3-2024-01-31-20-00-00-11111111-2222-3333-4444-555555555555.snappy"
	if res.Location != want {
		t.Fatalf("location %s, want %s", res.Location, want)
	}
}

package sdk_test

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The Java SDKs (and so KCL, KPL and Flink) speak CBOR: blobs are byte
// strings, timestamps are tag 1 around epoch MILLISECONDS, and maps may be
// indefinite-length. These requests are built byte by byte the way the Java
// SDK writes them, so they do not depend on our own codec.

func cborHead(major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n <= 0xff:
		return []byte{m | 24, byte(n)}
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{m | 25}, uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{m | 26}, uint32(n))
	default:
		return binary.BigEndian.AppendUint64([]byte{m | 27}, n)
	}
}

func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }
func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborUint(n uint64) []byte  { return cborHead(0, n) }

// cborMillis is tag 1 around an integer of epoch milliseconds, always in
// the 8-byte form as the Java SDK's generator writes it.
func cborMillis(t time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xc1, 0x1b}, uint64(t.UnixMilli()))
}

// cborMap is an indefinite-length map of alternating keys and values.
func cborMap(items ...[]byte) []byte {
	out := []byte{0xbf}
	for _, it := range items {
		out = append(out, it...)
	}
	return append(out, 0xff)
}

func cborCall(t *testing.T, url, target string, body []byte) (rawResponse, map[string]cbor.RawMessage) {
	t.Helper()
	r := rawCall(t, url, http.MethodPost, target, cborType, body, func(req *http.Request) {
		req.Header.Set("Accept", cborType)
	})
	if len(r.body) == 0 {
		return r, nil
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, cborType) {
		t.Errorf("%s: response Content-Type %q, want %s", target, ct, cborType)
	}
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s: response is not a CBOR map: %v (% x)", target, err, r.body)
	}
	return r, m
}

func cborString(t *testing.T, raw cbor.RawMessage) string {
	t.Helper()
	var s string
	if err := cbor.Unmarshal(raw, &s); err != nil {
		t.Fatalf("not a CBOR text string: %v (% x)", err, raw)
	}
	return s
}

// cborTimestamp decodes tag 1 around epoch milliseconds (integer or float).
func cborTimestamp(t *testing.T, raw cbor.RawMessage) time.Time {
	t.Helper()
	var tag cbor.RawTag
	if err := cbor.Unmarshal(raw, &tag); err != nil || tag.Number != 1 {
		t.Fatalf("timestamp is not tag 1: %v (% x)", err, raw)
	}
	var ms float64
	if err := cbor.Unmarshal(tag.Content, &ms); err != nil {
		t.Fatalf("tag 1 content is not a number: %v", err)
	}
	return time.UnixMilli(int64(ms))
}

func TestCBORRoundTrip(t *testing.T) {
	t.Parallel()
	s, c := start(t)
	url := s.URL

	r, _ := cborCall(t, url, "CreateStream", cborMap(cborText("StreamName"), cborText("java"), cborText("ShardCount"), cborUint(1)))
	if r.status != 200 {
		t.Fatalf("CBOR CreateStream: %d % x", r.status, r.body)
	}
	waitActive(t, c, "java")

	data := []byte{0x00, 0x01, 0xff, 'h', 'i', 0x80}
	r, m := cborCall(t, url, "PutRecord", cborMap(
		cborText("StreamName"), cborText("java"),
		cborText("Data"), cborBytes(data),
		cborText("PartitionKey"), cborText("pk"),
	))
	if r.status != 200 {
		t.Fatalf("CBOR PutRecord: %d % x", r.status, r.body)
	}
	seq := cborString(t, m["SequenceNumber"])
	if shard := cborString(t, m["ShardId"]); shard != shardID(0) {
		t.Errorf("ShardId = %s", shard)
	}

	// The same record read through the Go SDK (JSON) is byte-identical.
	recs := readShard(t, c, "java", shardID(0))
	if len(recs) != 1 || !bytes.Equal(recs[0].Data, data) || *recs[0].SequenceNumber != seq {
		t.Fatalf("JSON read of the CBOR write: %+v", recs)
	}
	arrival := *recs[0].ApproximateArrivalTimestamp

	// AT_TIMESTAMP a minute ago, as tag 1 around milliseconds. Read as
	// seconds this would be tens of thousands of years ahead and rejected.
	r, m = cborCall(t, url, "GetShardIterator", cborMap(
		cborText("StreamName"), cborText("java"),
		cborText("ShardId"), cborText(shardID(0)),
		cborText("ShardIteratorType"), cborText("AT_TIMESTAMP"),
		cborText("Timestamp"), cborMillis(time.Now().Add(-time.Minute)),
	))
	if r.status != 200 {
		t.Fatalf("CBOR GetShardIterator AT_TIMESTAMP: %d % x", r.status, r.body)
	}
	it := cborString(t, m["ShardIterator"])

	r, m = cborCall(t, url, "GetRecords", cborMap(cborText("ShardIterator"), cborText(it)))
	if r.status != 200 {
		t.Fatalf("CBOR GetRecords: %d % x", r.status, r.body)
	}
	var records []map[string]cbor.RawMessage
	if err := cbor.Unmarshal(m["Records"], &records); err != nil {
		t.Fatalf("Records: %v", err)
	}
	if len(records) != 1 {
		t.Fatalf("%d records, want 1", len(records))
	}
	var gotData []byte
	if err := cbor.Unmarshal(records[0]["Data"], &gotData); err != nil || len(records[0]["Data"]) == 0 || records[0]["Data"][0]>>5 != 2 {
		t.Errorf("Data is not a CBOR byte string: % x (%v)", records[0]["Data"], err)
	}
	if !bytes.Equal(gotData, data) {
		t.Errorf("Data = % x, want % x", gotData, data)
	}
	if got := cborString(t, records[0]["SequenceNumber"]); got != seq {
		t.Errorf("SequenceNumber = %s, want %s", got, seq)
	}
	if got := cborString(t, records[0]["PartitionKey"]); got != "pk" {
		t.Errorf("PartitionKey = %s", got)
	}
	if got := cborTimestamp(t, records[0]["ApproximateArrivalTimestamp"]); !got.Equal(arrival) {
		t.Errorf("CBOR arrival %v, JSON arrival %v", got, arrival)
	}
	if cborString(t, m["NextShardIterator"]) == "" {
		t.Error("no NextShardIterator")
	}

	// One millisecond after the record's arrival finds nothing: the tag is
	// read with millisecond precision.
	time.Sleep(5 * time.Millisecond)
	r, m = cborCall(t, url, "GetShardIterator", cborMap(
		cborText("StreamName"), cborText("java"),
		cborText("ShardId"), cborText(shardID(0)),
		cborText("ShardIteratorType"), cborText("AT_TIMESTAMP"),
		cborText("Timestamp"), cborMillis(arrival.Add(time.Millisecond)),
	))
	if r.status != 200 {
		t.Fatalf("CBOR GetShardIterator after arrival: %d % x", r.status, r.body)
	}
	if n := len(readFrom(t, c, cborString(t, m["ShardIterator"]))); n != 0 {
		t.Errorf("AT_TIMESTAMP arrival+1ms returned %d records", n)
	}

	// Errors come back as a CBOR map too.
	r, m = cborCall(t, url, "DescribeStreamSummary", cborMap(cborText("StreamName"), cborText("nope")))
	if r.status != 400 {
		t.Errorf("CBOR unknown stream: status %d", r.status)
	}
	if m == nil || cborString(t, m["__type"]) != "ResourceNotFoundException" {
		t.Errorf("CBOR error body % x", r.body)
	}
	r, m = cborCall(t, url, "PutRecord", []byte{0xbf, 0x6a, 'S', 't'})
	if r.status != 400 || m == nil || cborString(t, m["__type"]) != "SerializationException" {
		t.Errorf("truncated CBOR: status %d body % x", r.status, r.body)
	}
	// An integer where the Data byte string belongs.
	r, m = cborCall(t, url, "PutRecord", cborMap(
		cborText("StreamName"), cborText("java"),
		cborText("Data"), cborUint(7),
		cborText("PartitionKey"), cborText("pk"),
	))
	if r.status != 400 || m == nil || cborString(t, m["__type"]) != "SerializationException" {
		t.Errorf("integer Data: status %d body % x", r.status, r.body)
	}
	if n := len(readShard(t, c, "java", shardID(0))); n != 1 {
		t.Errorf("%d records after rejected CBOR puts, want 1", n)
	}
}

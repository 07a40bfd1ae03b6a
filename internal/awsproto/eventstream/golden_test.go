package eventstream

import (
	"bytes"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files and the FuzzDecode seed corpus")

var sampleUUID = [16]byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}

// goldenMessages are the messages whose exact bytes are kept in
// testdata/golden. Header names are unique within each message so that the
// SDK's decoder, which folds repeated names, sees the same headers.
func goldenMessages() []struct {
	name string
	msg  Message
} {
	return []struct {
		name string
		msg  Message
	}{
		{"empty", Message{}},
		{"payload-only", Message{Payload: []byte(`{"hello":"world"}`)}},
		{"bool-true", Message{Headers: []Header{{"flag", Bool(true)}}}},
		{"bool-false", Message{Headers: []Header{{"flag", Bool(false)}}}},
		{"byte", Message{Headers: []Header{{"b", Byte(-7)}}, Payload: []byte{0}}},
		{"int16", Message{Headers: []Header{{"i16", Int16(-12345)}}}},
		{"int32", Message{Headers: []Header{{"i32", Int32(2147483647)}}}},
		{"int64", Message{Headers: []Header{{"i64", Int64(-9223372036854775808)}}}},
		{"bytes", Message{Headers: []Header{{"blob", Bytes([]byte{0, 1, 2, 0xfe, 0xff})}}}},
		{"bytes-empty", Message{Headers: []Header{{"blob", Bytes([]byte{})}}}},
		{"string", Message{Headers: []Header{{"s", String("héllo, wörld")}}}},
		{"string-empty", Message{Headers: []Header{{"s", String("")}}}},
		{"timestamp", Message{Headers: []Header{{"ts", Timestamp(time.Date(2026, 11, 25, 12, 34, 56, 789e6, time.UTC))}}}},
		{"uuid", Message{Headers: []Header{{"id", UUID(sampleUUID)}}}},
		{"all-types", Message{
			Headers: []Header{
				{"t", Bool(true)},
				{"f", Bool(false)},
				{"byte", Byte(127)},
				{"int16", Int16(32767)},
				{"int32", Int32(-2147483648)},
				{"int64", Int64(1 << 40)},
				{"bytes", Bytes([]byte("raw\x00bytes"))},
				{"string", String("text")},
				{"timestamp", TimestampMillis(1767323045678)},
				{"uuid", UUID(sampleUUID)},
			},
			Payload: []byte("payload after every header type"),
		}},
		{"initial-response", EventMessage(EventTypeInitialResponse, "", nil)},
		{"initial-response-json", EventMessage(EventTypeInitialResponse, "application/json", []byte("{}"))},
		{"subscribe-to-shard-event", EventMessage(EventTypeSubscribeToShardEvent, "application/json", []byte(
			`{"ChildShards":[],"ContinuationSequenceNumber":"49590338271490256608559692538361571095921575989136588898",`+
				`"MillisBehindLatest":0,"Records":[{"ApproximateArrivalTimestamp":1767323045.678,"Data":"aGVsbG8=",`+
				`"PartitionKey":"pk-1","SequenceNumber":"49590338271490256608559692538361571095921575989136588898"}]}`))},
		{"exception", ExceptionMessage("ResourceInUseException", "application/json", []byte(
			`{"message":"Another active subscription exists for this consumer: 123456789012:my-stream:shardId-000000000000:my-consumer"}`))},
		{"error", ErrorMessage("InternalFailure", "The server encountered an internal error.")},
	}
}

func goldenPath(name string) string { return filepath.Join("testdata", "golden", name+".bin") }

func TestGolden(t *testing.T) {
	if *update {
		if err := os.MkdirAll(filepath.Join("testdata", "golden"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range goldenMessages() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendMessage(nil, tc.msg)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			if *update {
				if err := os.WriteFile(goldenPath(tc.name), got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath(tc.name))
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from %s\n got %x\nwant %x", goldenPath(tc.name), got, want)
			}
			dec, err := NewDecoder(bytes.NewReader(want)).Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertMessage(t, dec, tc.msg)
		})
	}
}

// TestGoldenLayout checks a hand-computed frame, so that the golden files
// are anchored to the format and not only to this encoder.
func TestGoldenLayout(t *testing.T) {
	b, err := os.ReadFile(goldenPath("bool-true"))
	if err != nil {
		t.Fatal(err)
	}
	// total 22 = 16 + headers 6 (len 4, "flag", type 0); no payload.
	want := []byte{
		0, 0, 0, 22, 0, 0, 0, 6,
		0, 0, 0, 0, // prelude CRC, checked below
		4, 'f', 'l', 'a', 'g', 0,
		0, 0, 0, 0, // message CRC, checked below
	}
	if len(b) != len(want) || !bytes.Equal(b[:8], want[:8]) || !bytes.Equal(b[12:18], want[12:18]) {
		t.Fatalf("frame %x, want layout %x", b, want)
	}
	if got, want := binary.BigEndian.Uint32(b[8:12]), crc32.ChecksumIEEE(b[:8]); got != want {
		t.Fatalf("prelude CRC 0x%08x, want 0x%08x", got, want)
	}
	if got, want := binary.BigEndian.Uint32(b[18:]), crc32.ChecksumIEEE(b[:18]); got != want {
		t.Fatalf("message CRC 0x%08x, want 0x%08x", got, want)
	}
}

func assertMessage(t *testing.T, got, want Message) {
	t.Helper()
	if !messagesEqual(got, want) {
		t.Fatalf("message mismatch\n got %v\nwant %v", got, want)
	}
}

func messagesEqual(a, b Message) bool {
	if len(a.Headers) != len(b.Headers) || !bytes.Equal(a.Payload, b.Payload) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Name != b.Headers[i].Name || !a.Headers[i].Value.Equal(b.Headers[i].Value) {
			return false
		}
	}
	return true
}

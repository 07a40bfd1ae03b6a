package eventstream

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestAWSVectors decodes AWS's conformance vectors (testdata/aws).
func TestAWSVectors(t *testing.T) {
	dir := filepath.Join("testdata", "aws")
	entries, err := os.ReadDir(filepath.Join(dir, "encoded", "positive"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no positive vectors")
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			enc, err := os.ReadFile(filepath.Join(dir, "encoded", "positive", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			want := readDecodedVector(t, filepath.Join(dir, "decoded", "positive", e.Name()))
			got, err := NewDecoder(bytes.NewReader(enc)).Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertMessage(t, got, want)
			again, err := AppendMessage(nil, got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding differs\n got %x\nwant %x", again, enc)
			}
		})
	}
	negatives, err := os.ReadDir(filepath.Join(dir, "encoded", "negative"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range negatives {
		t.Run("negative/"+e.Name(), func(t *testing.T) {
			enc, err := os.ReadFile(filepath.Join(dir, "encoded", "negative", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewDecoder(bytes.NewReader(enc)).Decode()
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("Decode error %v, want a checksum error", err)
			}
		})
	}
}

func readDecodedVector(t *testing.T, path string) Message {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Headers []struct {
			Name  string
			Type  ValueType
			Value json.RawMessage
		}
		Payload []byte
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	m := Message{Payload: v.Payload}
	if len(m.Payload) == 0 {
		m.Payload = nil
	}
	for _, h := range v.Headers {
		var num int64
		var raw []byte
		switch h.Type {
		case TypeByte, TypeInt16, TypeInt32, TypeInt64, TypeTimestamp:
			if err := json.Unmarshal(h.Value, &num); err != nil {
				t.Fatal(err)
			}
		case TypeBytes, TypeString, TypeUUID:
			var s string
			if err := json.Unmarshal(h.Value, &s); err != nil {
				t.Fatal(err)
			}
			if raw, err = base64.StdEncoding.DecodeString(s); err != nil {
				t.Fatal(err)
			}
		}
		var val Value
		switch h.Type {
		case TypeBoolTrue, TypeBoolFalse:
			val = Bool(h.Type == TypeBoolTrue)
		case TypeByte:
			val = Byte(int8(num))
		case TypeInt16:
			val = Int16(int16(num))
		case TypeInt32:
			val = Int32(int32(num))
		case TypeInt64:
			val = Int64(num)
		case TypeTimestamp:
			val = TimestampMillis(num)
		case TypeBytes:
			val = Bytes(raw)
		case TypeString:
			val = String(string(raw))
		case TypeUUID:
			val = UUID([16]byte(raw))
		default:
			t.Fatalf("vector header %q has type %d", h.Name, h.Type)
		}
		m.Headers = append(m.Headers, Header{Name: h.Name, Value: val})
	}
	return m
}

// frame builds a message from raw parts with correct CRCs, so that tests
// can reach the checks that come after them.
func frame(total, hl uint32, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, total)
	b = binary.BigEndian.AppendUint32(b, hl)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(b, rest...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// framed wraps a raw headers section and payload in a valid frame.
func framed(headers, payload []byte) []byte {
	hl := uint32(len(headers))
	return frame(16+hl+uint32(len(payload)), hl, append(append([]byte{}, headers...), payload...))
}

func TestDecodeErrors(t *testing.T) {
	valid, err := AppendMessage(nil, EventMessage("SubscribeToShardEvent", "application/json", []byte(`{"Records":[]}`)))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(valid)
		b[i] ^= 0x01
		return b
	}
	longValue := append([]byte{1, 'x', byte(TypeString), 0x80, 0x00}, make([]byte, 0x8000)...)
	tests := []struct {
		name  string
		input []byte
		want  error
		text  string
	}{
		{"prelude CRC", flip(9), ErrChecksum, "prelude CRC"},
		{"length under prelude CRC", flip(3), ErrChecksum, "prelude CRC"},
		{"header byte", flip(14), ErrChecksum, "message CRC"},
		{"payload byte", flip(len(valid) - 6), ErrChecksum, "message CRC"},
		{"message CRC", flip(len(valid) - 1), ErrChecksum, "message CRC"},
		{"total under minimum", frame(15, 0, nil)[:12], ErrMalformed, "under the minimum"},
		{"headers past total", frame(20, 5, nil)[:12], ErrMalformed, "does not fit"},
		{"headers over 128 KiB", frame(16+MaxHeadersLen+1, MaxHeadersLen+1, nil)[:12], ErrTooLarge, "headers of 131073 bytes"},
		{"payload over 24 MiB", frame(16+MaxPayloadLen+1, 0, nil)[:12], ErrTooLarge, "payload of 25165825 bytes"},
		{"empty header name", framed([]byte{0, byte(TypeBoolTrue)}, nil), ErrMalformed, "empty header name"},
		{"name overruns", framed([]byte{9, 'a', 'b'}, nil), ErrMalformed, "overruns"},
		{"missing type", framed([]byte{1, 'a'}, nil), ErrMalformed, "overruns"},
		{"unknown type", framed([]byte{1, 'a', 10}, nil), ErrMalformed, "unknown value type 10"},
		{"short int32", framed([]byte{1, 'a', byte(TypeInt32), 0, 0}, nil), ErrMalformed, "int32 value needs 4 bytes"},
		{"short uuid", framed([]byte{1, 'a', byte(TypeUUID), 1, 2, 3}, nil), ErrMalformed, "uuid value needs 16 bytes"},
		{"short string length", framed([]byte{1, 'a', byte(TypeString), 0}, nil), ErrMalformed, "string value needs 2 bytes"},
		{"string overruns", framed([]byte{1, 'a', byte(TypeString), 0, 5, 'x'}, nil), ErrMalformed, "string value needs 7 bytes"},
		{"value over 32767", framed(longValue, nil), ErrTooLarge, "string value of 32768 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder(bytes.NewReader(tc.input)).Decode()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.HasPrefix(err.Error(), "eventstream: ") {
				t.Fatalf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

// TestDecodeTruncated cuts a valid message at every length.
func TestDecodeTruncated(t *testing.T) {
	valid, err := AppendMessage(nil, goldenMessages()[len(goldenMessages())-3].msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDecoder(bytes.NewReader(nil)).Decode(); err != io.EOF {
		t.Fatalf("empty input: %v, want io.EOF", err)
	}
	for n := 1; n < len(valid); n++ {
		_, err := NewDecoder(bytes.NewReader(valid[:n])).Decode()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d of %d: %v, want io.ErrUnexpectedEOF", n, len(valid), err)
		}
	}
	// A reader that hands out one byte at a time still yields the message.
	if _, err := NewDecoder(iotest.OneByteReader(bytes.NewReader(valid))).Decode(); err != nil {
		t.Fatalf("one byte at a time: %v", err)
	}
}

// TestDecodeLargePayloadTruncated announces a 24 MiB payload and ends
// early: the decoder reports truncation after reading what there is.
func TestDecodeLargePayloadTruncated(t *testing.T) {
	in := append(frame(16+MaxPayloadLen, 0, nil)[:12], make([]byte, 300<<10)...)
	_, err := NewDecoder(bytes.NewReader(in)).Decode()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "payload (307200 of 25165824 bytes)") {
		t.Fatalf("error %v", err)
	}
}

func TestDecodeLargePayload(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16+3)
	b, err := AppendMessage(nil, Message{Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Payload, payload) {
		t.Fatal("payload differs")
	}
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("connection reset")
	valid, _ := AppendMessage(nil, Message{Payload: []byte("abc")})
	r := io.MultiReader(bytes.NewReader(valid[:14]), iotest.ErrReader(boom))
	_, err := NewDecoder(r).Decode()
	if !errors.Is(err, boom) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want it to wrap %v", err, boom)
	}
}

// TestDecodeOwnsMemory checks that a decoded message survives the next
// Decode on the same Decoder.
func TestDecodeOwnsMemory(t *testing.T) {
	var stream []byte
	for _, s := range []string{"first", "second"} {
		var err error
		stream, err = AppendMessage(stream, Message{
			Headers: []Header{{"b", Bytes([]byte(s))}, {"s", String(s)}},
			Payload: []byte(s),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	d := NewDecoder(bytes.NewReader(stream))
	first, err := d.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(); err != nil {
		t.Fatal(err)
	}
	want := Message{Headers: []Header{{"b", Bytes([]byte("first"))}, {"s", String("first")}}, Payload: []byte("first")}
	assertMessage(t, first, want)
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"empty name", Message{Headers: []Header{{"", Bool(true)}}}, ErrMalformed},
		{"long name", Message{Headers: []Header{{strings.Repeat("n", 256), Bool(true)}}}, ErrMalformed},
		{"zero value", Message{Headers: []Header{{"a", Value{}}}}, ErrMalformed},
		{"long string", Message{Headers: []Header{{"a", String(strings.Repeat("s", 32768))}}}, ErrTooLarge},
		{"long bytes", Message{Headers: []Header{{"a", Bytes(make([]byte, 32768))}}}, ErrTooLarge},
		{"headers over 128 KiB", Message{Headers: []Header{
			{"a", String(strings.Repeat("s", 32767))}, {"b", String(strings.Repeat("s", 32767))},
			{"c", String(strings.Repeat("s", 32767))}, {"d", String(strings.Repeat("s", 32767))},
		}}, ErrTooLarge},
		{"payload over 24 MiB", Message{Payload: make([]byte, MaxPayloadLen+1)}, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			err := NewEncoder(&w).Encode(tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if w.Len() != 0 {
				t.Fatalf("wrote %d bytes for an invalid message", w.Len())
			}
		})
	}
}

// TestEncodeLimits encodes messages exactly at every limit and reads them
// back.
func TestEncodeLimits(t *testing.T) {
	m := Message{
		Headers: []Header{
			{strings.Repeat("n", MaxHeaderNameLen), String(strings.Repeat("s", MaxHeaderValueLen))},
			{"b", Bytes(bytes.Repeat([]byte{7}, MaxHeaderValueLen))},
		},
		Payload: make([]byte, MaxPayloadLen),
	}
	// Pad the headers section to exactly 128 KiB.
	used := 1 + 255 + 1 + 2 + 32767 + 1 + 1 + 1 + 2 + 32767
	for left := MaxHeadersLen - used; left > 0; {
		n := min(left-5, MaxHeaderValueLen)
		m.Headers = append(m.Headers, Header{string(rune('c' + len(m.Headers))), Bytes(make([]byte, n))})
		left -= 5 + n
	}
	b, err := AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if hl := binary.BigEndian.Uint32(b[4:8]); hl != MaxHeadersLen {
		t.Fatalf("headers length %d, want %d", hl, MaxHeadersLen)
	}
	got, err := NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	assertMessage(t, got, m)
}

// TestEncodeNoAllocs proves that steady-state encoding reuses its buffer.
func TestEncodeNoAllocs(t *testing.T) {
	m := EventMessage(EventTypeSubscribeToShardEvent, "application/json", bytes.Repeat([]byte("x"), 1024))
	enc := NewEncoder(io.Discard)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Encode allocated %v times per message", allocs)
	}
}

func TestEncoderWriteError(t *testing.T) {
	boom := errors.New("broken pipe")
	err := NewEncoder(failWriter{boom}).Encode(Message{})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want it to wrap %v", err, boom)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestKinesisMessages(t *testing.T) {
	ev := EventMessage(EventTypeSubscribeToShardEvent, "application/json", []byte("{}"))
	assertHeaders(t, ev, map[string]string{":message-type": "event", ":event-type": "SubscribeToShardEvent", ":content-type": "application/json"})
	ir := EventMessage(EventTypeInitialResponse, "", nil)
	assertHeaders(t, ir, map[string]string{":message-type": "event", ":event-type": "initial-response"})
	ex := ExceptionMessage("ResourceNotFoundException", "application/json", []byte(`{"message":"m"}`))
	assertHeaders(t, ex, map[string]string{":message-type": "exception", ":exception-type": "ResourceNotFoundException", ":content-type": "application/json"})
	er := ErrorMessage("InternalFailure", "boom")
	assertHeaders(t, er, map[string]string{":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"})
	if er.Payload != nil {
		t.Fatalf("error message payload %q", er.Payload)
	}

	long := ErrorMessage("InternalFailure", strings.Repeat("é", 20000))
	msg, _ := long.Header(HeaderErrorMessage)
	if n := len(msg.Text()); n != MaxHeaderValueLen-1 {
		t.Fatalf("long error message cut to %d bytes, want %d", n, MaxHeaderValueLen-1)
	}
	if _, err := AppendMessage(nil, long); err != nil {
		t.Fatalf("long error message does not encode: %v", err)
	}
}

func assertHeaders(t *testing.T, m Message, want map[string]string) {
	t.Helper()
	if len(m.Headers) != len(want) {
		t.Fatalf("headers %v, want %v", m, want)
	}
	for name, w := range want {
		v, ok := m.Header(name)
		if !ok || v.Type() != TypeString || v.Text() != w {
			t.Fatalf("header %s = %v, want string %q", name, v, w)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	if v := Bool(true); !v.Bool() || v.Type() != TypeBoolTrue {
		t.Fatalf("Bool(true) = %v", v)
	}
	if v := Bool(false); v.Bool() || v.Type() != TypeBoolFalse {
		t.Fatalf("Bool(false) = %v", v)
	}
	if v := Byte(-1); v.Int() != -1 || v.String() != "byte(-1)" {
		t.Fatalf("Byte(-1) = %v", v)
	}
	ts := TimestampMillis(1767323045678)
	if got := ts.Time().Format("2006-01-02T15:04:05.000Z07:00"); got != "2026-01-02T03:04:05.678Z" {
		t.Fatalf("timestamp %s", got)
	}
	if String("x").Time() != (Value{}).Time() {
		t.Fatal("Time of a string value is not zero")
	}
	if (Value{}).IsValid() || (Value{}).String() != "<invalid>" {
		t.Fatal("zero Value is valid")
	}
	if Int32(1).Equal(Int64(1)) || !Bytes(nil).Equal(Bytes([]byte{})) {
		t.Fatal("Equal compares types and contents")
	}
	if got := UUID(sampleUUID).String(); got != "uuid(123e4567e89b12d3a456426614174000)" {
		t.Fatalf("uuid %s", got)
	}
}

package eventstream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// The aws-sdk-go-v2 codec is an independent implementation of the format:
// what we write it must read identically, and what it writes we must read.

func toSDK(t testing.TB, m Message) sdk.Message {
	t.Helper()
	out := sdk.Message{Payload: m.Payload}
	for _, h := range m.Headers {
		var v sdk.Value
		hv := h.Value
		switch hv.Type() {
		case TypeBoolTrue, TypeBoolFalse:
			v = sdk.BoolValue(hv.Bool())
		case TypeByte:
			v = sdk.Int8Value(hv.Int())
		case TypeInt16:
			v = sdk.Int16Value(hv.Int())
		case TypeInt32:
			v = sdk.Int32Value(hv.Int())
		case TypeInt64:
			v = sdk.Int64Value(hv.Int())
		case TypeBytes:
			v = sdk.BytesValue(hv.Bytes())
		case TypeString:
			v = sdk.StringValue(hv.Text())
		case TypeTimestamp:
			v = sdk.TimestampValue(time.UnixMilli(hv.Int()))
		case TypeUUID:
			v = sdk.UUIDValue(hv.UUID())
		default:
			t.Fatalf("header %q: no SDK value for %v", h.Name, hv)
		}
		out.Headers = append(out.Headers, sdk.Header{Name: h.Name, Value: v})
	}
	return out
}

func fromSDK(t testing.TB, m sdk.Message) Message {
	t.Helper()
	out := Message{Payload: m.Payload}
	if len(out.Payload) == 0 {
		out.Payload = nil
	}
	for _, h := range m.Headers {
		var v Value
		switch sv := h.Value.(type) {
		case sdk.BoolValue:
			v = Bool(bool(sv))
		case sdk.Int8Value:
			v = Byte(int8(sv))
		case sdk.Int16Value:
			v = Int16(int16(sv))
		case sdk.Int32Value:
			v = Int32(int32(sv))
		case sdk.Int64Value:
			v = Int64(int64(sv))
		case sdk.BytesValue:
			v = Bytes([]byte(sv))
		case sdk.StringValue:
			v = String(string(sv))
		case sdk.TimestampValue:
			v = TimestampMillis(time.Time(sv).UnixMilli())
		case sdk.UUIDValue:
			v = UUID([16]byte(sv))
		default:
			t.Fatalf("header %q: unexpected SDK value %T", h.Name, h.Value)
		}
		out.Headers = append(out.Headers, Header{Name: h.Name, Value: v})
	}
	return out
}

// crossCheck encodes m with both codecs, requires identical bytes, and
// decodes each encoding with the other codec.
func crossCheck(t *testing.T, m Message) {
	t.Helper()
	ours, err := AppendMessage(nil, m)
	if err != nil {
		t.Fatalf("AppendMessage: %v", err)
	}
	var theirs bytes.Buffer
	if err := sdk.NewEncoder().Encode(&theirs, toSDK(t, m)); err != nil {
		t.Fatalf("SDK Encode: %v", err)
	}
	if !bytes.Equal(ours, theirs.Bytes()) {
		t.Fatalf("encodings differ\n ours %x\n  sdk %x", ours, theirs.Bytes())
	}

	sm, err := sdk.NewDecoder().Decode(bytes.NewReader(ours), nil)
	if err != nil {
		t.Fatalf("SDK Decode of our bytes: %v", err)
	}
	assertMessage(t, fromSDK(t, sm), m)

	dm, err := NewDecoder(bytes.NewReader(theirs.Bytes())).Decode()
	if err != nil {
		t.Fatalf("Decode of SDK bytes: %v", err)
	}
	assertMessage(t, dm, m)
}

func TestSDKCrossCheckGolden(t *testing.T) {
	for _, tc := range goldenMessages() {
		t.Run(tc.name, func(t *testing.T) { crossCheck(t, tc.msg) })
	}
}

func TestSDKCrossCheckRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		m := randomMessage(rng)
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("message %d: %v", i, m)
				}
			}()
			crossCheck(t, m)
		})
	}
}

// randomMessage builds a valid message with unique header names (the SDK
// folds repeated names into one).
func randomMessage(rng *rand.Rand) Message {
	var m Message
	n := rng.IntN(12)
	for i := range n {
		name := []byte{byte('a' + i)}
		for range rng.IntN(40) {
			name = append(name, byte(0x20+rng.IntN(0x5f)))
		}
		var v Value
		switch ValueType(rng.IntN(10)) {
		case TypeBoolTrue:
			v = Bool(true)
		case TypeBoolFalse:
			v = Bool(false)
		case TypeByte:
			v = Byte(int8(rng.Uint32()))
		case TypeInt16:
			v = Int16(int16(rng.Uint32()))
		case TypeInt32:
			v = Int32(int32(rng.Uint32()))
		case TypeInt64:
			v = Int64(int64(rng.Uint64()))
		case TypeBytes:
			b := make([]byte, rng.IntN(300))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			v = Bytes(b)
		case TypeString:
			b := make([]byte, rng.IntN(300))
			for j := range b {
				b[j] = byte(0x20 + rng.IntN(0x5f))
			}
			v = String(string(b))
		case TypeTimestamp:
			// The SDK converts through UnixNano, which holds years 1678-2262.
			v = TimestampMillis(rng.Int64N(2<<40) - 1<<40)
		case TypeUUID:
			var u [16]byte
			for j := range u {
				u[j] = byte(rng.Uint32())
			}
			v = UUID(u)
		}
		m.Headers = append(m.Headers, Header{Name: string(name), Value: v})
	}
	if rng.IntN(4) > 0 {
		m.Payload = make([]byte, rng.IntN(5000))
		for j := range m.Payload {
			m.Payload[j] = byte(rng.Uint32())
		}
		if len(m.Payload) == 0 {
			m.Payload = nil
		}
	}
	return m
}

// TestSDKStream decodes several SDK-encoded messages back to back from one
// reader, as a SubscribeToShard client reads a response body.
func TestSDKStream(t *testing.T) {
	var stream bytes.Buffer
	enc := sdk.NewEncoder()
	golden := goldenMessages()
	for _, tc := range golden {
		if err := enc.Encode(&stream, toSDK(t, tc.msg)); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDecoder(&stream)
	for _, tc := range golden {
		m, err := d.Decode()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		assertMessage(t, m, tc.msg)
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

package eventstream

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkEncodeEvent encodes a SubscribeToShardEvent with a 1 KiB
// payload, the common case of a subscription's data path.
func BenchmarkEncodeEvent(b *testing.B) {
	payload := bytes.Repeat([]byte("r"), 1024)
	b.Run("reused-message", func(b *testing.B) {
		m := EventMessage(EventTypeSubscribeToShardEvent, "application/json", payload)
		enc := NewEncoder(io.Discard)
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if err := enc.Encode(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-message", func(b *testing.B) {
		enc := NewEncoder(io.Discard)
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if err := enc.Encode(EventMessage(EventTypeSubscribeToShardEvent, "application/json", payload)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	msg, err := AppendMessage(nil, EventMessage(EventTypeSubscribeToShardEvent, "application/json", bytes.Repeat([]byte("r"), 1024)))
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(msg)
	d := NewDecoder(r)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r.Reset(msg)
		if _, err := d.Decode(); err != nil {
			b.Fatal(err)
		}
	}
}

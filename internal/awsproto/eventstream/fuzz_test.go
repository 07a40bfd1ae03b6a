package eventstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	sdk "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// FuzzDecode feeds arbitrary bytes to the Decoder. It must never panic,
// must fail only with the documented error kinds, and whatever it accepts
// must re-encode to the very bytes it read and be read the same by the
// SDK's decoder.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		d := NewDecoder(r)
		for {
			start := len(in) - r.Len()
			m, err := d.Decode()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrChecksum) &&
					!errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			raw := in[start : len(in)-r.Len()]
			again, err := AppendMessage(nil, m)
			if err != nil {
				t.Fatalf("decoded message does not encode: %v\n%v", err, m)
			}
			if !bytes.Equal(again, raw) {
				t.Fatalf("re-encoding differs\n got %x\nwant %x", again, raw)
			}
			sm, err := sdk.NewDecoder().Decode(bytes.NewReader(raw), nil)
			if err != nil {
				t.Fatalf("SDK rejects a message we accept: %v\n%v", err, m)
			}
			if !hasRepeatedNames(m) {
				assertMessage(t, fromSDK(t, sm), m)
			}
		}
	})
}

func hasRepeatedNames(m Message) bool {
	seen := map[string]bool{}
	for _, h := range m.Headers {
		if seen[h.Name] {
			return true
		}
		seen[h.Name] = true
	}
	return false
}

// fuzzSeeds derives the FuzzDecode seed corpus from the golden messages:
// each valid message, its truncations, bit flips (which the CRCs catch) and
// flips with the CRCs recomputed (which reach the header parser), plus a
// stream of two messages.
func fuzzSeeds(t *testing.T) map[string][]byte {
	seeds := map[string][]byte{}
	var stream []byte
	for _, tc := range goldenMessages() {
		b, err := AppendMessage(nil, tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		seeds[tc.name] = b
		if len(stream) == 0 || tc.name == "subscribe-to-shard-event" {
			stream = append(stream, b...)
		}
		for _, cut := range []int{4, 12, len(b) / 2, len(b) - 1} {
			if cut > 0 && cut < len(b) {
				seeds[fmt.Sprintf("%s-cut%d", tc.name, cut)] = b[:cut]
			}
		}
		for _, bit := range []int{3 * 8, 9*8 + 2, 12*8 + 1, (len(b)-2)*8 + 7} {
			flipped := bytes.Clone(b)
			flipped[bit/8] ^= 1 << (bit % 8)
			seeds[fmt.Sprintf("%s-flip%d", tc.name, bit)] = flipped
		}
		if len(b) > 16 {
			h := bytes.Clone(b)
			h[12] ^= 0x80 // first header name length, or first payload byte
			seeds[tc.name+"-flip-crcfixed"] = fixCRCs(h)
		}
	}
	seeds["stream"] = stream
	return seeds
}

// fixCRCs recomputes both CRCs of a single message in place.
func fixCRCs(b []byte) []byte {
	return frame(binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8]), b[12:len(b)-4])
}

// FuzzDecodeFramed wraps arbitrary header and payload bytes in a frame with
// correct lengths and CRCs, so that mutations reach the header parser
// instead of stopping at a checksum.
func FuzzDecodeFramed(f *testing.F) {
	for _, tc := range goldenMessages() {
		b, err := AppendMessage(nil, tc.msg)
		if err != nil {
			f.Fatal(err)
		}
		hl := binary.BigEndian.Uint32(b[4:8])
		f.Add(b[12:12+hl], b[12+hl:len(b)-4])
	}
	f.Fuzz(func(t *testing.T, headers, payload []byte) {
		if len(headers) > MaxHeadersLen || len(payload) > 1<<16 {
			return
		}
		in := framed(headers, payload)
		m, err := NewDecoder(bytes.NewReader(in)).Decode()
		if err != nil {
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		again, err := AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v\n%v", err, m)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("re-encoding differs\n got %x\nwant %x", again, in)
		}
		sm, err := sdk.NewDecoder().Decode(bytes.NewReader(in), nil)
		if err != nil {
			t.Fatalf("SDK rejects a message we accept: %v\n%v", err, m)
		}
		if !hasRepeatedNames(m) {
			assertMessage(t, fromSDK(t, sm), m)
		}
	})
}

func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range fuzzSeeds(t) {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if string(got) != want {
			t.Fatalf("%s is stale (run with -update)", path)
		}
	}
}

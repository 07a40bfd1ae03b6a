package awsproto

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 4095, 4096, 4097, 1 << 20, 700 << 10} {
		want := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, tc := range []struct {
			name   string
			length int64
			r      io.Reader
		}{
			{"exact", int64(n), bytes.NewReader(want)},
			{"unknown", -1, bytes.NewReader(want)},
			{"short-reads", int64(n), iotest.OneByteReader(bytes.NewReader(want))},
			{"understated", int64(n / 2), bytes.NewReader(want)},
			{"data-with-eof", int64(n), iotest.DataErrReader(bytes.NewReader(want))},
		} {
			p, err := readBody(tc.r, tc.length)
			if err != nil {
				t.Fatalf("%d %s: %v", n, tc.name, err)
			}
			if !bytes.Equal(*p, want) {
				t.Fatalf("%d %s: read %d bytes, want %d", n, tc.name, len(*p), n)
			}
			releaseBody(p)
		}
	}
}

func TestReadBodyLimit(t *testing.T) {
	w := httptest.NewRecorder()
	body := bytes.Repeat([]byte("x"), 10000)
	p, err := readBody(http.MaxBytesReader(w, io.NopCloser(bytes.NewReader(body)), 9000), -1)
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("err = %v, want MaxBytesError", err)
	}
	releaseBody(p)
}

func TestBodyPoolReuse(t *testing.T) {
	p := getBody(5000)
	if cap(*p) != 8192 || len(*p) != 0 {
		t.Fatalf("getBody(5000): len %d cap %d", len(*p), cap(*p))
	}
	*p = append(*p, "abc"...)
	releaseBody(p)
	q := getBody(6000)
	if len(*q) != 0 || cap(*q) < 6000 {
		t.Fatalf("getBody(6000): len %d cap %d", len(*q), cap(*q))
	}
	big := getBody(17 << 20)
	if cap(*big) != 17<<20 {
		t.Fatalf("getBody(17 MiB): cap %d", cap(*big))
	}
	releaseBody(big) // not pooled; must not panic
}

func TestGrow(t *testing.T) {
	b := Grow([]byte("abc"), 5000)
	if string(b) != "abc" || cap(b) != 8192 {
		t.Fatalf("Grow: %q cap %d", b, cap(b))
	}
	if c := Grow(b, 100); &c[:1][0] != &b[:1][0] {
		t.Fatal("Grow reallocated a buffer with room")
	}
}

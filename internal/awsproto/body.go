package awsproto

import (
	"errors"
	"io"
	"sync"
)

// Request bodies are read into pooled buffers: a PutRecords body is up to
// several MiB, and growing a fresh buffer for each (as io.ReadAll does)
// allocates and copies about twice the body per request. Responses the
// fast encoders write (a GetRecords response is up to about 14 MiB) use
// the same pools. Buffers come in power-of-two classes from 4 KiB to
// 16 MiB so that a pooled buffer always fits what it is taken for.
const (
	minBodyClass = 12 // 4 KiB
	maxBodyClass = 24 // 16 MiB
)

var bodyPools [maxBodyClass - minBodyClass + 1]sync.Pool

// bodyClass returns the pool index of the smallest class holding n bytes,
// or -1 when n is larger than every class.
func bodyClass(n int64) int {
	c := 0
	for size := int64(1) << minBodyClass; size < n; size <<= 1 {
		c++
	}
	if c >= len(bodyPools) {
		return -1
	}
	return c
}

// getBody returns a buffer of length 0 and capacity at least n.
func getBody(n int64) *[]byte {
	c := bodyClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if p, _ := bodyPools[c].Get().(*[]byte); p != nil {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 1<<(minBodyClass+c))
	return &b
}

// releaseBody returns a buffer to its pool. Nothing may use it afterwards.
func releaseBody(p *[]byte) {
	n := int64(cap(*p))
	if c := bodyClass(n); c >= 0 && int64(1)<<(minBodyClass+c) == n {
		*p = (*p)[:0]
		bodyPools[c].Put(p)
	}
}

// readBody reads a request body into a pooled buffer sized from its
// Content-Length (contentLength < 0: unknown, the buffer grows). The
// buffer is returned, for releaseBody, even with an error.
func readBody(r io.Reader, contentLength int64) (*[]byte, error) {
	p := getBody(max(contentLength, 512))
	for {
		b := *p
		if len(b) == cap(b) {
			// Full: the body may be exactly this long. Otherwise (longer
			// than announced, or no length) grow into the next class; the
			// MaxBytesReader bounds the total.
			var probe [1]byte
			n, err := io.ReadFull(r, probe[:])
			if n == 0 {
				if errors.Is(err, io.EOF) {
					return p, nil
				}
				return p, err
			}
			np := getBody(int64(cap(b)) * 2)
			*np = append(append(*np, b...), probe[0])
			releaseBody(p)
			p = np
			continue
		}
		n, err := r.Read(b[len(b):cap(b)])
		*p = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return p, nil
			}
			return p, err
		}
	}
}

// Grow returns dst with room for n more bytes. When dst must grow, the new
// buffer comes from the router's pools: fast response encoders use it, and
// the router returns the buffer to its pool once the response is written.
func Grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	p := getBody(int64(len(dst) + n))
	return append(*p, dst...)
}

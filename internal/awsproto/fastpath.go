package awsproto

import (
	"errors"
	"io"
	"reflect"
	"sync"
)

// Fast paths: hand-written decoders and encoders for the hot shapes
// (PutRecords and friends), registered by the package that owns the shapes.
// A fast decoder accepts only a strict, common subset of the wire format
// and reports false for anything else; Decode then runs the generic path,
// so that every error and every edge case behaves exactly as without the
// fast path.

var (
	fastMu       sync.RWMutex
	fastDecoders = map[reflect.Type]func(body []byte, v any) bool{}
	fastEncoders = map[reflect.Type]func(dst []byte, v any) ([]byte, bool){}
)

// RegisterFastJSONDecoder registers f for JSON request bodies decoded into
// *T. f fills in and returns true, or returns false, leaving in untouched
// or partly filled, when the body is not in the subset it handles.
func RegisterFastJSONDecoder[T any](f func(body []byte, in *T) bool) {
	fastMu.Lock()
	defer fastMu.Unlock()
	fastDecoders[reflect.TypeFor[*T]()] = func(body []byte, v any) bool { return f(body, v.(*T)) }
}

// RegisterFastJSONEncoder registers f for JSON responses of type *T. f
// appends the encoding of out to dst, or returns false to let the generic
// encoder run.
func RegisterFastJSONEncoder[T any](f func(dst []byte, out *T) ([]byte, bool)) {
	fastMu.Lock()
	defer fastMu.Unlock()
	fastEncoders[reflect.TypeFor[*T]()] = func(dst []byte, v any) ([]byte, bool) { return f(dst, v.(*T)) }
}

func fastDecoder(v any) func([]byte, any) bool {
	fastMu.RLock()
	defer fastMu.RUnlock()
	return fastDecoders[reflect.TypeOf(v)]
}

func fastEncoder(v any) func([]byte, any) ([]byte, bool) {
	fastMu.RLock()
	defer fastMu.RUnlock()
	return fastEncoders[reflect.TypeOf(v)]
}

// Base64Len returns the decoded length of standard padded base64 text,
// or false when its length is not a multiple of 4. It does not check the
// characters: base64.StdEncoding.Strict().Decode rejects exactly the text
// (without line breaks) that the generic blob decoder rejects.
func Base64Len(s []byte) (n int, ok bool) {
	if len(s)%4 != 0 {
		return 0, false
	}
	n = len(s) / 4 * 3
	if len(s) > 0 && s[len(s)-1] == '=' {
		n--
		if s[len(s)-2] == '=' {
			n--
		}
	}
	return n, true
}

// Large responses. A sized encoder knows the exact length of a response
// before writing it and writes it in pieces through one small buffer, so
// that a response of many MiB (a GetRecords response is up to about 14 MB)
// never exists whole in memory: the router sends its Content-Length, then
// each piece as it is full.

// pieceSize is the buffer a sized encoder writes through; minPieceSize is
// the least any caller may use (the encoders assume room for a record's
// fixed members in an emptied buffer).
const (
	pieceSize    = 128 << 10
	minPieceSize = 8 << 10
	// sizedMin is the response length from which the router writes in
	// pieces; smaller responses go out in one write.
	sizedMin = 256 << 10
)

type sizedEncoder struct {
	size  func(v any) (int, bool)
	write func(dst []byte, v any, flush func([]byte) []byte) []byte
}

var sizedEncoders = map[reflect.Type]sizedEncoder{}

// RegisterSizedJSONEncoder registers a sized encoder for JSON responses of
// type *T. size returns the exact length of out's encoding, or false when
// out is not in the subset write handles (the other encoders run then).
// write appends the encoding to dst; when flush is not nil it must keep
// within cap(dst) and call flush to empty the buffer when the next part
// does not fit (flush writes dst's bytes and returns dst[:0]).
func RegisterSizedJSONEncoder[T any](size func(out *T) (int, bool), write func(dst []byte, out *T, flush func([]byte) []byte) []byte) {
	fastMu.Lock()
	defer fastMu.Unlock()
	sizedEncoders[reflect.TypeFor[*T]()] = sizedEncoder{
		size:  func(v any) (int, bool) { return size(v.(*T)) },
		write: func(dst []byte, v any, flush func([]byte) []byte) []byte { return write(dst, v.(*T), flush) },
	}
}

func sizedJSONEncoder(v any) (sizedEncoder, bool) {
	fastMu.RLock()
	defer fastMu.RUnlock()
	e, ok := sizedEncoders[reflect.TypeOf(v)]
	return e, ok
}

// JSONSize returns the exact length of v's JSON encoding when a sized
// encoder handles v.
func JSONSize(v any) (int, bool) {
	e, ok := sizedJSONEncoder(v)
	if !ok {
		return 0, false
	}
	return e.size(v)
}

// WriteJSONPieces writes v's JSON encoding (v must be one JSONSize
// handles) to w through a buffer of piece bytes (at least 8 KiB), and
// returns the bytes written and the first write error. Once a write fails,
// the rest of the encoding is discarded.
func WriteJSONPieces(w io.Writer, v any, piece int) (int, error) {
	e, ok := sizedJSONEncoder(v)
	if !ok {
		return 0, errors.New("awsproto: no sized encoder for the response")
	}
	p := getBody(int64(max(piece, minPieceSize)))
	defer releaseBody(p)
	var written int
	var werr error
	flush := func(b []byte) []byte {
		if werr == nil && len(b) > 0 {
			var n int
			n, werr = w.Write(b)
			written += n
		}
		return b[:0]
	}
	rest := e.write((*p)[:0], v, flush)
	flush(rest)
	return written, werr
}

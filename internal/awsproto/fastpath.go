package awsproto

import (
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

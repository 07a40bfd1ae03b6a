package kinesis

import (
	"github.com/segmentio/asm/base64"
)

// Records' data travels in base64 both ways: PutRecords and PutRecord
// requests carry it, GetRecords responses return it, and encoding/base64,
// one character at a time, was one of the largest costs of each (13% of
// ingest CPU, 12-23% of read-back). github.com/segmentio/asm/base64 does
// the bulk 24 bytes (32 characters) per step with AVX2 on amd64 and NEON
// on arm64, and hands what is left to encoding/base64 (which is all of it
// without those instructions or under the purego build tag). Its results
// are encoding/base64's: the same characters out, and the same bytes out
// of the same accepted inputs (TestBase64EdgeCases and FuzzBase64 hold it
// to that).

// strictStd decodes like base64.StdEncoding.Strict() from encoding/base64:
// padding required, non-zero trailing bits refused, '\r' and '\n' skipped.
var strictStd = base64.StdEncoding.Strict()

// decodeBase64 decodes src into dst as encoding/base64's
// StdEncoding.Strict().Decode would and reports the bytes written; ok is
// false where that would fail. dst must hold decodedRoom(len(src)) bytes.
// (The error itself is not returned: its offset would count from where the
// vector code stopped, not from the start of src, and the fast decoders
// fall back to the generic one for the error anyway.)
func decodeBase64(dst, src []byte) (n int, ok bool) {
	n, err := strictStd.Decode(dst, src)
	return n, err == nil
}

// decodedRoom is the room decodeBase64 needs for n characters: up to two
// bytes more than the data when it ends in padding, since the vector code
// stores whole 32-byte blocks (never past this room).
func decodedRoom(n int) int {
	return base64.StdEncoding.DecodedLen(n)
}

// appendBase64 appends the standard, padded base64 encoding of src to dst,
// byte for byte base64.StdEncoding's.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	start := len(dst)
	if cap(dst)-start < n {
		grown := make([]byte, start, start+n)
		copy(grown, dst)
		dst = grown
	}
	base64.StdEncoding.Encode(dst[start:start+n], src)
	return dst[:start+n]
}

package kinesis

import (
	"encoding/base64"
	"encoding/binary"
)

// GetRecords responses carry every record's data in base64, and encoding
// it was the largest single cost of serving them (encoding/base64 looks up
// one character at a time). appendBase64 encodes six bytes at a time with
// a table of character pairs: one 8-byte load, four lookups and one 8-byte
// store. The output is byte for byte base64.StdEncoding's.

const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// base64Pairs maps 12 bits to their two characters, the first in the low
// byte.
var base64Pairs = func() (t [4096]uint16) {
	for i := range t {
		t[i] = uint16(stdAlphabet[i>>6]) | uint16(stdAlphabet[i&63])<<8
	}
	return t
}()

// appendBase64 appends the standard, padded base64 encoding of src to dst.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	start := len(dst)
	if cap(dst)-start < n {
		grown := make([]byte, start, start+n)
		copy(grown, dst)
		dst = grown
	}
	out := dst[start : start+n]
	i, j := 0, 0
	// Each step reads 8 bytes and encodes the first 6.
	for ; len(src)-i >= 8; i, j = i+6, j+8 {
		v := binary.BigEndian.Uint64(src[i:])
		binary.LittleEndian.PutUint64(out[j:], uint64(base64Pairs[v>>52])|
			uint64(base64Pairs[v>>40&0xfff])<<16|
			uint64(base64Pairs[v>>28&0xfff])<<32|
			uint64(base64Pairs[v>>16&0xfff])<<48)
	}
	base64.StdEncoding.Encode(out[j:], src[i:])
	return dst[:start+n]
}

// Package hashkey holds Kinesis hash keys: unsigned 128-bit integers, the
// MD5 of a partition key read big-endian or an ExplicitHashKey, that route
// a record to the shard whose range contains them. The server's domain and
// the public aggregation library share it.
package hashkey

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
	"math/bits"
)

// Key is an unsigned 128-bit hash key.
type Key struct{ Hi, Lo uint64 }

// Max is 2^128 - 1, the end of the hash-key space.
var Max = Key{Hi: ^uint64(0), Lo: ^uint64(0)}

// Of returns the hash key Kinesis derives from a partition key: the MD5 of
// its UTF-8 bytes read as an unsigned big-endian integer.
func Of(partitionKey []byte) Key {
	sum := md5.Sum(partitionKey)
	return Key{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

// Parse reads a decimal hash key as the API writes it (the model's pattern
// 0|([1-9]\d{0,38})) in [0, 2^128-1]. ok is false for anything else.
func Parse(s string) (k Key, ok bool) {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return Key{}, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Key{}, false
		}
		// k = k*10 + d, failing on overflow past 2^128-1.
		hiHi, hiLo := bits.Mul64(k.Hi, 10)
		loHi, loLo := bits.Mul64(k.Lo, 10)
		lo, carry := bits.Add64(loLo, uint64(c-'0'), 0)
		loHi += carry
		hi, carry2 := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || carry2 != 0 {
			return Key{}, false
		}
		k = Key{Hi: hi, Lo: lo}
	}
	return k, true
}

// Cmp compares k with o: -1, 0 or +1.
func (k Key) Cmp(o Key) int {
	switch {
	case k.Hi < o.Hi:
		return -1
	case k.Hi > o.Hi:
		return 1
	case k.Lo < o.Lo:
		return -1
	case k.Lo > o.Lo:
		return 1
	}
	return 0
}

// Add1 returns k+1 (wrapping at 2^128).
func (k Key) Add1() Key {
	lo, carry := bits.Add64(k.Lo, 1, 0)
	return Key{Hi: k.Hi + carry, Lo: lo}
}

// Sub1 returns k-1 (wrapping at 0).
func (k Key) Sub1() Key {
	lo, borrow := bits.Sub64(k.Lo, 1, 0)
	return Key{Hi: k.Hi - borrow, Lo: lo}
}

// Big returns k as a big.Int.
func (k Key) Big() *big.Int {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.Hi)
	binary.BigEndian.PutUint64(b[8:], k.Lo)
	return new(big.Int).SetBytes(b[:])
}

// FromBig converts v, which must be in [0, 2^128-1].
func FromBig(v *big.Int) Key {
	var b [16]byte
	v.FillBytes(b[:])
	return Key{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}
}

// String returns k in decimal, the form the API uses.
func (k Key) String() string { return k.Big().String() }

package streams

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
)

// HashKey is an unsigned 128-bit hash key: the MD5 of a partition key read
// as a big-endian integer, or an ExplicitHashKey.
type HashKey struct{ Hi, Lo uint64 }

// MaxHashKey is 2^128 - 1, the end of the last shard's range.
var MaxHashKey = HashKey{Hi: ^uint64(0), Lo: ^uint64(0)}

// HashPartitionKey returns the hash key Kinesis derives from a partition
// key: MD5 of its UTF-8 bytes as an unsigned big-endian 128-bit integer.
func HashPartitionKey(pk []byte) HashKey {
	sum := md5.Sum(pk)
	return HashKey{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

// Cmp compares k with o: -1, 0 or +1.
func (k HashKey) Cmp(o HashKey) int {
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
func (k HashKey) Add1() HashKey {
	lo := k.Lo + 1
	hi := k.Hi
	if lo == 0 {
		hi++
	}
	return HashKey{Hi: hi, Lo: lo}
}

// Sub1 returns k-1 (wrapping at 0).
func (k HashKey) Sub1() HashKey {
	lo := k.Lo - 1
	hi := k.Hi
	if k.Lo == 0 {
		hi--
	}
	return HashKey{Hi: hi, Lo: lo}
}

// Big returns k as a big.Int.
func (k HashKey) Big() *big.Int {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.Hi)
	binary.BigEndian.PutUint64(b[8:], k.Lo)
	return new(big.Int).SetBytes(b[:])
}

// String returns k in decimal, the form the API uses.
func (k HashKey) String() string { return k.Big().String() }

// hashKeyFromBig converts v, which must be in [0, 2^128-1].
func hashKeyFromBig(v *big.Int) HashKey {
	var b [16]byte
	v.FillBytes(b[:])
	return HashKey{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}
}

// ParseHashKey parses a decimal hash key. ok is false when s is not a
// decimal integer in [0, 2^128-1].
func ParseHashKey(s string) (k HashKey, ok bool) {
	if s == "" || len(s) > 40 {
		return HashKey{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return HashKey{}, false
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 128 {
		return HashKey{}, false
	}
	return hashKeyFromBig(v), true
}

// InitialRanges returns the hash key ranges AWS gives the n shards of a new
// stream: h = floor(2^128 / n); shard i covers [i*h, (i+1)*h - 1] and the
// last shard ends at 2^128 - 1.
func InitialRanges(n int) (starts, ends []HashKey) {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	h := new(big.Int).Div(space, big.NewInt(int64(n)))
	starts = make([]HashKey, n)
	ends = make([]HashKey, n)
	for i := 0; i < n; i++ {
		s := new(big.Int).Mul(h, big.NewInt(int64(i)))
		starts[i] = hashKeyFromBig(s)
		if i == n-1 {
			ends[i] = MaxHashKey
		} else {
			e := new(big.Int).Add(s, h)
			ends[i] = hashKeyFromBig(e.Sub(e, big.NewInt(1)))
		}
	}
	return starts, ends
}

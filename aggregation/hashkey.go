package aggregation

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
)

// HashKey is an unsigned 128-bit Kinesis hash key.
type HashKey struct{ Hi, Lo uint64 }

// MaxHashKey is 2^128-1, the end of the hash-key space.
var MaxHashKey = HashKey{Hi: ^uint64(0), Lo: ^uint64(0)}

// PartitionKeyHash returns the hash key Kinesis routes a partition key by:
// the MD5 of its UTF-8 bytes read as a big-endian unsigned integer.
func PartitionKeyHash(partitionKey string) HashKey {
	sum := md5.Sum([]byte(partitionKey))
	return HashKey{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1] as the API writes
// it (the model's pattern is 0|([1-9]\d{0,38})).
func ParseHashKey(s string) (HashKey, error) {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return HashKey{}, fmt.Errorf("aggregation: hash key %q is not a decimal integer in [0, 2^128-1]", s)
	}
	var k HashKey
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return HashKey{}, fmt.Errorf("aggregation: hash key %q is not a decimal integer in [0, 2^128-1]", s)
		}
		// k = k*10 + d, failing on overflow past 2^128-1.
		hiHi, hiLo := bits.Mul64(k.Hi, 10)
		loHi, loLo := bits.Mul64(k.Lo, 10)
		lo, carry := bits.Add64(loLo, uint64(c-'0'), 0)
		loHi += carry
		hi, carry2 := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || carry2 != 0 {
			return HashKey{}, fmt.Errorf("aggregation: hash key %q is larger than 2^128-1", s)
		}
		k = HashKey{Hi: hi, Lo: lo}
	}
	return k, nil
}

// EffectiveHashKey returns the hash key a record is routed by: its explicit
// hash key when it has one, else the hash of its partition key.
func EffectiveHashKey(partitionKey, explicitHashKey string) (HashKey, error) {
	if explicitHashKey != "" {
		return ParseHashKey(explicitHashKey)
	}
	return PartitionKeyHash(partitionKey), nil
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

// String returns k in decimal, the form the API uses.
func (k HashKey) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.Hi)
	binary.BigEndian.PutUint64(b[8:], k.Lo)
	return new(big.Int).SetBytes(b[:]).String()
}

// HashRange is a shard's inclusive hash-key range.
type HashRange struct{ Start, End HashKey }

// ParseHashRange parses a shard's StartingHashKey and EndingHashKey.
func ParseHashRange(start, end string) (HashRange, error) {
	s, err := ParseHashKey(start)
	if err != nil {
		return HashRange{}, err
	}
	e, err := ParseHashKey(end)
	if err != nil {
		return HashRange{}, err
	}
	if s.Cmp(e) > 0 {
		return HashRange{}, fmt.Errorf("aggregation: hash range starts at %s after its end %s", start, end)
	}
	return HashRange{Start: s, End: e}, nil
}

// Contains reports whether k lies in r.
func (r HashRange) Contains(k HashKey) bool {
	return r.Start.Cmp(k) <= 0 && k.Cmp(r.End) <= 0
}

package streams

import (
	"math/big"

	"github.com/millrace/millrace/internal/hashkey"
)

// HashKey is an unsigned 128-bit hash key: the MD5 of a partition key read
// as a big-endian integer, or an ExplicitHashKey.
type HashKey = hashkey.Key

// MaxHashKey is 2^128 - 1, the end of the last shard's range.
var MaxHashKey = hashkey.Max

// HashPartitionKey returns the hash key Kinesis derives from a partition
// key: MD5 of its UTF-8 bytes as an unsigned big-endian 128-bit integer.
func HashPartitionKey(pk []byte) HashKey { return hashkey.Of(pk) }

// ParseHashKey parses a decimal hash key. ok is false when s is not a
// decimal integer in [0, 2^128-1] in the API's form.
func ParseHashKey(s string) (HashKey, bool) { return hashkey.Parse(s) }

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
		starts[i] = hashkey.FromBig(s)
		if i == n-1 {
			ends[i] = MaxHashKey
		} else {
			e := new(big.Int).Add(s, h)
			ends[i] = hashkey.FromBig(e.Sub(e, big.NewInt(1)))
		}
	}
	return starts, ends
}

package aggregation

import (
	"fmt"

	"github.com/millrace/millrace/internal/hashkey"
)

// HashKey is an unsigned 128-bit Kinesis hash key. Cmp compares two keys
// and String writes one in decimal, as the API does.
type HashKey = hashkey.Key

// MaxHashKey is 2^128-1, the end of the hash-key space.
var MaxHashKey = hashkey.Max

// PartitionKeyHash returns the hash key Kinesis routes a partition key by:
// the MD5 of its UTF-8 bytes read as a big-endian unsigned integer.
func PartitionKeyHash(partitionKey string) HashKey {
	return hashkey.Of([]byte(partitionKey))
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1] as the API writes
// it (the model's pattern is 0|([1-9]\d{0,38})).
func ParseHashKey(s string) (HashKey, error) {
	k, ok := hashkey.Parse(s)
	if !ok {
		return HashKey{}, fmt.Errorf("aggregation: hash key %q is not a decimal integer in [0, 2^128-1]", s)
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

package pebble

import (
	"encoding/binary"
	"errors"

	"github.com/millrace/millrace/internal/storage"
)

// Key layout. Every key starts with one prefix byte naming its family; all
// integers are big-endian so that byte order is numeric order.
//
//	record      'r' stream u64 shard u32 seq u64           -> arrival i64, uvarint len(pk), pk, data
//	time index  't' stream u64 shard u32 arrival u64 seq u64 -> (empty)
//	shard meta  'm' stream u64 shard u32                    -> floor u64, last arrival i64
//	catalog     'c' key...                                  -> rev u64, value
//	catalog rev 'v'                                         -> last revision u64
//
// The time index holds one entry per Append (all entries of one Append share
// an arrival), keyed by arrival then the Append's first sequence number, so
// SeekTime is one seek. Arrivals never decrease within a shard, so the index
// order is also sequence order.
//
// The shard meta entry is written by Trim: it remembers the lowest sequence
// number still allowed and the last arrival, so that a shard whose records
// were all trimmed keeps numbering upwards after a restart.
//
// Values carry no checksum of their own: Pebble checksums every WAL chunk and
// every sstable block, and a torn WAL tail is discarded on recovery as a
// whole batch.
const (
	prefixRecord     byte = 'r'
	prefixTimeIndex  byte = 't'
	prefixShardMeta  byte = 'm'
	prefixCatalog    byte = 'c'
	prefixCatalogRev byte = 'v'

	shardPrefixLen = 1 + 8 + 4
	recordKeyLen   = shardPrefixLen + 8
	indexKeyLen    = shardPrefixLen + 8 + 8
	arrivalLen     = 8
)

var errCorrupt = errors.New("pebble: corrupt record")

func putShardPrefix(b []byte, prefix byte, sk storage.ShardKey) {
	b[0] = prefix
	binary.BigEndian.PutUint64(b[1:9], sk.Stream)
	binary.BigEndian.PutUint32(b[9:13], sk.Shard)
}

func shardPrefix(prefix byte, sk storage.ShardKey) []byte {
	b := make([]byte, shardPrefixLen)
	putShardPrefix(b, prefix, sk)
	return b
}

func putRecordKey(b []byte, sk storage.ShardKey, seq uint64) {
	putShardPrefix(b, prefixRecord, sk)
	binary.BigEndian.PutUint64(b[shardPrefixLen:], seq)
}

func recordKey(sk storage.ShardKey, seq uint64) []byte {
	b := make([]byte, recordKeyLen)
	putRecordKey(b, sk, seq)
	return b
}

func recordKeySeq(key []byte) (uint64, error) {
	if len(key) != recordKeyLen {
		return 0, errCorrupt
	}
	return binary.BigEndian.Uint64(key[shardPrefixLen:]), nil
}

// orderedArrival maps an int64 onto a uint64 with the same order, so that
// negative arrivals (allowed, if unusual) still sort first.
func orderedArrival(a int64) uint64 { return uint64(a) ^ (1 << 63) }

func indexKey(sk storage.ShardKey, arrival int64, seq uint64) []byte {
	b := make([]byte, indexKeyLen)
	putShardPrefix(b, prefixTimeIndex, sk)
	binary.BigEndian.PutUint64(b[shardPrefixLen:], orderedArrival(arrival))
	binary.BigEndian.PutUint64(b[shardPrefixLen+8:], seq)
	return b
}

// indexTimeKey is the smallest index key with the given arrival.
func indexTimeKey(sk storage.ShardKey, arrival int64) []byte {
	b := make([]byte, shardPrefixLen+8)
	putShardPrefix(b, prefixTimeIndex, sk)
	binary.BigEndian.PutUint64(b[shardPrefixLen:], orderedArrival(arrival))
	return b
}

func indexKeySeq(key []byte) (uint64, error) {
	if len(key) != indexKeyLen {
		return 0, errCorrupt
	}
	return binary.BigEndian.Uint64(key[shardPrefixLen+8:]), nil
}

// recordValueLen is the encoded size of a record value.
func recordValueLen(e *storage.Entry) int {
	return arrivalLen + uvarintLen(uint64(len(e.PartitionKey))) + len(e.PartitionKey) + len(e.Data)
}

func putRecordValue(b []byte, arrival int64, e *storage.Entry) {
	binary.BigEndian.PutUint64(b, uint64(arrival))
	n := arrivalLen + binary.PutUvarint(b[arrivalLen:], uint64(len(e.PartitionKey)))
	n += copy(b[n:], e.PartitionKey)
	copy(b[n:], e.Data)
}

// decodeRecordValue splits a stored value without copying.
func decodeRecordValue(v []byte) (arrival int64, pk, data []byte, err error) {
	if len(v) < arrivalLen+1 {
		return 0, nil, nil, errCorrupt
	}
	arrival = int64(binary.BigEndian.Uint64(v))
	l, n := binary.Uvarint(v[arrivalLen:])
	if n <= 0 || l > uint64(len(v)-arrivalLen-n) {
		return 0, nil, nil, errCorrupt
	}
	rest := v[arrivalLen+n:]
	return arrival, rest[:l], rest[l:], nil
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

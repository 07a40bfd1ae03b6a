package streams

import "testing"

func BenchmarkSequenceNumberDecimal(b *testing.B) {
	n := seqNum{ShardCreateSecs: 1_700_000_000, Index: 123_456_789, RecordSecs: 1_700_000_100, Shard: 3, StreamTag: 7}
	var buf [80]byte
	for i := 0; b.Loop(); i++ {
		n.Index = uint64(i)
		_ = n.encode().appendDecimal(buf[:0])
	}
}

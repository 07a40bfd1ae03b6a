package streams

import (
	"strconv"
	"testing"
)

// BenchmarkRoute is hash-key routing of one record: the partition key's
// MD5 and the search for the open shard that covers it.
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{4, 100} {
		b.Run(strconv.Itoa(n)+"shards", func(b *testing.B) {
			starts, ends := InitialRanges(n)
			st := &Stream{Name: "bench", Account: "000000000000"}
			for i := range n {
				st.Shards = append(st.Shards, Shard{Index: uint32(i), StartingHashKey: starts[i], EndingHashKey: ends[i], ParentIndex: -1, AdjacentParentIndex: -1})
			}
			st.seal() // as published snapshots are
			entries := make([]PutEntry, 512)
			for i := range entries {
				entries[i] = PutEntry{PartitionKey: "partition-key-" + strconv.Itoa(i*7919)}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := route(st, &entries[i%len(entries)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

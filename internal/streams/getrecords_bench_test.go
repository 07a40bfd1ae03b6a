package streams

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkGetRecords is the domain's side of one GetRecords call of
// 10,000 records of 100 bytes from in-memory storage: the storage read
// (a slice of stored records here) and the records' sequence numbers and
// partition keys.
func BenchmarkGetRecords(b *testing.B) {
	ctx := context.Background()
	s, err := New(ctx, Options{Log: newMemLog(), Catalog: newMemCatalog(), RetentionCheckInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "bench", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	const n = 10_000
	data := make([]byte, 100)
	for i := 0; i < n; i += 500 {
		entries := make([]PutEntry, 500)
		for j := range entries {
			entries[j] = PutEntry{Data: data, PartitionKey: "partition-key-" + strconv.Itoa(i+j)}
		}
		if _, err := s.PutRecords(ctx, ref("bench"), entries); err != nil {
			b.Fatal(err)
		}
	}
	it, err := s.GetShardIterator(ctx, IteratorParams{Ref: ref("bench"), ShardID: "shardId-000000000000", Type: "TRIM_HORIZON"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.GetRecords(ctx, it, n)
		if err != nil || len(res.Records) != n {
			b.Fatalf("%d records, %v", len(res.Records), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
}

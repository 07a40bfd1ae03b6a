package streams

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkPutRecords is the domain's side of one PutRecords call of 500
// records of 100 bytes over 4 shards into in-memory storage: validation,
// routing, admission, the append and the per-record results.
func BenchmarkPutRecords(b *testing.B) {
	ctx := context.Background()
	s, err := New(ctx, Options{Log: newMemLog(), Catalog: newMemCatalog(), RetentionCheckInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "bench", ShardCount: 4}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 100)
	entries := make([]PutEntry, 500)
	for j := range entries {
		entries[j] = PutEntry{Data: data, PartitionKey: "partition-key-" + strconv.Itoa(j)}
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.PutRecords(ctx, ref("bench"), entries)
		if err != nil || res.FailedCount != 0 {
			b.Fatalf("%v, %d failed", err, res.FailedCount)
		}
	}
}

// BenchmarkPutRecord is the domain's side of one PutRecord call of 100
// bytes into in-memory storage.
func BenchmarkPutRecord(b *testing.B) {
	ctx := context.Background()
	s, err := New(ctx, Options{Log: newMemLog(), Catalog: newMemCatalog(), RetentionCheckInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "bench", ShardCount: 4}); err != nil {
		b.Fatal(err)
	}
	e := PutEntry{Data: make([]byte, 100), PartitionKey: "partition-key"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.PutRecord(ctx, ref("bench"), e, ""); err != nil {
			b.Fatal(err)
		}
	}
}

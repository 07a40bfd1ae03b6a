package cloudwatch

import (
	"context"
	"testing"

	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/streams"
)

// Streams and shards on which nothing was counted report no samples (a
// server with many idle shards keeps no state for them); the first call
// on a shard brings its series, counting from zero.
func TestKinesisSourceSkipsIdle(t *testing.T) {
	ctx := context.Background()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s, err := streams.New(ctx, streams.Options{Log: eng, Catalog: eng})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const acct, region = "123456789012", "us-east-1"
	if err := s.CreateStream(ctx, streams.CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 3}); err != nil {
		t.Fatal(err)
	}
	src := KinesisSource{Streams: s}
	if got := src.Sample(); len(got) != 0 {
		t.Fatalf("idle stream: %d samples, want none (first: %+v)", len(got), got[0].Key)
	}
	ref := streams.StreamRef{Account: acct, Region: region, Name: "s"}
	if _, _, err := s.PutRecord(ctx, ref, streams.PutEntry{PartitionKey: "k", Data: []byte("abc"), ExplicitHashKey: "0"}, ""); err != nil {
		t.Fatal(err)
	}
	shards := map[string]bool{}
	var incoming float64
	for _, sm := range src.Sample() {
		for _, d := range sm.Key.Dims {
			if d.Name == "ShardId" {
				shards[d.Value] = true
			}
		}
		if sm.Key.Metric == "IncomingRecords" && len(sm.Key.Dims) == 1 {
			incoming = sm.Sum
		}
	}
	if len(shards) != 1 || !shards["shardId-000000000000"] {
		t.Errorf("shards sampled after one put: %v, want only shardId-000000000000", shards)
	}
	if incoming != 1 {
		t.Errorf("stream IncomingRecords %v, want 1", incoming)
	}
}

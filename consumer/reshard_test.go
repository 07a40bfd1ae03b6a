package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Resharding while workers run: per-key order holds across parents and
// children, nothing is lost, every ended shard is checkpointed SHARD_END
// and its lease is deleted once its children have checkpointed.
func TestReshardingKeepsOrder(t *testing.T) {
	e := newEnv(t)
	e.createStream("reshard", 2)
	keys := keysN(20)
	s := newSink()
	cfg := fastConfig("reshard-app", "reshard")
	w1 := e.startWorker(cfg, "w1", s)
	w2 := e.startWorker(cfg, "w2", s)
	stop := e.writer("reshard", keys, 0)
	ctx := context.Background()
	waitRecords := func(n int) {
		e.eventually(60*time.Second, "records flowing", func() bool { return s.distinct() >= n })
	}
	waitRecords(200)
	if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("reshard"),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
		t.Fatal(err)
	}
	e.waitActive("reshard")
	waitRecords(s.distinct() + 200)
	if _, err := e.kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("reshard"),
		ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatal(err)
	}
	e.waitActive("reshard")
	waitRecords(s.distinct() + 200)
	if _, err := e.kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("reshard"),
		TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	e.waitActive("reshard")
	waitRecords(s.distinct() + 200)
	rounds := stop()
	e.eventually(60*time.Second, "every record processed", func() bool { return len(s.missing(keys, 0, rounds)) == 0 })
	s.mu.Lock()
	gaps := s.gaps
	s.mu.Unlock()
	if len(gaps) > 0 {
		t.Fatalf("records of a key out of order or skipped: %v", gaps[:min(5, len(gaps))])
	}

	out, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("reshard")})
	if err != nil {
		t.Fatal(err)
	}
	closed := 0
	for _, sh := range out.Shards {
		if sh.SequenceNumberRange.EndingSequenceNumber != nil {
			closed++
		}
	}
	// Children checkpoint only when they get records; every key writes to
	// every open shard here, so every ended shard's lease goes away.
	e.eventually(60*time.Second, "finished leases deleted", func() bool {
		leases, err := w1.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			if l.Finished() {
				return false
			}
		}
		return len(leases) == len(out.Shards)-closed
	})
	s.mu.Lock()
	ends := len(s.shardEnds)
	s.mu.Unlock()
	if ends != closed {
		t.Fatalf("%d shards checkpointed SHARD_END, want the %d closed", ends, closed)
	}
	t.Logf("%d records over %d shards (%d closed), %d redelivered", len(keys)*rounds, len(out.Shards), closed, s.duplicates())
	shutdown(t, w1)
	shutdown(t, w2)
}

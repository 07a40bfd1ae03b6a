package consumer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Enhanced fan-out: the worker registers its consumer, subscribes to its
// shards, follows a split through ChildShards, and hands over to another
// worker on failover.
func TestFanOutRetrieval(t *testing.T) {
	e := newEnv(t)
	e.createStream("efo", 2)
	keys := keysN(12)
	e.put("efo", keys, 0, 10)
	s := newSink()
	cfg := fastConfig("efo-app", "efo")
	cfg.Retrieval = FanOut
	w1 := e.startWorker(cfg, "w1", s)
	w2 := e.startWorker(cfg, "w2", s)
	e.eventually(60*time.Second, "records before the split", func() bool { return len(s.missing(keys, 0, 10)) == 0 })
	ctx := context.Background()
	c, err := e.kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(w1.streams[0].arn), ConsumerName: aws.String("efo-app")})
	if err != nil || c.ConsumerDescription.ConsumerStatus != types.ConsumerStatusActive {
		t.Fatalf("consumer not registered: %v", err)
	}
	if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("efo"),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
		t.Fatal(err)
	}
	e.waitActive("efo")
	e.put("efo", keys, 10, 20)
	e.eventually(60*time.Second, "records after the split", func() bool { return len(s.missing(keys, 0, 20)) == 0 })
	w1.abort()
	e.put("efo", keys, 20, 30)
	e.eventually(60*time.Second, "records after the failover", func() bool { return len(s.missing(keys, 0, 30)) == 0 })
	if len(s.gaps) > 0 {
		t.Fatalf("records of a key out of order: %v", s.gaps[:min(5, len(s.gaps))])
	}
	if st := w2.Stats(); st.GetRecordsCalls != 0 {
		t.Fatalf("%d GetRecords calls with enhanced fan-out", st.GetRecordsCalls)
	}
	shutdown(t, w2)
}

// Several streams in one worker: multi-stream lease keys.
func TestMultiStream(t *testing.T) {
	e := newEnv(t)
	e.createStream("ms-a", 2)
	e.createStream("ms-b", 1)
	keys := keysN(6)
	e.put("ms-a", keys, 0, 5)
	e.put("ms-b", keys, 100, 105)
	s := newSink()
	w := e.startWorker(fastConfig("ms-app", "ms-a", "ms-b"), "w1", s)
	e.eventually(30*time.Second, "records of both streams", func() bool {
		return len(s.missing(keys, 0, 5)) == 0 && len(s.missing(keys, 100, 105)) == 0
	})
	leases, err := w.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 3 {
		t.Fatalf("%d leases, want 3", len(leases))
	}
	for _, l := range leases {
		parts := strings.Split(l.Key, ":")
		if len(parts) != 4 || parts[0] != "000000000000" || l.StreamName != strings.Join(parts[:3], ":") || l.ShardID != parts[3] {
			t.Errorf("multi-stream lease key %q (streamName %q, shardId %q), want account:stream:epoch:shard", l.Key, l.StreamName, l.ShardID)
		}
	}
	shutdown(t, w)
}

package producer_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/producer"
)

// oneShard is a stand-in for *kinesis.Client: a stream of one shard.
type oneShard struct {
	mu  sync.Mutex
	seq int
}

func (c *oneShard) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: []types.Shard{{
		ShardId:             aws.String("shardId-000000000000"),
		HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String(aggregation.MaxHashKey.String())},
		SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")},
	}}}, nil
}

func (c *oneShard) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	for range in.Records {
		c.seq++
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(strconv.Itoa(c.seq))})
	}
	return out, nil
}

func Example() {
	// With a real stream: client := kinesis.NewFromConfig(cfg).
	client := &oneShard{}
	p, err := producer.New(client, "my-stream", producer.Options{})
	if err != nil {
		panic(err)
	}
	var futures []*producer.Future
	for _, pk := range []string{"alice", "bob", "alice"} {
		f, err := p.Put(context.Background(), pk, []byte("event of "+pk))
		if err != nil {
			panic(err)
		}
		futures = append(futures, f)
	}
	if err := p.Close(context.Background()); err != nil {
		panic(err)
	}
	for _, f := range futures {
		r := f.Result()
		fmt.Println(r.ShardID, r.SequenceNumber, r.SubSequenceNumber, r.Aggregated, r.Err)
	}
	// Output:
	// shardId-000000000000 1 0 true <nil>
	// shardId-000000000000 1 1 true <nil>
	// shardId-000000000000 1 2 true <nil>
}

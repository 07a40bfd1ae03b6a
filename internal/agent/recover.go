package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

// recoverDelivered reads every shard of stream to its end, from after the
// sequence number after gives for the shard or else from since, and
// counts the partition keys of the user records found (aggregates are
// unpacked). Records put by the previous run but not acknowledged before
// it stopped are among them: the flow skips a record whose key is counted
// instead of sending it again.
func recoverDelivered(ctx context.Context, client *kinesis.Client, stream string, since time.Time, after map[string]string, log *slog.Logger) (map[string]int, error) {
	keys := map[string]int{}
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	for _, sh := range shards {
		in := &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(since),
		}
		if seq := after[aws.ToString(sh.ShardId)]; seq != "" {
			in.ShardIteratorType, in.Timestamp, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, nil, aws.String(seq)
		}
		it, err := client.GetShardIterator(ctx, in)
		if err != nil {
			return nil, err
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return nil, err
			}
			for _, r := range aggregation.Deaggregate(out.Records) {
				keys[r.PartitionKey]++
			}
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
		}
		log.Debug("read back shard", "shard", aws.ToString(sh.ShardId))
	}
	return keys, nil
}

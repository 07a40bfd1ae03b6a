package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

func (svc *Service) listShards(ctx context.Context, in *kinesisapi.ListShardsInput) (*kinesisapi.ListShardsOutput, error) {
	p := streams.ListShardsParams{
		Ref:                   streamRef(ctx, in.StreamName, in.StreamARN),
		NextToken:             awsproto.Value(in.NextToken),
		ExclusiveStartShardID: awsproto.Value(in.ExclusiveStartShardId),
		MaxResults:            int(awsproto.Value(in.MaxResults)),
	}
	if in.StreamCreationTimestamp != nil {
		t := in.StreamCreationTimestamp.Time
		p.StreamCreationTimestamp = &t
	}
	if f := in.ShardFilter; f != nil {
		p.Filter = &streams.ShardFilter{Type: string(awsproto.Value(f.Type)), ShardID: awsproto.Value(f.ShardId)}
		if f.Timestamp != nil {
			t := f.Timestamp.Time
			p.Filter.Timestamp = &t
		}
	}
	page, err := svc.s.ListShards(p)
	if err != nil {
		return nil, err
	}
	out := &kinesisapi.ListShardsOutput{Shards: make([]kinesisapi.Shard, len(page.Shards))}
	for i, sh := range page.Shards {
		out.Shards[i] = shardShape(page.Stream, sh)
	}
	if page.NextToken != "" {
		out.NextToken = ptr(page.NextToken)
	}
	return out, nil
}

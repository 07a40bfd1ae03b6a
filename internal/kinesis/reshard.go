package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

func (svc *Service) splitShard(ctx context.Context, in *kinesisapi.SplitShardInput) (*awsproto.Empty, error) {
	return nil, svc.s.SplitShard(ctx, streamRef(ctx, in.StreamName, in.StreamARN),
		awsproto.Value(in.ShardToSplit), awsproto.Value(in.NewStartingHashKey))
}

func (svc *Service) mergeShards(ctx context.Context, in *kinesisapi.MergeShardsInput) (*awsproto.Empty, error) {
	return nil, svc.s.MergeShards(ctx, streamRef(ctx, in.StreamName, in.StreamARN),
		awsproto.Value(in.ShardToMerge), awsproto.Value(in.AdjacentShardToMerge))
}

func (svc *Service) updateShardCount(ctx context.Context, in *kinesisapi.UpdateShardCountInput) (*kinesisapi.UpdateShardCountOutput, error) {
	res, err := svc.s.UpdateShardCount(ctx, streamRef(ctx, in.StreamName, in.StreamARN),
		int(awsproto.Value(in.TargetShardCount)), string(awsproto.Value(in.ScalingType)))
	if err != nil {
		return nil, err
	}
	return &kinesisapi.UpdateShardCountOutput{
		StreamName:        ptr(res.Stream.Name),
		StreamARN:         ptr(res.Stream.ARN),
		CurrentShardCount: ptr(int32(res.Current)),
		TargetShardCount:  ptr(int32(res.Target)),
	}, nil
}

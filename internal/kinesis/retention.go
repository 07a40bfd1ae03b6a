package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

func (svc *Service) increaseRetention(ctx context.Context, in *kinesisapi.IncreaseStreamRetentionPeriodInput) (*awsproto.Empty, error) {
	return nil, svc.s.IncreaseRetention(ctx, streamRef(ctx, in.StreamName, in.StreamARN), int(awsproto.Value(in.RetentionPeriodHours)))
}

func (svc *Service) decreaseRetention(ctx context.Context, in *kinesisapi.DecreaseStreamRetentionPeriodInput) (*awsproto.Empty, error) {
	return nil, svc.s.DecreaseRetention(ctx, streamRef(ctx, in.StreamName, in.StreamARN), int(awsproto.Value(in.RetentionPeriodHours)))
}

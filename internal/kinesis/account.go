package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

func (svc *Service) describeAccountSettings(ctx context.Context, _ *kinesisapi.DescribeAccountSettingsInput) (*kinesisapi.DescribeAccountSettingsOutput, error) {
	a := svc.s.AccountSettings(caller(ctx))
	return &kinesisapi.DescribeAccountSettingsOutput{MinimumThroughputBillingCommitment: commitmentShape(a)}, nil
}

func (svc *Service) updateAccountSettings(ctx context.Context, in *kinesisapi.UpdateAccountSettingsInput) (*kinesisapi.UpdateAccountSettingsOutput, error) {
	account, region := caller(ctx)
	enable := awsproto.Value(in.MinimumThroughputBillingCommitment.Status) == kinesisapi.MinimumThroughputBillingCommitmentInputStatusEnabled
	a, err := svc.s.SetMinimumThroughputCommitment(ctx, account, region, enable)
	if err != nil {
		return nil, err
	}
	return &kinesisapi.UpdateAccountSettingsOutput{MinimumThroughputBillingCommitment: commitmentShape(a)}, nil
}

func commitmentShape(a streams.AccountSettings) *kinesisapi.MinimumThroughputBillingCommitmentOutput {
	out := &kinesisapi.MinimumThroughputBillingCommitmentOutput{
		Status: ptr(kinesisapi.MinimumThroughputBillingCommitmentOutputStatus(a.Commitment)),
	}
	if a.StartedAt != 0 {
		out.StartedAt = timestamp(a.StartedAt)
	}
	if a.EndedAt != 0 {
		out.EndedAt = timestamp(a.EndedAt)
	}
	if a.EarliestAllowedEnd != 0 {
		out.EarliestAllowedEndAt = timestamp(a.EarliestAllowedEnd)
	}
	return out
}

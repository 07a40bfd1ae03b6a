package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// Resource policies are stored and returned; they are enforced once
// requests are authenticated.

func (svc *Service) putResourcePolicy(ctx context.Context, in *kinesisapi.PutResourcePolicyInput) (*awsproto.Empty, error) {
	ref, err := streams.ResourceRef(awsproto.Value(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	return nil, svc.s.PutPolicy(ctx, ref, awsproto.Value(in.Policy))
}

func (svc *Service) getResourcePolicy(ctx context.Context, in *kinesisapi.GetResourcePolicyInput) (*kinesisapi.GetResourcePolicyOutput, error) {
	ref, err := streams.ResourceRef(awsproto.Value(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	p, err := svc.s.GetPolicy(ref)
	if err != nil {
		return nil, err
	}
	return &kinesisapi.GetResourcePolicyOutput{Policy: ptr(p)}, nil
}

func (svc *Service) deleteResourcePolicy(ctx context.Context, in *kinesisapi.DeleteResourcePolicyInput) (*awsproto.Empty, error) {
	ref, err := streams.ResourceRef(awsproto.Value(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	return nil, svc.s.DeletePolicy(ctx, ref)
}

package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// Enhanced fan-out consumers, and the ARN-based tag and resource-policy
// operations when the ARN names a consumer.

func consumerRef(ctx context.Context, arn, streamARN, name *string) streams.ConsumerRef {
	account, region := caller(ctx)
	return streams.ConsumerRef{
		Account: account, Region: region,
		ARN: awsproto.Value(arn), StreamARN: awsproto.Value(streamARN), Name: awsproto.Value(name),
	}
}

func consumerShape(c streams.ConsumerInfo) kinesisapi.Consumer {
	return kinesisapi.Consumer{
		ConsumerName:              ptr(c.Name),
		ConsumerARN:               ptr(c.ARN),
		ConsumerStatus:            ptr(kinesisapi.ConsumerStatus(c.Status)),
		ConsumerCreationTimestamp: timestamp(c.CreatedAt),
	}
}

func (svc *Service) registerStreamConsumer(ctx context.Context, in *kinesisapi.RegisterStreamConsumerInput) (*kinesisapi.RegisterStreamConsumerOutput, error) {
	c, err := svc.s.RegisterConsumer(ctx, streams.RegisterConsumerParams{
		StreamARN: awsproto.Value(in.StreamARN), Name: awsproto.Value(in.ConsumerName), Tags: in.Tags,
	})
	if err != nil {
		return nil, err
	}
	shape := consumerShape(c)
	return &kinesisapi.RegisterStreamConsumerOutput{Consumer: &shape}, nil
}

func (svc *Service) describeStreamConsumer(ctx context.Context, in *kinesisapi.DescribeStreamConsumerInput) (*kinesisapi.DescribeStreamConsumerOutput, error) {
	c, err := svc.s.DescribeConsumer(consumerRef(ctx, in.ConsumerARN, in.StreamARN, in.ConsumerName))
	if err != nil {
		return nil, err
	}
	return &kinesisapi.DescribeStreamConsumerOutput{ConsumerDescription: &kinesisapi.ConsumerDescription{
		ConsumerName:              ptr(c.Name),
		ConsumerARN:               ptr(c.ARN),
		ConsumerStatus:            ptr(kinesisapi.ConsumerStatus(c.Status)),
		ConsumerCreationTimestamp: timestamp(c.CreatedAt),
		StreamARN:                 ptr(c.StreamARN),
	}}, nil
}

func (svc *Service) listStreamConsumers(ctx context.Context, in *kinesisapi.ListStreamConsumersInput) (*kinesisapi.ListStreamConsumersOutput, error) {
	p := streams.ListConsumersParams{
		StreamARN:  awsproto.Value(in.StreamARN),
		MaxResults: int(awsproto.Value(in.MaxResults)),
		NextToken:  awsproto.Value(in.NextToken),
	}
	if in.StreamCreationTimestamp != nil {
		t := in.StreamCreationTimestamp.Time
		p.StreamCreated = &t
	}
	page, err := svc.s.ListConsumers(p)
	if err != nil {
		return nil, err
	}
	out := &kinesisapi.ListStreamConsumersOutput{Consumers: make([]kinesisapi.Consumer, len(page.Consumers))}
	for i, c := range page.Consumers {
		out.Consumers[i] = consumerShape(c)
	}
	if page.NextToken != "" {
		out.NextToken = ptr(page.NextToken)
	}
	return out, nil
}

func (svc *Service) deregisterStreamConsumer(ctx context.Context, in *kinesisapi.DeregisterStreamConsumerInput) (*awsproto.Empty, error) {
	return nil, svc.s.DeregisterConsumer(ctx, consumerRef(ctx, in.ConsumerARN, in.StreamARN, in.ConsumerName))
}

// The ARN-based operations serve streams (tags.go, policy.go) and consumers.

func (svc *Service) tagAnyResource(ctx context.Context, in *kinesisapi.TagResourceInput) (*awsproto.Empty, error) {
	if arn := awsproto.Value(in.ResourceARN); streams.IsConsumerARN(arn) {
		return nil, svc.s.AddConsumerTags(ctx, arn, in.Tags)
	}
	return svc.tagResource(ctx, in)
}

func (svc *Service) untagAnyResource(ctx context.Context, in *kinesisapi.UntagResourceInput) (*awsproto.Empty, error) {
	if arn := awsproto.Value(in.ResourceARN); streams.IsConsumerARN(arn) {
		return nil, svc.s.RemoveConsumerTags(ctx, arn, in.TagKeys)
	}
	return svc.untagResource(ctx, in)
}

func (svc *Service) listTagsForAnyResource(ctx context.Context, in *kinesisapi.ListTagsForResourceInput) (*kinesisapi.ListTagsForResourceOutput, error) {
	if arn := awsproto.Value(in.ResourceARN); streams.IsConsumerARN(arn) {
		tags, err := svc.s.ListConsumerTags(arn)
		if err != nil {
			return nil, err
		}
		return &kinesisapi.ListTagsForResourceOutput{Tags: tagShapes(tags)}, nil
	}
	return svc.listTagsForResource(ctx, in)
}

func (svc *Service) putAnyResourcePolicy(ctx context.Context, in *kinesisapi.PutResourcePolicyInput) (*awsproto.Empty, error) {
	if arn := awsproto.Value(in.ResourceARN); streams.IsConsumerARN(arn) {
		return nil, svc.s.PutConsumerPolicy(ctx, arn, awsproto.Value(in.Policy))
	}
	return svc.putResourcePolicy(ctx, in)
}

func (svc *Service) getAnyResourcePolicy(ctx context.Context, in *kinesisapi.GetResourcePolicyInput) (*kinesisapi.GetResourcePolicyOutput, error) {
	if arn := awsproto.Value(in.ResourceARN); streams.IsConsumerARN(arn) {
		p, err := svc.s.GetConsumerPolicy(arn)
		if err != nil {
			return nil, err
		}
		return &kinesisapi.GetResourcePolicyOutput{Policy: ptr(p)}, nil
	}
	return svc.getResourcePolicy(ctx, in)
}

func (svc *Service) deleteAnyResourcePolicy(ctx context.Context, in *kinesisapi.DeleteResourcePolicyInput) (*awsproto.Empty, error) {
	if arn := awsproto.Value(in.ResourceARN); streams.IsConsumerARN(arn) {
		return nil, svc.s.DeleteConsumerPolicy(ctx, arn)
	}
	return svc.deleteResourcePolicy(ctx, in)
}

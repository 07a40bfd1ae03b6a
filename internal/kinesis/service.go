package kinesis

import (
	"context"
	"log/slog"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// Service is the Kinesis Data Streams API.
type Service struct {
	s      *streams.Streams
	logger *slog.Logger
}

// New returns the API on top of a domain.
func New(s *streams.Streams, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{s: s, logger: logger}
}

// Register serves every operation of the model on r.
func (svc *Service) Register(r *awsproto.Router) {
	hs := svc.handlers()
	for name, h := range hs {
		hs[name] = withService(h, svc)
	}
	r.Register(kinesisapi.TargetPrefix, kinesisapi.JSONVersion, hs)
}

// handlers maps every operation of kinesisapi.Operations to its handler.
func (svc *Service) handlers() map[string]awsproto.Handler {
	return map[string]awsproto.Handler{
		// Streams.
		"CreateStream":          handle(svc.createStream),
		"DeleteStream":          handle(svc.deleteStream),
		"DescribeStream":        handle(svc.describeStream),
		"DescribeStreamSummary": handle(svc.describeStreamSummary),
		"ListStreams":           handle(svc.listStreams),
		"DescribeLimits":        handle(svc.describeLimits),
		"UpdateMaxRecordSize":   handle(svc.updateMaxRecordSize),
		// Tags.
		"AddTagsToStream":      handle(svc.addTagsToStream),
		"RemoveTagsFromStream": handle(svc.removeTagsFromStream),
		"ListTagsForStream":    handle(svc.listTagsForStream),
		"TagResource":          handle(svc.tagAnyResource),
		"UntagResource":        handle(svc.untagAnyResource),
		"ListTagsForResource":  handle(svc.listTagsForAnyResource),
		// Retention.
		"IncreaseStreamRetentionPeriod": handle(svc.increaseRetention),
		"DecreaseStreamRetentionPeriod": handle(svc.decreaseRetention),
		// Account settings.
		"DescribeAccountSettings": handle(svc.describeAccountSettings),
		"UpdateAccountSettings":   handle(svc.updateAccountSettings),
		// Monitoring.
		"EnableEnhancedMonitoring":  handle(svc.enableEnhancedMonitoring),
		"DisableEnhancedMonitoring": handle(svc.disableEnhancedMonitoring),
		// Resource policies.
		"PutResourcePolicy":    handle(svc.putAnyResourcePolicy),
		"GetResourcePolicy":    handle(svc.getAnyResourcePolicy),
		"DeleteResourcePolicy": handle(svc.deleteAnyResourcePolicy),
		// Data plane.
		"PutRecord":        handle(svc.putRecord),
		"PutRecords":       handle(svc.putRecords),
		"GetShardIterator": handle(svc.getShardIterator),
		"GetRecords":       handle(svc.getRecords),
		"ListShards":       handle(svc.listShards),
		// Resharding.
		"SplitShard":       handle(svc.splitShard),
		"MergeShards":      handle(svc.mergeShards),
		"UpdateShardCount": handle(svc.updateShardCount),
		// Capacity modes.
		"UpdateStreamMode":           handle(svc.updateStreamMode),
		"UpdateStreamWarmThroughput": handle(svc.updateStreamWarmThroughput),
		// Server-side encryption.
		"StartStreamEncryption": handle(svc.startStreamEncryption),
		"StopStreamEncryption":  handle(svc.stopStreamEncryption),
		// Enhanced fan-out.
		"RegisterStreamConsumer":   handle(svc.registerStreamConsumer),
		"DescribeStreamConsumer":   handle(svc.describeStreamConsumer),
		"ListStreamConsumers":      handle(svc.listStreamConsumers),
		"DeregisterStreamConsumer": handle(svc.deregisterStreamConsumer),
		"SubscribeToShard":         handle(svc.subscribeToShard),
	}
}

// handle adapts a typed operation: decoding and validation by awsproto.Op,
// authorization of the action on the resource the input names (authz.go),
// then the domain call, whose errors become AWS errors here.
func handle[In, Out any](fn func(context.Context, *In) (*Out, error)) awsproto.Handler {
	return awsproto.Op(func(ctx context.Context, in *In) (*Out, error) {
		if err := authorizeInput(ctx, in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, apiError(err)
		}
		return out, nil
	})
}

// notImplemented serves an operation Millrace does not offer yet: the input
// is still decoded and validated, so bad input gets the same error as on
// AWS, and valid input gets 501 NotImplemented rather than a fake success.
func notImplemented[In any](op string) awsproto.Handler {
	return awsproto.Op(func(ctx context.Context, in *In) (*awsproto.Empty, error) {
		return nil, notImplementedError(op)
	})
}

// streamRef names the stream a request targets, in the caller's account and
// region.
func streamRef(ctx context.Context, name, arn *string) streams.StreamRef {
	info := awsproto.Info(ctx)
	return streams.StreamRef{
		Account: info.AccountID, Region: info.Region,
		Name: awsproto.Value(name), ARN: awsproto.Value(arn),
	}
}

// caller returns the account and region of the request.
func caller(ctx context.Context) (account, region string) {
	info := awsproto.Info(ctx)
	return info.AccountID, info.Region
}

func ptr[T any](v T) *T { return &v }

package cloudwatch

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/cloudwatch/cloudwatchapi"
)

// Service serves the CloudWatch operations over an Aggregator.
type Service struct {
	agg *Aggregator
	log *slog.Logger
}

// New returns the service.
func New(agg *Aggregator, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{agg: agg, log: logger}
}

// Served lists the operations this service implements; every other
// operation of the model answers 501 NotImplemented.
var Served = []string{"GetMetricData", "GetMetricStatistics", "ListMetrics"}

// Register serves the operations on the router under CloudWatch's target
// prefix, reached by AWS JSON 1.0 (X-Amz-Target) and by RPC v2 CBOR
// (/service/GraniteServiceVersion20100801/operation/<Op>).
func (s *Service) Register(r *awsproto.Router) {
	h := map[string]awsproto.Handler{
		"GetMetricStatistics": handle(s.getMetricStatistics),
		"GetMetricData":       handle(s.getMetricData),
		"ListMetrics":         handle(s.listMetrics),
	}
	for _, op := range cloudwatchapi.Operations {
		if _, ok := h[op.Name]; !ok {
			h[op.Name] = notImplemented(op.Name)
		}
	}
	r.Register(cloudwatchapi.TargetPrefix, cloudwatchapi.JSONVersion, h, awsproto.RPCv2CBOR())
}

// handle adapts a typed operation and gives its errors CloudWatch's codes.
func handle[In, Out any](fn func(context.Context, *In) (*Out, error)) awsproto.Handler {
	op := awsproto.Op(fn)
	return func(ctx context.Context, body []byte) (any, error) {
		out, err := op(ctx, body)
		return out, wireError(err)
	}
}

// notImplemented answers an operation Millrace does not offer with 501,
// never a fake success.
func notImplemented(name string) awsproto.Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		return nil, cwError("NotImplemented", "NotImplemented", http.StatusNotImplemented,
			"Millrace does not implement CloudWatch %s; see docs/metrics.md", name)
	}
}

// authorize checks the IAM action cloudwatch:<op>; CloudWatch's read
// actions take no resource.
func authorize(ctx context.Context, op string) error {
	return awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "cloudwatch:" + op, Resource: "*"})
}

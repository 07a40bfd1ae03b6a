package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

func (svc *Service) enableEnhancedMonitoring(ctx context.Context, in *kinesisapi.EnableEnhancedMonitoringInput) (*kinesisapi.EnhancedMonitoringOutput, error) {
	return svc.setMonitoring(ctx, in.StreamName, in.StreamARN, in.ShardLevelMetrics, true)
}

func (svc *Service) disableEnhancedMonitoring(ctx context.Context, in *kinesisapi.DisableEnhancedMonitoringInput) (*kinesisapi.EnhancedMonitoringOutput, error) {
	return svc.setMonitoring(ctx, in.StreamName, in.StreamARN, in.ShardLevelMetrics, false)
}

func (svc *Service) setMonitoring(ctx context.Context, name, arn *string, metrics []kinesisapi.MetricsName, enable bool) (*kinesisapi.EnhancedMonitoringOutput, error) {
	ms := make([]string, len(metrics))
	for i, m := range metrics {
		ms[i] = string(m)
	}
	res, err := svc.s.SetEnhancedMonitoring(ctx, streamRef(ctx, name, arn), ms, enable)
	if err != nil {
		return nil, err
	}
	return &kinesisapi.EnhancedMonitoringOutput{
		StreamName:               ptr(res.Stream.Name),
		StreamARN:                ptr(res.Stream.ARN),
		CurrentShardLevelMetrics: metricNames(res.Current),
		DesiredShardLevelMetrics: metricNames(res.Desired),
	}, nil
}

package streams

import (
	"context"
	"sort"
)

// MetricAll is the ShardLevelMetrics value that stands for every metric.
const MetricAll = "ALL"

// ShardLevelMetricNames are the seven shard-level metrics, in AWS's order.
var ShardLevelMetricNames = []string{
	"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
	"IteratorAgeMilliseconds",
}

// MonitoringChange is the result of enabling or disabling metrics.
type MonitoringChange struct {
	Stream           *Stream // the snapshot after the change
	Current, Desired []string
}

// SetEnhancedMonitoring enables (enable true) or disables shard-level
// metrics; "ALL" expands to every metric. The metrics are stored and
// reported, and decide which per-shard series /metrics lists (stats.go).
func (s *Streams) SetEnhancedMonitoring(ctx context.Context, ref StreamRef, metrics []string, enable bool) (MonitoringChange, error) {
	want := expandMetrics(metrics)
	for m := range want {
		if !knownMetric(m) {
			return MonitoringChange{}, errorf(KindInvalidArgument, "Unknown shard-level metric %s.", m)
		}
	}
	var res MonitoringChange
	err := s.update(ctx, ref, func(st *Stream) error {
		if err := requireActive(st); err != nil {
			return err
		}
		res.Current = append([]string{}, st.ShardLevelMetrics...)
		set := make(map[string]bool, len(ShardLevelMetricNames))
		for _, m := range st.ShardLevelMetrics {
			set[m] = true
		}
		for m := range want {
			set[m] = enable
		}
		st.ShardLevelMetrics = sortedMetrics(set)
		res.Desired = append([]string{}, st.ShardLevelMetrics...)
		res.Stream = st
		return nil
	})
	return res, err
}

func expandMetrics(metrics []string) map[string]bool {
	out := make(map[string]bool, len(metrics))
	for _, m := range metrics {
		if m == MetricAll {
			for _, n := range ShardLevelMetricNames {
				out[n] = true
			}
			continue
		}
		out[m] = true
	}
	return out
}

func knownMetric(m string) bool {
	for _, n := range ShardLevelMetricNames {
		if n == m {
			return true
		}
	}
	return false
}

// sortedMetrics lists the enabled metrics in a stable order.
func sortedMetrics(set map[string]bool) []string {
	out := []string{}
	for m, on := range set {
		if on {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

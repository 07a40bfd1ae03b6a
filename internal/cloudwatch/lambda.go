package cloudwatch

import "github.com/millrace/millrace/internal/lambda"

// NamespaceLambda is the namespace of the Lambda metrics.
const NamespaceLambda = "AWS/Lambda"

// LambdaSource reports the Lambda metrics the service counts: per
// function (dimension FunctionName) Invocations, Errors, Throttles,
// AsyncEventsDropped, Duration and, for the event source mappings' batches, IteratorAge; per
// mapping whose MetricsConfig asks for EventCount (dimension
// EventSourceMappingUUID) the event counts.
type LambdaSource struct {
	// Service is set once the Lambda service exists; nil reports nothing.
	Service *lambda.Service
}

var _ Source = (*LambdaSource)(nil)

// Sample implements Source.
func (l *LambdaSource) Sample() []Sample {
	if l == nil || l.Service == nil {
		return nil
	}
	fns, maps := l.Service.Stats()
	var out []Sample
	for _, f := range fns {
		c := f.Counters
		dims := []Dim{{"FunctionName", f.Name}}
		key := func(metric, unit string) Key {
			return Key{Account: f.Account, Region: f.Region, Namespace: NamespaceLambda, Metric: metric, Dims: dims, Unit: unit}
		}
		calls := c.Invocations.Load()
		out = append(out,
			Sample{Key: key("Invocations", unitCount), Origin: c, Kind: KindTotal, Sum: float64(calls), Count: float64(calls), HasCount: true},
			Sample{Key: key("Errors", unitCount), Origin: c, Kind: KindRatio, Sum: float64(c.Errors.Load()), Count: float64(calls), HasCount: true},
			Sample{Key: key("Throttles", unitCount), Origin: c, Kind: KindTotal, Sum: float64(c.Throttles.Load()), Count: float64(c.Throttles.Load()), HasCount: true},
			Sample{Key: key("AsyncEventsDropped", unitCount), Origin: c, Kind: KindTotal, Sum: float64(c.AsyncEventsDropped.Load()), Count: float64(c.AsyncEventsDropped.Load()), HasCount: true},
			Sample{Key: key("Duration", unitMilliseconds), Origin: &c.Duration, Kind: KindHistogram, Hist: c.Duration.Snapshot(), Scale: nsPerMs},
			Sample{Key: key("IteratorAge", unitMilliseconds), Origin: &c.IteratorAge, Kind: KindHistogram, Hist: c.IteratorAge.Snapshot(), Scale: 1},
		)
	}
	for _, m := range maps {
		c := m.Counters
		dims := []Dim{{"EventSourceMappingUUID", m.UUID}}
		for _, x := range []struct {
			metric string
			n      int64
		}{
			{"PolledEventCount", c.Polled.Load()},
			{"FilteredOutEventCount", c.FilteredOut.Load()},
			{"InvokedEventCount", c.Invoked.Load()},
			{"FailedInvokeEventCount", c.FailedInvoke.Load()},
			{"DroppedEventCount", c.Dropped.Load()},
			{"OnFailureDestinationDeliveredEventCount", c.OnFailureDelivered.Load()},
		} {
			out = append(out, Sample{Key: Key{Account: m.Account, Region: m.Region, Namespace: NamespaceLambda, Metric: x.metric, Dims: dims, Unit: unitCount},
				Origin: c, Kind: KindTotal, Sum: float64(x.n), Count: float64(x.n), HasCount: true, Off: !m.EventCount})
		}
	}
	return out
}

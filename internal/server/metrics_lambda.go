package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/millrace/millrace/internal/lambda"
	"github.com/millrace/millrace/internal/metrics"
)

// Label names of the Lambda series: CloudWatch's dimensions FunctionName
// and EventSourceMappingUUID, with the account and region that tell apart
// functions of the same name.
var (
	functionLabels = []string{"account", "region", "function"}
	mappingLabels  = []string{"account", "region", "uuid"}
)

func lambdaDesc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("millrace_lambda_"+name, help, labels, nil)
}

// The function metrics (AWS/Lambda, dimension FunctionName).
var (
	functionCounters = []counterDef[lambda.FunctionCounters]{
		{lambdaDesc("invocations_total", "Invocations of the function (Invoke RequestResponse and Event, event source mapping batches), failed ones included. CloudWatch: Invocations (Sum).", functionLabels),
			func(c *lambda.FunctionCounters) int64 { return c.Invocations.Load() }},
		{lambdaDesc("errors_total", "Invocations that ended in a function error. CloudWatch: Errors (Sum).", functionLabels),
			func(c *lambda.FunctionCounters) int64 { return c.Errors.Load() }},
		{lambdaDesc("throttles_total", "Invoke calls refused with TooManyRequestsException. CloudWatch: Throttles (Sum).", functionLabels),
			func(c *lambda.FunctionCounters) int64 { return c.Throttles.Load() }},
		{lambdaDesc("async_events_dropped_total", "Event invocations dropped unrun, older than the function's MaximumEventAgeInSeconds. CloudWatch: AsyncEventsDropped (Sum).", functionLabels),
			func(c *lambda.FunctionCounters) int64 { return c.AsyncEventsDropped.Load() }},
	}
	functionHistograms = []histogramDef[lambda.FunctionCounters]{
		{lambdaDesc("duration_seconds", "Time per invocation. CloudWatch: Duration.", functionLabels),
			func(c *lambda.FunctionCounters) *metrics.Histogram { return &c.Duration }, float64(time.Second)},
		{lambdaDesc("iterator_age_seconds", "Per event source mapping batch done with, how old its last record was. CloudWatch: IteratorAge.", functionLabels),
			func(c *lambda.FunctionCounters) *metrics.Histogram { return &c.IteratorAge }, 1000},
	}
	functionConcurrent = lambdaDesc("concurrent_executions", "Invocations of the function running now. CloudWatch: ConcurrentExecutions.", functionLabels)
)

// The event source mapping metrics (dimension EventSourceMappingUUID),
// whatever the mapping's MetricsConfig: CloudWatch has the event counts
// only for the mappings that ask for them.
var (
	mappingCounters = []counterDef[lambda.MappingCounters]{
		{lambdaDesc("esm_polled_events_total", "Records the mapping read. CloudWatch: PolledEventCount.", mappingLabels),
			func(c *lambda.MappingCounters) int64 { return c.Polled.Load() }},
		{lambdaDesc("esm_filtered_out_events_total", "Records no filter of the mapping let through. CloudWatch: FilteredOutEventCount.", mappingLabels),
			func(c *lambda.MappingCounters) int64 { return c.FilteredOut.Load() }},
		{lambdaDesc("esm_invoked_events_total", "Records sent in invocations (a retried record each time). CloudWatch: InvokedEventCount.", mappingLabels),
			func(c *lambda.MappingCounters) int64 { return c.Invoked.Load() }},
		{lambdaDesc("esm_failed_invoke_events_total", "Records of invocations that failed. CloudWatch: FailedInvokeEventCount.", mappingLabels),
			func(c *lambda.MappingCounters) int64 { return c.FailedInvoke.Load() }},
		{lambdaDesc("esm_dropped_events_total", "Records the mapping gave up on. CloudWatch: DroppedEventCount.", mappingLabels),
			func(c *lambda.MappingCounters) int64 { return c.Dropped.Load() }},
		{lambdaDesc("esm_on_failure_delivered_events_total", "Records whose invocation record the on-failure destination took. CloudWatch: OnFailureDestinationDeliveredEventCount.", mappingLabels),
			func(c *lambda.MappingCounters) int64 { return c.OnFailureDelivered.Load() }},
	}
	mappingHistograms = []histogramDef[lambda.MappingCounters]{
		{lambdaDesc("esm_iterator_age_seconds", "Per batch the mapping was done with, how old its last record was. CloudWatch: IteratorAge.", mappingLabels),
			func(c *lambda.MappingCounters) *metrics.Histogram { return &c.IteratorAge }, 1000},
	}
)

// lambdaCollector reads the Lambda service's counters at scrape time.
type lambdaCollector struct{ service *lambda.Service }

var _ prometheus.Collector = lambdaCollector{}

func (c lambdaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range functionCounters {
		ch <- d.desc
	}
	for _, d := range functionHistograms {
		ch <- d.desc
	}
	ch <- functionConcurrent
	for _, d := range mappingCounters {
		ch <- d.desc
	}
	for _, d := range mappingHistograms {
		ch <- d.desc
	}
}

func (c lambdaCollector) Collect(ch chan<- prometheus.Metric) {
	fns, maps := c.service.Stats()
	for _, f := range fns {
		labels := []string{f.Account, f.Region, f.Name}
		emit(ch, functionCounters, functionHistograms, f.Counters, labels)
		ch <- prometheus.MustNewConstMetric(functionConcurrent, prometheus.GaugeValue, float64(f.ConcurrentExecutions), labels...)
	}
	for _, m := range maps {
		emit(ch, mappingCounters, mappingHistograms, m.Counters, []string{m.Account, m.Region, m.UUID})
	}
}

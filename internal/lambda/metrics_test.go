package lambda_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// scrapeMetrics reads the server's Prometheus metrics.
func scrapeMetrics(t *testing.T, s *servertest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// metricValue is the value of the series of family name with label
// value: a counter's or gauge's value, a histogram's count; -1 when there
// is none.
func metricValue(mfs map[string]*dto.MetricFamily, name, label, value string) float64 {
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != label || l.GetValue() != value {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

// The AWS/Lambda metrics are at /metrics too: per function Invocations,
// Errors, Throttles, Duration, IteratorAge and ConcurrentExecutions, and
// per event source mapping its event counts and IteratorAge.
func TestLambdaPrometheusMetrics(t *testing.T) {
	s := servertest.Start(t, func(c *config.Config) { c.Metrics = "on" })
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	dir := t.TempDir()
	createFunction(t, c, "worker", func(in *lambda.CreateFunctionInput) {
		in.Timeout = aws.Int32(60)
	})
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("worker"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}

	// One invocation runs (blocked): ConcurrentExecutions is 1, and a
	// second synchronous one is throttled.
	release := filepath.Join(dir, "release")
	invoke(t, c, "worker", map[string]string{"action": "block", "path": release},
		func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
	eventually(t, "the blocked invocation", func() bool {
		_, err := os.Stat(release + ".started")
		return err == nil
	})
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("worker"), Payload: []byte(`{"action":"noop"}`)}); err == nil {
		t.Fatal("a second invocation over the reserved concurrency was not throttled")
	}
	mfs := scrapeMetrics(t, s)
	if v := metricValue(mfs, "millrace_lambda_concurrent_executions", "function", "worker"); v != 1 {
		t.Errorf("concurrent executions while one runs: %v, want 1", v)
	}
	if v := metricValue(mfs, "millrace_lambda_throttles_total", "function", "worker"); v != 1 {
		t.Errorf("throttles: %v, want 1", v)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the blocked invocation to end", func() bool {
		return metricValue(scrapeMetrics(t, s), "millrace_lambda_concurrent_executions", "function", "worker") == 0
	})
	out := invoke(t, c, "worker", map[string]string{"action": "fail", "message": "boom"})
	if aws.ToString(out.FunctionError) == "" {
		t.Fatal("the failing invocation did not fail")
	}
	mfs = scrapeMetrics(t, s)
	// The blocked Event invocation, the failed one; the throttled one is
	// not an invocation.
	if v := metricValue(mfs, "millrace_lambda_invocations_total", "function", "worker"); v != 2 {
		t.Errorf("invocations: %v, want 2", v)
	}
	if v := metricValue(mfs, "millrace_lambda_errors_total", "function", "worker"); v != 1 {
		t.Errorf("errors: %v, want 1", v)
	}
	if v := metricValue(mfs, "millrace_lambda_duration_seconds", "function", "worker"); v != 2 {
		t.Errorf("durations observed: %v, want 2", v)
	}

	// A mapping: its event counts and IteratorAge, and its function's.
	arn := createStream(t, k, "metered", 1)
	logPath := filepath.Join(dir, "log")
	esmFunction(t, c, "consumer", logPath, nil)
	putAll(t, k, "metered", [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}})
	m, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	uuid := aws.ToString(m.UUID)
	eventually(t, "the records delivered", func() bool { return len(readLog(t, logPath)) == 3 })
	eventually(t, "the mapping's metrics", func() bool {
		mfs := scrapeMetrics(t, s)
		return metricValue(mfs, "millrace_lambda_esm_iterator_age_seconds", "uuid", uuid) >= 1 &&
			metricValue(mfs, "millrace_lambda_iterator_age_seconds", "function", "consumer") >= 1
	})
	mfs = scrapeMetrics(t, s)
	for name, want := range map[string]float64{
		"millrace_lambda_esm_polled_events_total":        3,
		"millrace_lambda_esm_invoked_events_total":       3,
		"millrace_lambda_esm_failed_invoke_events_total": 0,
		"millrace_lambda_esm_dropped_events_total":       0,
	} {
		if v := metricValue(mfs, name, "uuid", uuid); v != want {
			t.Errorf("%s: %v, want %v", name, v, want)
		}
	}
}

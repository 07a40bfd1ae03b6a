package cloudwatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/cloudwatch/cloudwatchapi"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// testService is a service over a fake source and clock, with a request
// context in testKey's account and region.
func testService(t *testing.T) (*Service, *fakeSource, *fakeClock, context.Context) {
	t.Helper()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	clock := &fakeClock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	src := &fakeSource{}
	a := NewAggregator(AggregatorOptions{Log: eng, Sources: []Source{src}, Now: clock.now})
	ctx := awsproto.WithInfo(context.Background(), &awsproto.RequestInfo{AccountID: testKey.Account, Region: testKey.Region})
	return New(a, nil), src, clock, ctx
}

func TestGetMetricDataPagesAndOrder(t *testing.T) {
	s, src, clock, ctx := testService(t)
	t0 := clock.now()
	// Minutes 10:00, 10:01, 10:02 with 1, 2 and 3 records.
	for i, n := range []float64{1, 3, 6} {
		src.set(total(n, float64(i+1)))
		clock.add(time.Minute)
		if err := s.agg.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	query := func(token *string, max int32, scan *cloudwatchapi.ScanBy) *cloudwatchapi.GetMetricDataOutput {
		t.Helper()
		out, err := s.getMetricData(ctx, &cloudwatchapi.GetMetricDataInput{
			StartTime: awsproto.TimestampPtr(t0), EndTime: awsproto.TimestampPtr(t0.Add(time.Hour)),
			MaxDatapoints: &max, NextToken: token, ScanBy: scan,
			MetricDataQueries: []cloudwatchapi.MetricDataQuery{{Id: awsproto.Ptr("m"), MetricStat: &cloudwatchapi.MetricStat{
				Metric: &cloudwatchapi.Metric{Namespace: &testKey.Namespace, MetricName: &testKey.Metric,
					Dimensions: []cloudwatchapi.Dimension{{Name: awsproto.Ptr("StreamName"), Value: awsproto.Ptr("s")}}},
				Period: awsproto.Ptr[int32](60), Stat: awsproto.Ptr("Sum")}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := query(nil, 2, nil)
	r := first.MetricDataResults[0]
	if fmt.Sprint(r.Values) != "[3 2]" || *r.StatusCode != cloudwatchapi.StatusCodePartialData || first.NextToken == nil {
		t.Fatalf("first page %v %v, token %v: want [3 2] (newest first), PartialData and a token", r.Values, *r.StatusCode, first.NextToken)
	}
	second := query(first.NextToken, 2, nil)
	r = second.MetricDataResults[0]
	if fmt.Sprint(r.Values) != "[1]" || *r.StatusCode != cloudwatchapi.StatusCodeComplete || second.NextToken != nil {
		t.Fatalf("second page %v %v, token %v", r.Values, *r.StatusCode, second.NextToken)
	}
	asc := query(nil, 10, awsproto.Ptr(cloudwatchapi.ScanByTimestampAscending)).MetricDataResults[0]
	if fmt.Sprint(asc.Values) != "[1 2 3]" || !asc.Timestamps[0].Equal(t0) {
		t.Errorf("ascending %v at %v", asc.Values, asc.Timestamps)
	}
	if _, err := s.getMetricData(ctx, &cloudwatchapi.GetMetricDataInput{
		StartTime: awsproto.TimestampPtr(t0), EndTime: awsproto.TimestampPtr(t0.Add(time.Hour)), NextToken: awsproto.Ptr("bad"),
	}); err == nil || err.(*awsproto.Error).QueryError != "InvalidNextToken;Sender" {
		t.Errorf("bad token: %v", err)
	}
}

func TestListMetricsPagesAndFilters(t *testing.T) {
	s, src, _, ctx := testService(t)
	var samples []Sample
	for i := 0; i < 501; i++ {
		k := testKey
		k.Dims = []Dim{{"StreamName", fmt.Sprintf("s%03d", i)}}
		samples = append(samples, Sample{Key: k, Sum: 1})
	}
	other := testKey
	other.Account = "111111111111"
	samples = append(samples, Sample{Key: other, Sum: 1})
	src.set(samples...)

	out, err := s.listMetrics(ctx, &cloudwatchapi.ListMetricsInput{Namespace: awsproto.Ptr(NamespaceKinesis)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Metrics) != 500 || out.NextToken == nil {
		t.Fatalf("first page: %d metrics, token %v", len(out.Metrics), out.NextToken)
	}
	out, err = s.listMetrics(ctx, &cloudwatchapi.ListMetricsInput{Namespace: awsproto.Ptr(NamespaceKinesis), NextToken: out.NextToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Metrics) != 1 || out.NextToken != nil || *out.Metrics[0].Dimensions[0].Value != "s500" {
		t.Fatalf("second page: %+v", out)
	}
	for _, c := range []struct {
		in   cloudwatchapi.ListMetricsInput
		want int
	}{
		{cloudwatchapi.ListMetricsInput{Dimensions: []cloudwatchapi.DimensionFilter{{Name: awsproto.Ptr("StreamName"), Value: awsproto.Ptr("s007")}}}, 1},
		{cloudwatchapi.ListMetricsInput{Dimensions: []cloudwatchapi.DimensionFilter{{Name: awsproto.Ptr("ShardId")}}}, 0},
		{cloudwatchapi.ListMetricsInput{MetricName: awsproto.Ptr("IncomingBytes")}, 0},
		{cloudwatchapi.ListMetricsInput{Namespace: awsproto.Ptr("AWS/Firehose")}, 0},
	} {
		out, err := s.listMetrics(ctx, &c.in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Metrics) != c.want {
			t.Errorf("ListMetrics %+v: %d metrics, want %d", c.in, len(out.Metrics), c.want)
		}
	}
}

func TestListMetricsFromStoredMinutes(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	clock := &fakeClock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	src := &fakeSource{}
	ctx := awsproto.WithInfo(context.Background(), &awsproto.RequestInfo{AccountID: testKey.Account, Region: testKey.Region})
	newService := func() *Service {
		return New(NewAggregator(AggregatorOptions{Log: eng, Sources: []Source{src}, Now: clock.now, Retention: 24 * time.Hour}), nil)
	}
	list := func(s *Service, recent bool) int {
		t.Helper()
		in := &cloudwatchapi.ListMetricsInput{}
		if recent {
			in.RecentlyActive = awsproto.Ptr(cloudwatchapi.RecentlyActivePt3h)
		}
		out, err := s.listMetrics(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Metrics)
	}
	s := newService()
	if n := list(s, false); n != 0 {
		t.Fatalf("%d metrics before any data", n)
	}
	src.set(total(3, 1))
	clock.add(time.Minute)
	if err := s.agg.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	src.set() // the stream is gone: its metric stays listed
	if n := list(s, false); n != 1 {
		t.Fatalf("%d metrics after a stored minute, want 1", n)
	}
	// A new aggregator on the same log (a restart) finds it by a scan.
	s = newService()
	if n := list(s, false); n != 1 {
		t.Fatalf("%d metrics after a restart, want 1", n)
	}
	clock.add(4 * time.Hour)
	if n, recent := list(s, false), list(s, true); n != 1 || recent != 0 {
		t.Errorf("4 hours later: %d listed, %d recently active; want 1 and 0", n, recent)
	}
	clock.add(24 * time.Hour)
	if n := list(s, false); n != 0 {
		t.Errorf("past the retention: %d listed", n)
	}
}

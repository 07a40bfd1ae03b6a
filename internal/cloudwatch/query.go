package cloudwatch

import (
	"context"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/cloudwatch/cloudwatchapi"
)

// maxDatapoints is GetMetricStatistics' limit on data points per call.
const maxDatapoints = 1440

// metricQuery selects the series of one metric: its namespace, name,
// exact set of dimensions and, when given, its unit.
type metricQuery struct {
	namespace, metric string
	dims              []Dim
	unit              string
}

func (q *metricQuery) matches(s *storedSeries, account, region string) bool {
	if s.Account != account || s.Region != region || s.Namespace != q.namespace || s.Metric != q.metric {
		return false
	}
	if q.unit != "" && s.Unit != q.unit {
		return false
	}
	if len(s.Dims) != len(q.dims) {
		return false
	}
	for _, want := range q.dims {
		found := false
		for _, d := range s.Dims {
			if d[0] == want.Name && d[1] == want.Value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// point is one period's merged data.
type point struct {
	start time.Time
	d     Datum
	unit  string
}

// window is a query's time range cut into periods: start is rounded down
// to the minute (CloudWatch does so for data less than 15 days old); end
// is exclusive.
type window struct {
	start, end time.Time
	period     time.Duration
}

func newWindow(start, end *awsproto.Timestamp, period int32, periodName string) (window, error) {
	if period%60 != 0 {
		return window{}, invalidValue("The parameter %s must be a multiple of 60.", periodName)
	}
	w := window{start: start.UTC().Truncate(time.Minute), end: end.UTC(), period: time.Duration(period) * time.Second}
	if !start.Before(end.Time) {
		return window{}, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	return w, nil
}

// periods is how many periods the window spans.
func (w window) periods() int64 {
	return int64((w.end.Sub(w.start) + w.period - 1) / w.period)
}

// collect merges the data of the series q selects into the window's
// periods, in time order.
func (s *Service) collect(ctx context.Context, q *metricQuery, w window) ([]point, error) {
	out, err := s.collectMany(ctx, []metricQuery{*q}, []window{w})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// collectMany does collect for several queries in one pass over the
// stored minutes (all windows share the span of the request).
func (s *Service) collectMany(ctx context.Context, qs []metricQuery, ws []window) ([][]point, error) {
	info := awsproto.Info(ctx)
	byPeriod := make([]map[int64]*point, len(qs))
	start, end := ws[0].start, ws[0].end
	for i := range qs {
		byPeriod[i] = map[int64]*point{}
		if ws[i].start.Before(start) {
			start = ws[i].start
		}
		if ws[i].end.After(end) {
			end = ws[i].end
		}
	}
	err := s.agg.query(ctx, start, end, func(minute time.Time, ss *storedSeries) {
		for i := range qs {
			w := ws[i]
			if minute.Before(w.start) || !minute.Before(w.end) || !qs[i].matches(ss, info.AccountID, info.Region) {
				continue
			}
			k := int64(minute.Sub(w.start) / w.period)
			p := byPeriod[i][k]
			if p == nil {
				byPeriod[i][k] = &point{start: w.start.Add(time.Duration(k) * w.period), d: copyDatum(ss.Datum), unit: ss.Unit}
				continue
			}
			p.d.merge(&ss.Datum)
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([][]point, len(qs))
	for i := range qs {
		pts := make([]point, 0, len(byPeriod[i]))
		for _, p := range byPeriod[i] {
			pts = append(pts, *p)
		}
		sort.Slice(pts, func(a, b int) bool { return pts[a].start.Before(pts[b].start) })
		out[i] = pts
	}
	return out, nil
}

func copyDatum(d Datum) Datum {
	d.Bounds = append([]float64(nil), d.Bounds...)
	d.Buckets = append([]uint64(nil), d.Buckets...)
	return d
}

// statistic returns one statistic of a period: SampleCount, Average, Sum,
// Minimum, Maximum or a percentile pNN(.NN); ok is false where the data
// cannot give it (docs/metrics.md says which metrics give which).
func statistic(d *Datum, stat string) (float64, bool) {
	switch stat {
	case "Sum":
		return d.Sum, true
	case "SampleCount":
		if d.Count == nil {
			return 0, false
		}
		return *d.Count, true
	case "Average":
		if d.Count == nil || *d.Count == 0 {
			return 0, false
		}
		return d.Sum / *d.Count, true
	case "Minimum":
		if d.Min == nil {
			return 0, false
		}
		return *d.Min, true
	case "Maximum":
		if d.Max == nil {
			return 0, false
		}
		return *d.Max, true
	}
	if p, ok := parsePercentile(stat); ok {
		return d.percentile(p)
	}
	return 0, false
}

// parsePercentile reads pNN or pNN.NN (0 to 100).
func parsePercentile(s string) (float64, bool) {
	num, ok := strings.CutPrefix(s, "p")
	if !ok || num == "" || strings.ContainsAny(num, "+-eE") {
		return 0, false
	}
	if i := strings.IndexByte(num, '.'); i >= 0 && (i == 0 || len(num)-i-1 > 2 || len(num)-i-1 == 0) {
		return 0, false
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || p < 0 || p > 100 {
		return 0, false
	}
	return p, true
}

func dimsOf(in []cloudwatchapi.Dimension) []Dim {
	out := make([]Dim, len(in))
	for i, d := range in {
		out[i] = Dim{awsproto.Value(d.Name), awsproto.Value(d.Value)}
	}
	return out
}

func (s *Service) getMetricStatistics(ctx context.Context, in *cloudwatchapi.GetMetricStatisticsInput) (*cloudwatchapi.GetMetricStatisticsOutput, error) {
	if err := authorize(ctx, "GetMetricStatistics"); err != nil {
		return nil, err
	}
	switch {
	case len(in.Statistics) > 0 && len(in.ExtendedStatistics) > 0:
		return nil, invalidCombination("The parameters Statistics and ExtendedStatistics are mutually exclusive, you must specify one or the other, but not both.")
	case len(in.Statistics) == 0 && len(in.ExtendedStatistics) == 0:
		return nil, invalidCombination("Must specify either Statistics or ExtendedStatistics.")
	}
	for _, e := range in.ExtendedStatistics {
		if _, ok := parsePercentile(e); !ok {
			return nil, invalidValue("The value %s for parameter ExtendedStatistics is not supported: specify a percentile between p0.0 and p100.", e)
		}
	}
	w, err := newWindow(in.StartTime, in.EndTime, *in.Period, "Period")
	if err != nil {
		return nil, err
	}
	if n := w.periods(); n > maxDatapoints {
		return nil, invalidCombination("You have requested up to %s datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", thousands(n))
	}
	q := metricQuery{namespace: *in.Namespace, metric: *in.MetricName, dims: dimsOf(in.Dimensions)}
	if in.Unit != nil {
		q.unit = string(*in.Unit)
	}
	points, err := s.collect(ctx, &q, w)
	if err != nil {
		return nil, err
	}
	out := &cloudwatchapi.GetMetricStatisticsOutput{Label: in.MetricName, Datapoints: []cloudwatchapi.Datapoint{}}
	for i := range points {
		p := &points[i]
		dp := cloudwatchapi.Datapoint{Timestamp: awsproto.TimestampPtr(p.start), Unit: awsproto.Ptr(cloudwatchapi.StandardUnit(p.unit))}
		for _, st := range in.Statistics {
			v, ok := statistic(&p.d, string(st))
			if !ok {
				continue
			}
			switch st {
			case cloudwatchapi.StatisticSum:
				dp.Sum = &v
			case cloudwatchapi.StatisticSampleCount:
				dp.SampleCount = &v
			case cloudwatchapi.StatisticAverage:
				dp.Average = &v
			case cloudwatchapi.StatisticMinimum:
				dp.Minimum = &v
			case cloudwatchapi.StatisticMaximum:
				dp.Maximum = &v
			}
		}
		for _, e := range in.ExtendedStatistics {
			if v, ok := statistic(&p.d, e); ok {
				if dp.ExtendedStatistics == nil {
					dp.ExtendedStatistics = map[string]float64{}
				}
				dp.ExtendedStatistics[e] = v
			}
		}
		out.Datapoints = append(out.Datapoints, dp)
	}
	return out, nil
}

// thousands writes n with comma separators, as AWS's messages do.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Page tokens are opaque to clients: an offset into the answer.
func encodeToken(offset int) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte("mr1:" + strconv.Itoa(offset)))
	return &t
}

func decodeToken(tok *string) (int, error) {
	if tok == nil {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil {
		return 0, invalidNextToken()
	}
	n, ok := strings.CutPrefix(string(b), "mr1:")
	if !ok {
		return 0, invalidNextToken()
	}
	off, err := strconv.Atoi(n)
	if err != nil || off < 0 {
		return 0, invalidNextToken()
	}
	return off, nil
}

package cloudwatch

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/cloudwatch/cloudwatchapi"
)

// defaultMaxDatapoints is GetMetricData's MaxDatapoints when not given.
const defaultMaxDatapoints = 100800

// queryID is AWS's rule for MetricDataQuery.Id: a lowercase letter first,
// then letters, digits and underscores.
var queryID = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

var basicStats = map[string]bool{"SampleCount": true, "Average": true, "Sum": true, "Minimum": true, "Maximum": true}

func (s *Service) getMetricData(ctx context.Context, in *cloudwatchapi.GetMetricDataInput) (*cloudwatchapi.GetMetricDataOutput, error) {
	if err := authorize(ctx, "GetMetricData"); err != nil {
		return nil, err
	}
	offset, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	if !in.StartTime.Before(in.EndTime.Time) {
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	seen := map[string]bool{}
	for i := range in.MetricDataQueries {
		q := &in.MetricDataQueries[i]
		member := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		id := awsproto.Value(q.Id)
		if !queryID.MatchString(id) {
			return nil, invalidValue("The value %s for parameter %s.Id is not valid: an Id starts with a lowercase letter and holds only letters, numbers and underscores.", id, member)
		}
		if seen[id] {
			return nil, invalidValue("The value %s for parameter %s.Id is not unique.", id, member)
		}
		seen[id] = true
		switch {
		case q.Expression != nil && q.MetricStat != nil:
			return nil, invalidCombination("The parameters %s.MetricStat and %s.Expression are mutually exclusive, you must specify one or the other, but not both.", member, member)
		case q.Expression != nil:
			return nil, invalidValue("The parameter %s.Expression is not supported: Millrace answers MetricStat queries only (no metric math or Metrics Insights).", member)
		case q.MetricStat == nil:
			return nil, missingParameter("Must specify either %s.MetricStat or %s.Expression.", member, member)
		}
		ms := q.MetricStat
		if ms.Period == nil || *ms.Period < 1 {
			return nil, invalidValue("The parameter %s.MetricStat.Period must be greater than 0.", member)
		}
		if ms.Metric == nil || ms.Metric.Namespace == nil || ms.Metric.MetricName == nil {
			return nil, missingParameter("The parameters %s.MetricStat.Metric.Namespace and MetricName are required.", member)
		}
		stat := awsproto.Value(ms.Stat)
		if _, ok := parsePercentile(stat); !ok && !basicStats[stat] {
			return nil, invalidValue("The value %s for parameter %s.MetricStat.Stat is not supported: use SampleCount, Average, Sum, Minimum, Maximum or a percentile pNN.", stat, member)
		}
		if _, err := newWindow(in.StartTime, in.EndTime, *ms.Period, member+".MetricStat.Period"); err != nil {
			return nil, err
		}
	}
	limit := defaultMaxDatapoints
	if in.MaxDatapoints != nil && *in.MaxDatapoints > 0 {
		limit = int(*in.MaxDatapoints)
	}
	ascending := in.ScanBy != nil && *in.ScanBy == cloudwatchapi.ScanByTimestampAscending

	if len(in.MetricDataQueries) == 0 {
		return &cloudwatchapi.GetMetricDataOutput{MetricDataResults: []cloudwatchapi.MetricDataResult{}}, nil
	}
	mqs := make([]metricQuery, len(in.MetricDataQueries))
	ws := make([]window, len(in.MetricDataQueries))
	for i := range in.MetricDataQueries {
		ms := in.MetricDataQueries[i].MetricStat
		ws[i], _ = newWindow(in.StartTime, in.EndTime, *ms.Period, "Period")
		mqs[i] = metricQuery{namespace: *ms.Metric.Namespace, metric: *ms.Metric.MetricName, dims: dimsOf(ms.Metric.Dimensions)}
		if ms.Unit != nil {
			mqs[i].unit = string(*ms.Unit)
		}
	}
	all, err := s.collectMany(ctx, mqs, ws)
	if err != nil {
		return nil, err
	}

	out := &cloudwatchapi.GetMetricDataOutput{MetricDataResults: []cloudwatchapi.MetricDataResult{}}
	skip, budget := offset, limit
	total := 0
	for i := range in.MetricDataQueries {
		q := &in.MetricDataQueries[i]
		ms := q.MetricStat
		points := all[i]
		var ts []awsproto.Timestamp
		var vals []float64
		for j := range points {
			if v, ok := statistic(&points[j].d, *ms.Stat); ok {
				ts = append(ts, awsproto.NewTimestamp(points[j].start))
				vals = append(vals, v)
			}
		}
		if !ascending {
			sort.Sort(sort.Reverse(byTime{ts, vals}))
		}
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		total += len(ts)
		// This page holds the points past the token's offset, up to the
		// budget; a query cut short is PartialData.
		n := min(skip, len(ts))
		ts, vals, skip = ts[n:], vals[n:], skip-n
		status := cloudwatchapi.StatusCodeComplete
		if len(ts) > budget {
			ts, vals = ts[:budget], vals[:budget]
			status = cloudwatchapi.StatusCodePartialData
		}
		budget -= len(ts)
		label := awsproto.Value(q.Label)
		if label == "" {
			label = *ms.Metric.MetricName
		}
		out.MetricDataResults = append(out.MetricDataResults, cloudwatchapi.MetricDataResult{
			Id: q.Id, Label: &label, StatusCode: &status, Timestamps: ts, Values: vals,
		})
	}
	if offset+limit < total {
		out.NextToken = encodeToken(offset + limit)
	}
	return out, nil
}

// byTime sorts timestamps and their values together.
type byTime struct {
	ts   []awsproto.Timestamp
	vals []float64
}

func (b byTime) Len() int           { return len(b.ts) }
func (b byTime) Less(i, j int) bool { return b.ts[i].Before(b.ts[j].Time) }
func (b byTime) Swap(i, j int) {
	b.ts[i], b.ts[j] = b.ts[j], b.ts[i]
	b.vals[i], b.vals[j] = b.vals[j], b.vals[i]
}

// listPage is ListMetrics' page size, as on AWS.
const listPage = 500

func (s *Service) listMetrics(ctx context.Context, in *cloudwatchapi.ListMetricsInput) (*cloudwatchapi.ListMetricsOutput, error) {
	if err := authorize(ctx, "ListMetrics"); err != nil {
		return nil, err
	}
	offset, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	info := awsproto.Info(ctx)
	now := s.agg.now()
	horizon := s.agg.Retention()
	if in.RecentlyActive != nil {
		horizon = 3 * time.Hour // PT3H, the only value the model allows
	}
	found := map[string]cloudwatchapi.Metric{}
	err = s.agg.seriesSince(ctx, now.Add(-horizon).Truncate(time.Minute), func(ss *storedSeries) {
		if ss.Account != info.AccountID || ss.Region != info.Region ||
			in.Namespace != nil && ss.Namespace != *in.Namespace ||
			in.MetricName != nil && ss.Metric != *in.MetricName ||
			!dimsMatch(ss.Dims, in.Dimensions) {
			return
		}
		k := ss.key()
		k.Account, k.Region, k.Unit = "", "", ""
		id := k.id()
		if _, ok := found[id]; ok {
			return
		}
		m := cloudwatchapi.Metric{Namespace: awsproto.Ptr(ss.Namespace), MetricName: awsproto.Ptr(ss.Metric), Dimensions: []cloudwatchapi.Dimension{}}
		for _, d := range ss.Dims {
			m.Dimensions = append(m.Dimensions, cloudwatchapi.Dimension{Name: awsproto.Ptr(d[0]), Value: awsproto.Ptr(d[1])})
		}
		found[id] = m
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if offset > len(ids) {
		return nil, invalidNextToken()
	}
	out := &cloudwatchapi.ListMetricsOutput{Metrics: []cloudwatchapi.Metric{}}
	end := min(offset+listPage, len(ids))
	for _, id := range ids[offset:end] {
		out.Metrics = append(out.Metrics, found[id])
	}
	if end < len(ids) {
		out.NextToken = encodeToken(end)
	}
	return out, nil
}

// dimsMatch reports whether a metric's dimensions include every filter:
// the name, and the value when the filter gives one.
func dimsMatch(dims [][2]string, filters []cloudwatchapi.DimensionFilter) bool {
	for _, f := range filters {
		found := false
		for _, d := range dims {
			if d[0] == awsproto.Value(f.Name) && (f.Value == nil || d[1] == *f.Value) {
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

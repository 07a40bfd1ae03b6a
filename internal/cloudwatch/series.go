package cloudwatch

import (
	"sort"
	"strings"

	"github.com/millrace/millrace/internal/metrics"
)

// Dim is one CloudWatch dimension.
type Dim struct{ Name, Value string }

// Key names one metric series: the account and region it belongs to, its
// namespace, name, dimensions (in the order AWS publishes them) and unit.
type Key struct {
	Account, Region   string
	Namespace, Metric string
	Dims              []Dim
	Unit              string
}

// id is the key as one comparable string.
func (k *Key) id() string {
	var b strings.Builder
	b.WriteString(k.Account)
	b.WriteByte(0)
	b.WriteString(k.Region)
	b.WriteByte(0)
	b.WriteString(k.Namespace)
	b.WriteByte(0)
	b.WriteString(k.Metric)
	for _, d := range sortedDims(k.Dims) {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	b.WriteByte(0)
	b.WriteString(k.Unit)
	return b.String()
}

func sortedDims(d []Dim) []Dim {
	out := append([]Dim(nil), d...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Kind says which statistics a series' samples allow beyond Sum and
// SampleCount.
type Kind int

const (
	// KindTotal is a running total whose per-call values are not kept:
	// Sum and SampleCount are exact; Minimum, Maximum and percentiles are
	// not available.
	KindTotal Kind = iota
	// KindRatio counts calls that are 1 (success, throttled) or 0: Sum of
	// ones over SampleCount calls; Minimum and Maximum follow exactly.
	KindRatio
	// KindHistogram is a distribution kept in buckets: Sum and
	// SampleCount are exact; Minimum, Maximum and percentiles are read to
	// a bucket bound.
	KindHistogram
)

// Sample is one series' running totals at one moment, as a Source reports
// them. Totals never decrease while the series lives; a series that
// starts again (a stream deleted and created again) starts from zero.
type Sample struct {
	Key  Key
	Kind Kind
	// Sum and Count are the running totals of CloudWatch's Sum and
	// SampleCount; HasCount is false where the source does not count
	// samples (then SampleCount and Average are not available).
	Sum, Count float64
	HasCount   bool
	// Hist is the distribution of a KindHistogram series, whose values
	// are divided by Scale (e.g. nanoseconds to milliseconds).
	Hist  metrics.HistogramSnapshot
	Scale float64
	// Origin identifies the counters the totals come from (a pointer): a
	// series whose origin changed (a stream deleted and created again
	// under its name within a minute) counts from zero again.
	Origin any
	// Off marks a series counted but not published now (a shard-level
	// metric that enhanced monitoring has not enabled): its totals are
	// followed, so that enabling it publishes only what comes after.
	Off bool
}

// A Source reports the running totals of the metrics of one namespace.
type Source interface {
	Sample() []Sample
}

// Datum is one series' statistics over one minute (or, merged, a
// period). Count is nil where samples are not counted; Min and Max are
// nil where they are not known.
type Datum struct {
	Sum     float64   `json:"s"`
	Count   *float64  `json:"c,omitempty"`
	Min     *float64  `json:"lo,omitempty"`
	Max     *float64  `json:"hi,omitempty"`
	Bounds  []float64 `json:"b,omitempty"`
	Buckets []uint64  `json:"h,omitempty"`
}

// delta is the datum of cur since prev (nil: since zero). ok is false when
// nothing happened.
func delta(prev *Sample, cur *Sample) (d Datum, ok bool) {
	var p Sample
	if prev != nil {
		p = *prev
	}
	// A total below the previous one, or from other counters, is a series
	// that started again.
	if cur.Origin != p.Origin || cur.Sum < p.Sum || cur.Count < p.Count || cur.Hist.Count < p.Hist.Count {
		p = Sample{}
	}
	switch cur.Kind {
	case KindHistogram:
		n := cur.Hist.Count - p.Hist.Count
		if n == 0 {
			return Datum{}, false
		}
		scale := cur.Scale
		if scale == 0 {
			scale = 1
		}
		d.Sum = float64(cur.Hist.Sum-p.Hist.Sum) / scale
		c := float64(n)
		d.Count = &c
		d.Bounds = make([]float64, len(cur.Hist.Bounds))
		for i, b := range cur.Hist.Bounds {
			d.Bounds[i] = float64(b) / scale
		}
		d.Buckets = make([]uint64, len(cur.Hist.Counts))
		for i := range cur.Hist.Counts {
			var was uint64
			if i < len(p.Hist.Counts) {
				was = p.Hist.Counts[i]
			}
			d.Buckets[i] = cur.Hist.Counts[i] - was
		}
		lo, hi := bucketRange(d.Bounds, d.Buckets, d.Sum/c)
		d.Min, d.Max = &lo, &hi
		return d, true
	default:
		d.Sum = cur.Sum - p.Sum
		if cur.HasCount {
			c := cur.Count - p.Count
			if c == 0 && d.Sum == 0 {
				return Datum{}, false
			}
			d.Count = &c
			if cur.Kind == KindRatio && c > 0 {
				lo, hi := 0.0, 0.0
				if d.Sum >= c {
					lo = 1
				}
				if d.Sum > 0 {
					hi = 1
				}
				d.Min, d.Max = &lo, &hi
			}
		} else if d.Sum == 0 {
			return Datum{}, false
		}
		return d, true
	}
}

// bucketRange is the smallest and largest value a histogram can hold: the
// lower bound of its first non-empty bucket and the upper bound of its
// last (past the last bound: the average, or that bound if higher),
// narrowed so that Minimum <= Average <= Maximum.
func bucketRange(bounds []float64, counts []uint64, avg float64) (lo, hi float64) {
	first, last := -1, -1
	for i, n := range counts {
		if n > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0, 0
	}
	if first > 0 {
		lo = bounds[first-1]
	} else if len(bounds) > 0 {
		lo = min(bounds[0], avg)
	}
	if last < len(bounds) {
		hi = bounds[last]
	} else {
		hi = max(bounds[len(bounds)-1], avg)
	}
	return min(lo, avg), max(hi, avg)
}

// merge adds o to d: the statistics of both periods together.
func (d *Datum) merge(o *Datum) {
	d.Sum += o.Sum
	if d.Count != nil && o.Count != nil {
		c := *d.Count + *o.Count
		d.Count = &c
	} else {
		d.Count = nil
	}
	if d.Min != nil && o.Min != nil {
		v := min(*d.Min, *o.Min)
		d.Min = &v
	} else {
		d.Min = nil
	}
	if d.Max != nil && o.Max != nil {
		v := max(*d.Max, *o.Max)
		d.Max = &v
	} else {
		d.Max = nil
	}
	if len(d.Buckets) == len(o.Buckets) && equalBounds(d.Bounds, o.Bounds) {
		b := make([]uint64, len(d.Buckets))
		for i := range b {
			b[i] = d.Buckets[i] + o.Buckets[i]
		}
		d.Buckets = b
	} else {
		d.Bounds, d.Buckets = nil, nil
	}
}

func equalBounds(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// percentile reads the p-th percentile (0..100) from the buckets: the
// upper bound of the bucket holding it, kept within [Min, Max].
func (d *Datum) percentile(p float64) (float64, bool) {
	if len(d.Buckets) == 0 || d.Count == nil || *d.Count == 0 {
		return 0, false
	}
	rank := p / 100 * *d.Count
	var seen float64
	v := 0.0
	for i, n := range d.Buckets {
		seen += float64(n)
		if n > 0 && seen >= rank {
			if i < len(d.Bounds) {
				v = d.Bounds[i]
			} else if d.Max != nil {
				v = *d.Max
			}
			break
		}
	}
	if d.Min != nil {
		v = max(v, *d.Min)
	}
	if d.Max != nil {
		v = min(v, *d.Max)
	}
	return v, true
}

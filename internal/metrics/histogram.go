package metrics

import "sync/atomic"

// Histogram counts observations into fixed buckets. Observe is two atomic
// adds and a search over the bounds; it never allocates or locks. The zero
// value is not usable: make one with NewHistogram or Init.
type Histogram struct {
	bounds []int64         // inclusive upper bounds, ascending; shared
	counts []atomic.Uint64 // len(bounds)+1; the last one is +Inf
	sum    atomic.Int64
}

// NewHistogram returns a histogram over bounds (inclusive upper bounds,
// ascending, in the unit of the observed values). bounds is not copied and
// must not change.
func NewHistogram(bounds []int64) *Histogram {
	h := new(Histogram)
	h.Init(bounds)
	return h
}

// Init prepares a histogram held by value, as NewHistogram does.
func (h *Histogram) Init(bounds []int64) {
	h.bounds = bounds
	h.counts = make([]atomic.Uint64, len(bounds)+1)
}

// Observe counts one value.
func (h *Histogram) Observe(v int64) {
	// Linear: the bound lists are short and most values land low.
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// Empty reports whether the histogram has counted no value yet, without
// the allocation of a Snapshot.
func (h *Histogram) Empty() bool {
	for i := range h.counts {
		if h.counts[i].Load() != 0 {
			return false
		}
	}
	return true
}

// HistogramSnapshot is a histogram's state at one moment. Counts[i] is the
// number of values at most Bounds[i] and above Bounds[i-1]; the last entry
// counts the values above every bound. Reading is not atomic across
// buckets: a snapshot taken during an Observe may count the value in Count
// but not yet in Sum, which later snapshots correct.
type HistogramSnapshot struct {
	Bounds []int64
	Counts []uint64
	Count  uint64
	Sum    int64
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = h.sum.Load()
	return s
}

// Cumulative returns, for each bound, the number of values at most that
// bound (the form Prometheus histograms take).
func (s HistogramSnapshot) Cumulative() []uint64 {
	out := make([]uint64, len(s.Bounds))
	var n uint64
	for i := range s.Bounds {
		n += s.Counts[i]
		out[i] = n
	}
	return out
}

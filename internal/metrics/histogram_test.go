package metrics

import (
	"slices"
	"sync"
	"testing"
)

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram([]int64{0, 10, 100})
	for _, v := range []int64{0, 0, 1, 10, 11, 100, 101, 5000} {
		h.Observe(v)
	}
	s := h.Snapshot()
	if want := []uint64{2, 2, 2, 2}; !slices.Equal(s.Counts, want) {
		t.Errorf("counts %v, want %v", s.Counts, want)
	}
	if s.Count != 8 || s.Sum != 5223 {
		t.Errorf("count %d sum %d, want 8 and 5223", s.Count, s.Sum)
	}
	if got, want := s.Cumulative(), []uint64{2, 4, 6}; !slices.Equal(got, want) {
		t.Errorf("cumulative %v, want %v", got, want)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram(LatencyBounds)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Observe(int64(i) * 1000)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 4000 || s.Sum != 4*999*1000*1000/2 {
		t.Errorf("count %d sum %d", s.Count, s.Sum)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	h := NewHistogram(AgeBounds)
	if n := testing.AllocsPerRun(100, func() { h.Observe(12345) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}

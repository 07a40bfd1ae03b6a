package analytics

import (
	"fmt"

	"github.com/axiomhq/hyperloglog"
)

// exactDistinct is how many distinct values APPROX_COUNT_DISTINCT (and
// KDA's COUNT_DISTINCT_ITEMS_TUMBLING) counts exactly: KDA documents an
// exact count up to 10,000 items in a window. Past it the values go into
// a HyperLogLog sketch (precision 14: a standard error of about 0.8 %)
// and the set is dropped, so a group's state stays at most the sketch's
// 16 KiB however many values come.
const exactDistinct = 10_000

func (a *acc) addApprox(v any) {
	if a.HLL != nil {
		a.HLL.Insert([]byte(typedKey(v)))
		return
	}
	if a.Distinct == nil {
		a.Distinct = map[string]any{}
	}
	a.Distinct[typedKey(v)] = v
	if len(a.Distinct) > exactDistinct {
		a.toSketch()
	}
}

// toSketch moves the exact set into a sketch.
func (a *acc) toSketch() {
	a.HLL = hyperloglog.New14()
	for k := range a.Distinct {
		a.HLL.Insert([]byte(k))
	}
	a.Distinct = nil
}

// mergeApprox folds b's distinct values into a (session windows). b is
// dropped after the merge, so a takes over b's state when it is the
// larger: a row that joins a long session costs one sketch merge, not
// the session's values again.
func (a *acc) mergeApprox(b *acc) {
	if (b.HLL != nil && a.HLL == nil) || (a.HLL == nil && len(b.Distinct) > len(a.Distinct)) {
		a.HLL, b.HLL = b.HLL, a.HLL
		a.Distinct, b.Distinct = b.Distinct, a.Distinct
	}
	if b.HLL == nil {
		for _, v := range b.Distinct {
			a.addApprox(v)
		}
		return
	}
	if a.HLL == nil {
		a.toSketch()
	}
	_ = a.HLL.Merge(b.HLL) // one precision throughout: Merge cannot fail
}

func (a *acc) approxCount() int64 {
	if a.HLL != nil {
		return int64(a.HLL.Estimate())
	}
	return int64(len(a.Distinct))
}

// encodeSketch and decodeSketch carry a sketch in a checkpoint.
func encodeSketch(s *hyperloglog.Sketch) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	return s.MarshalBinary()
}

func decodeSketch(b []byte) (*hyperloglog.Sketch, error) {
	if b == nil {
		return nil, nil
	}
	s := hyperloglog.New14()
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("checkpoint state: a distinct-count sketch: %w", err)
	}
	return s, nil
}

package pebble

import (
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/millrace/millrace/internal/storage"
)

var _ storage.StatsReporter = (*Engine)(nil)

// syncBounds are the WAL sync latencies (seconds) reported: Pebble's own
// histogram has a hundred buckets; each of these is one of its bounds, so
// the counts stay exact.
var syncBounds = []time.Duration{
	200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// EngineStats reads Pebble's metrics (a cheap, in-memory snapshot).
func (e *Engine) EngineStats() storage.EngineStats {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return storage.EngineStats{}
	}
	m := e.db.Metrics()
	out := storage.EngineStats{
		DiskBytes:           m.DiskSpaceUsage(),
		Flushes:             m.Flush.Count,
		Compactions:         m.Compact.Count,
		CompactionDebtBytes: m.Compact.EstimatedDebt,
		WALBytesWritten:     m.WAL.BytesWritten,
	}
	if h := m.LogWriter.FsyncLatency; h != nil {
		var d dto.Metric
		if err := h.Write(&d); err == nil && d.Histogram != nil {
			out.WALSync = syncHistogram(d.Histogram)
		}
	}
	return out
}

// syncHistogram reduces Pebble's fsync histogram (in nanoseconds) to
// syncBounds: the count at each of those bounds is the cumulative count of
// Pebble's largest bound not above it.
func syncHistogram(h *dto.Histogram) storage.LatencyHistogram {
	out := storage.LatencyHistogram{
		Count: h.GetSampleCount(),
		Sum:   h.GetSampleSum() / float64(time.Second),
	}
	buckets := h.GetBucket()
	for _, b := range syncBounds {
		limit := float64(b)
		var at float64 = -1
		var n uint64
		for _, pb := range buckets {
			if ub := pb.GetUpperBound(); ub <= limit*(1+1e-9) {
				at, n = ub, pb.GetCumulativeCount()
			}
		}
		if at < 0 || (len(out.Bounds) > 0 && at/float64(time.Second) <= out.Bounds[len(out.Bounds)-1]) {
			continue
		}
		out.Bounds = append(out.Bounds, at/float64(time.Second))
		out.Counts = append(out.Counts, n)
	}
	return out
}

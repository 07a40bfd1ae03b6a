package metrics

import "time"

// Bucket bounds shared by the domain's histograms.
var (
	// LatencyBounds are for call latencies, in nanoseconds: 250µs to 10s.
	LatencyBounds = []int64{
		int64(250 * time.Microsecond), int64(500 * time.Microsecond),
		int64(time.Millisecond), int64(2500 * time.Microsecond), int64(5 * time.Millisecond),
		int64(10 * time.Millisecond), int64(25 * time.Millisecond), int64(50 * time.Millisecond),
		int64(100 * time.Millisecond), int64(250 * time.Millisecond), int64(500 * time.Millisecond),
		int64(time.Second), int64(2500 * time.Millisecond), int64(5 * time.Second), int64(10 * time.Second),
	}
	// AgeBounds are for how far a reader is behind the newest record, in
	// milliseconds: 0 (caught up) to 7 days (past which records may be
	// gone with the default retention of 24 hours raised to its maximum).
	AgeBounds = []int64{
		0, 100, 500, 1000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000,
		3_600_000, 21_600_000, 86_400_000, 604_800_000,
	}
)

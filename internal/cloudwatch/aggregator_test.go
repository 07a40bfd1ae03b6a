package cloudwatch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/metrics"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// fakeSource reports totals a test sets.
type fakeSource struct {
	mu      sync.Mutex
	samples []Sample
}

func (f *fakeSource) Sample() []Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Sample(nil), f.samples...)
}

func (f *fakeSource) set(s ...Sample) {
	f.mu.Lock()
	f.samples = s
	f.mu.Unlock()
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testKey = Key{Account: "000000000000", Region: "us-east-1", Namespace: NamespaceKinesis, Metric: "IncomingRecords",
	Dims: []Dim{{"StreamName", "s"}}, Unit: "Count"}

func total(sum, count float64) Sample {
	return Sample{Key: testKey, Kind: KindTotal, Sum: sum, Count: count, HasCount: true}
}

// minutes reads every stored or open minute of [start, end) for testKey.
func minutes(t *testing.T, a *Aggregator, start, end time.Time) map[time.Time]Datum {
	t.Helper()
	out := map[time.Time]Datum{}
	err := a.query(context.Background(), start, end, func(m time.Time, s *storedSeries) {
		if k := s.key(); k.id() != testKey.id() {
			return
		}
		d, ok := out[m]
		if !ok {
			out[m] = copyDatum(s.Datum)
			return
		}
		d.merge(&s.Datum)
		out[m] = d
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAggregatorWritesEachMinuteAndMergesTheOpenOne(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 30, 0, time.UTC)
	clock := &fakeClock{t: t0}
	src := &fakeSource{}
	src.set(total(5, 1)) // counted before the aggregator started: no minute's
	a := NewAggregator(AggregatorOptions{Log: eng, Sources: []Source{src}, Now: clock.now, Retention: time.Hour})
	m0 := t0.Truncate(time.Minute)

	src.set(total(12, 3))
	clock.add(time.Minute) // 10:01:30
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	src.set(total(20, 4)) // 8 more in the open minute 10:01
	got := minutes(t, a, m0, m0.Add(10*time.Minute))
	if d := got[m0]; d.Sum != 7 || *d.Count != 2 || d.Min != nil {
		t.Errorf("minute 10:00 = %+v, want Sum 7 over 2 samples and no Minimum", d)
	}
	if d := got[m0.Add(time.Minute)]; d.Sum != 8 || *d.Count != 1 {
		t.Errorf("open minute 10:01 = %+v, want Sum 8 over 1", d)
	}

	// A flush in the middle of a minute, then the rest of it: one minute.
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	src.set(total(21, 5))
	clock.add(time.Minute) // 10:02:30
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got = minutes(t, a, m0, m0.Add(10*time.Minute))
	if d := got[m0.Add(time.Minute)]; d.Sum != 9 || *d.Count != 2 || len(got) != 2 {
		t.Errorf("minutes %+v: want 10:01 with Sum 9 over 2 (flushed part and rest)", got)
	}

	// A series that starts again from zero (stream re-created).
	src.set(total(2, 1))
	clock.add(time.Minute)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if d := minutes(t, a, m0, m0.Add(10*time.Minute))[m0.Add(2*time.Minute)]; d.Sum != 2 {
		t.Errorf("minute after a reset = %+v, want Sum 2", d)
	}

	// Counters of another origin (a stream created again under the same
	// name) count from zero even when their totals are higher.
	again := total(30, 3)
	again.Origin = new(int)
	src.set(again)
	clock.add(time.Minute)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if d := minutes(t, a, m0, m0.Add(10*time.Minute))[m0.Add(3*time.Minute)]; d.Sum != 30 {
		t.Errorf("minute of new counters = %+v, want Sum 30", d)
	}

	// Past the retention horizon, minutes are trimmed.
	clock.add(2 * time.Hour)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := minutes(t, a, m0, m0.Add(10*time.Minute)); len(got) != 0 {
		t.Errorf("minutes past retention still read: %+v", got)
	}
}

func TestDatumStatistics(t *testing.T) {
	// A ratio: 3 calls, 2 succeeded.
	d, ok := delta(nil, &Sample{Key: testKey, Kind: KindRatio, Sum: 2, Count: 3, HasCount: true})
	if !ok || *d.Min != 0 || *d.Max != 1 {
		t.Fatalf("ratio datum %+v: want Minimum 0, Maximum 1", d)
	}
	if v, _ := statistic(&d, "Average"); v != 2.0/3 {
		t.Errorf("Average = %v", v)
	}
	if _, ok := statistic(&d, "p50"); ok {
		t.Error("a percentile of a ratio without a histogram")
	}

	// A histogram in nanoseconds scaled to milliseconds: values 2 ms,
	// 3 ms, 40 ms.
	h := metrics.NewHistogram(metrics.LatencyBounds)
	for _, ms := range []int64{2, 3, 40} {
		h.Observe(ms * int64(time.Millisecond))
	}
	d, ok = delta(nil, &Sample{Key: testKey, Kind: KindHistogram, Hist: h.Snapshot(), Scale: 1e6})
	if !ok || d.Sum != 45 || *d.Count != 3 {
		t.Fatalf("histogram datum %+v", d)
	}
	// 2 ms and 3 ms fall in (2.5, 5] and (1, 2.5]; 40 ms in (25, 50].
	if *d.Min != 1 || *d.Max != 50 {
		t.Errorf("Minimum %v, Maximum %v: want the bucket bounds 1 and 50", *d.Min, *d.Max)
	}
	for stat, want := range map[string]float64{"p50": 5, "p0": 2.5, "p100": 50, "p66.67": 50} {
		if v, ok := statistic(&d, stat); !ok || v != want {
			t.Errorf("%s = %v, %v; want %v", stat, v, ok, want)
		}
	}
	for _, bad := range []string{"p", "p101", "p-1", "p5.", "p.5", "p1.234", "tm99", "p1e1"} {
		if _, ok := parsePercentile(bad); ok {
			t.Errorf("%q parsed as a percentile", bad)
		}
	}
	// Merging two minutes adds buckets and keeps the extremes.
	e := copyDatum(d)
	e.merge(&d)
	if *e.Count != 6 || e.Sum != 90 || *e.Max != 50 || e.Buckets[len(e.Buckets)-1] != 0 {
		t.Errorf("merged %+v", e)
	}
}

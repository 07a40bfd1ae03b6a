package cloudwatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// DefaultRetention is how long one-minute aggregates are kept when the
// options leave it zero: 15 days, as CloudWatch keeps one-minute data.
const DefaultRetention = 15 * 24 * time.Hour

// AggregatorOptions configure an Aggregator.
type AggregatorOptions struct {
	Log     storage.Log
	Sources []Source
	// Retention is how long minutes are kept; zero: DefaultRetention.
	Retention time.Duration
	Logger    *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Aggregator turns the sources' running totals into per-minute data in
// the log, and answers queries from the log plus the minute still open.
type Aggregator struct {
	opts AggregatorOptions
	log  *slog.Logger

	mu sync.Mutex
	// open is the start of the minute being counted; prev the totals at
	// its start (or at the last flush within it).
	open time.Time
	prev map[string]*Sample
	// index lists the series of the stored minutes and the last minute
	// each had data, for ListMetrics: built by one scan of the log on
	// first use, then kept current by write. Nil until then.
	index map[string]*indexed
}

// indexed is one series in the index.
type indexed struct {
	series storedSeries // its key; the datum is unused
	last   time.Time
}

// NewAggregator returns an aggregator whose first minute starts now:
// totals counted before are not attributed to any minute.
func NewAggregator(opts AggregatorOptions) *Aggregator {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Aggregator{opts: opts, log: opts.Logger}
	a.open = opts.Now().UTC().Truncate(time.Minute)
	a.prev = a.sample()
	return a
}

// Retention is the horizon of the kept minutes.
func (a *Aggregator) Retention() time.Duration { return a.opts.Retention }

func (a *Aggregator) now() time.Time { return a.opts.Now().UTC() }

func (a *Aggregator) sample() map[string]*Sample {
	out := map[string]*Sample{}
	for _, src := range a.opts.Sources {
		for _, s := range src.Sample() {
			s := s
			out[s.Key.id()] = &s
		}
	}
	return out
}

// Run writes each minute when it ends, and the open part of the current
// minute when ctx is done, until then. It is meant to run as one
// background unit of the server.
func (a *Aggregator) Run(ctx context.Context) {
	for {
		a.mu.Lock()
		next := a.open.Add(time.Minute)
		a.mu.Unlock()
		wait := next.Sub(a.now())
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := a.Flush(fctx); err != nil {
				a.log.Warn("writing the open minute's metrics at stop failed", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
		if err := a.Tick(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("writing a minute of metrics failed", "err", err)
		}
	}
}

// Tick closes every minute that has ended: it writes the counts since the
// last write to the open minute, starts the current one and trims minutes
// past the retention horizon.
func (a *Aggregator) Tick(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	cur := now.Truncate(time.Minute)
	if !cur.After(a.open) {
		return nil
	}
	err := a.write(ctx)
	a.open = cur
	if terr := a.opts.Log.Trim(ctx, LogKey, now.Add(-a.opts.Retention).UnixMilli()); terr != nil && err == nil {
		err = terr
	}
	return err
}

// Flush writes what the open minute has counted so far, so that a stop
// loses nothing; the rest of the minute is written when it ends (queries
// merge the two).
func (a *Aggregator) Flush(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.write(ctx)
}

// write appends the open minute's differences; the caller holds mu.
func (a *Aggregator) write(ctx context.Context) error {
	cur := a.sample()
	series := a.deltas(cur)
	if len(series) > 0 {
		if err := appendMinute(ctx, a.opts.Log, a.open, series); err != nil {
			return err
		}
		if a.index != nil {
			for i := range series {
				a.indexSeries(a.open, &series[i])
			}
		}
	}
	a.prev = cur
	return nil
}

// indexSeries records that s had data in minute; the caller holds mu.
func (a *Aggregator) indexSeries(minute time.Time, s *storedSeries) {
	k := s.key()
	id := k.id()
	if e := a.index[id]; e != nil {
		if minute.After(e.last) {
			e.last = minute
		}
		return
	}
	a.index[id] = &indexed{series: storedSeries{Account: s.Account, Region: s.Region, Namespace: s.Namespace,
		Metric: s.Metric, Dims: s.Dims, Unit: s.Unit}, last: minute}
}

// seriesSince calls fn with every series that had data since the given
// time: stored minutes (through the index) and the open minute.
func (a *Aggregator) seriesSince(ctx context.Context, since time.Time, fn func(s *storedSeries)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.index == nil {
		index := map[string]*indexed{}
		a.index = index
		now := a.now()
		err := readMinutes(ctx, a.opts.Log, now.Add(-a.opts.Retention), now.Add(24*time.Hour), func(m time.Time, s *storedSeries) {
			a.indexSeries(m, s)
		})
		if err != nil {
			a.index = nil
			return err
		}
	}
	horizon := a.now().Add(-a.opts.Retention)
	for id, e := range a.index {
		if e.last.Before(horizon) {
			delete(a.index, id) // trimmed from the log too
			continue
		}
		if !e.last.Before(since) {
			fn(&e.series)
		}
	}
	live := a.deltas(a.sample())
	for i := range live {
		fn(&live[i])
	}
	return nil
}

// deltas are the differences of cur from prev; the caller holds mu.
func (a *Aggregator) deltas(cur map[string]*Sample) []storedSeries {
	var out []storedSeries
	for id, s := range cur {
		if s.Off {
			continue
		}
		d, ok := delta(a.prev[id], s)
		if ok {
			out = append(out, toStored(&s.Key, d))
		}
	}
	return out
}

// query calls fn with every datum of [start, end): stored minutes, then
// the open minute's counts so far when it is in the range.
func (a *Aggregator) query(ctx context.Context, start, end time.Time, fn func(minute time.Time, s *storedSeries)) error {
	if err := readMinutes(ctx, a.opts.Log, start, end, fn); err != nil {
		return err
	}
	a.mu.Lock()
	open := a.open
	live := a.deltas(a.sample())
	a.mu.Unlock()
	if open.Before(start) || !open.Before(end) {
		return nil
	}
	for i := range live {
		fn(open, &live[i])
	}
	return nil
}

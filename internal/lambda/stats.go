package lambda

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/metrics"
)

// FunctionCounters are one function's running totals, in the terms of
// AWS/Lambda's metrics: every invocation (Invoke RequestResponse and
// Event, the event source mappings' batches and on-failure records).
type FunctionCounters struct {
	Invocations, Errors, Throttles atomic.Int64
	// Duration is each invocation's duration in nanoseconds.
	Duration metrics.Histogram
	// IteratorAge is, for each batch a mapping finished, the age in
	// milliseconds of its last record when it was finished.
	IteratorAge metrics.Histogram
	// AsyncEventsDropped counts the Event invocations dropped unrun for
	// their age (MaximumEventAgeInSeconds).
	AsyncEventsDropped atomic.Int64
}

// MappingCounters are one event source mapping's event counts, in the
// terms of Lambda's EventCount metrics.
type MappingCounters struct {
	// Polled counts the records read; Invoked the records sent in
	// invocations (a retried record counts each time); FailedInvoke the
	// records of invocations that failed; Dropped the records given up
	// on; OnFailureDelivered the records whose invocation record the
	// on-failure destination took.
	// FilteredOut counts the records no filter let through.
	Polled, FilteredOut, Invoked, FailedInvoke, Dropped, OnFailureDelivered atomic.Int64
	// IteratorAge is the mapping's share of its function's IteratorAge.
	IteratorAge metrics.Histogram
}

// FunctionStats names one function's counters.
type FunctionStats struct {
	Account, Region, Name string
	Counters              *FunctionCounters
	// ConcurrentExecutions is how many of its invocations run now.
	ConcurrentExecutions int
}

// MappingStats names one mapping's counters. EventCount says whether its
// MetricsConfig asks for the event count metrics (AWS publishes them
// only then).
type MappingStats struct {
	Account, Region, UUID string
	EventCount            bool
	Counters              *MappingCounters
}

// stats holds the service's counters, created on first use.
type stats struct {
	mu       sync.Mutex
	fns      map[string]*FunctionStats // poolKey
	mappings map[string]*MappingStats  // uuid
}

func (st *stats) function(account, region, name string) *FunctionCounters {
	k := poolKey(account, region, name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.fns == nil {
		st.fns = map[string]*FunctionStats{}
	}
	f := st.fns[k]
	if f == nil {
		c := &FunctionCounters{}
		c.Duration.Init(metrics.LatencyBounds)
		c.IteratorAge.Init(metrics.AgeBounds)
		f = &FunctionStats{Account: account, Region: region, Name: name, Counters: c}
		st.fns[k] = f
	}
	return f.Counters
}

func (st *stats) dropFunction(account, region, name string) {
	st.mu.Lock()
	delete(st.fns, poolKey(account, region, name))
	st.mu.Unlock()
}

// mapping returns m's counters and records whether it wants EventCount.
func (st *stats) mapping(m *mapping) *MappingCounters {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mappings == nil {
		st.mappings = map[string]*MappingStats{}
	}
	ms := st.mappings[m.UUID]
	if ms == nil {
		ms = &MappingStats{Account: m.Account, Region: m.Region, UUID: m.UUID, Counters: &MappingCounters{}}
		ms.Counters.IteratorAge.Init(metrics.AgeBounds)
		st.mappings[m.UUID] = ms
	}
	ms.EventCount = slices.Contains(m.Metrics, "EventCount")
	return ms.Counters
}

func (st *stats) dropMapping(uuid string) {
	st.mu.Lock()
	delete(st.mappings, uuid)
	st.mu.Unlock()
}

// Stats returns every function's and mapping's counters, sorted, for the
// AWS/Lambda metrics.
func (s *Service) Stats() ([]FunctionStats, []MappingStats) {
	busy := s.run.busy()
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	fns := make([]FunctionStats, 0, len(st.fns))
	for k, f := range st.fns {
		fs := *f
		fs.ConcurrentExecutions = busy[k]
		fns = append(fns, fs)
	}
	maps := make([]MappingStats, 0, len(st.mappings))
	for _, m := range st.mappings {
		maps = append(maps, *m)
	}
	slices.SortFunc(fns, func(a, b FunctionStats) int {
		return strings.Compare(poolKey(a.Account, a.Region, a.Name), poolKey(b.Account, b.Region, b.Name))
	})
	slices.SortFunc(maps, func(a, b MappingStats) int { return strings.Compare(a.UUID, b.UUID) })
	return fns, maps
}

// counted records one synchronous invocation's outcome.
func (s *Service) counted(f *function, res result, took time.Duration) {
	c := s.stats.function(f.Account, f.Region, f.Name)
	c.Invocations.Add(1)
	if res.functionError != "" {
		c.Errors.Add(1)
	}
	c.Duration.Observe(took.Nanoseconds())
}

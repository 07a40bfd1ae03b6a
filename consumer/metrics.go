package consumer

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of a worker's counters.
type Stats struct {
	RecordsProcessed uint64 // user records handed to processors
	GetRecordsCalls  uint64
	Throttles        uint64 // reads refused for throughput (then backed off)
	Checkpoints      uint64 // checkpoints written
	LeasesTaken      uint64 // takes, steals included
	LeasesStolen     uint64
	LeasesLost       uint64
	LeasesHeld       int // leases held now
	// Leases is the number of unfinished leases of the consumed streams at
	// the last scan, and LeasesByOwner their count per live owner.
	Leases        int
	LeasesByOwner map[string]int
}

type metrics struct {
	recordsProcessed, getRecordsCalls, throttles, checkpoints atomic.Uint64
	leasesTaken, leasesStolen, leasesLost                     atomic.Uint64

	mu      sync.Mutex
	leases  int
	byOwner map[string]int

	behind    *prometheus.GaugeVec
	processed *prometheus.CounterVec
}

func (m *metrics) init(app, worker string) {
	labels := prometheus.Labels{"application": app, "worker": worker}
	m.behind = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "millrace", Subsystem: "consumer", Name: "millis_behind_latest",
		Help:        "How far the last read of a shard was behind the tip of the shard, in milliseconds.",
		ConstLabels: labels,
	}, []string{"shard"})
	m.processed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "millrace", Subsystem: "consumer", Name: "records_processed_total",
		Help:        "User records handed to record processors.",
		ConstLabels: labels,
	}, []string{"stream"})
}

func (m *metrics) observeBatch(shard, stream string, n int, behind int64) {
	m.behind.WithLabelValues(shard).Set(float64(behind))
	if n > 0 {
		m.processed.WithLabelValues(stream).Add(float64(n))
	}
}

func (m *metrics) setLeaseCounts(leases int, byOwner map[string]int) {
	m.mu.Lock()
	m.leases, m.byOwner = leases, byOwner
	m.mu.Unlock()
}

// Stats returns the worker's counters.
func (w *Worker) Stats() Stats {
	m := &w.metrics
	m.mu.Lock()
	leases := m.leases
	byOwner := make(map[string]int, len(m.byOwner))
	for k, v := range m.byOwner {
		byOwner[k] = v
	}
	m.mu.Unlock()
	return Stats{
		RecordsProcessed: m.recordsProcessed.Load(),
		GetRecordsCalls:  m.getRecordsCalls.Load(),
		Throttles:        m.throttles.Load(),
		Checkpoints:      m.checkpoints.Load(),
		LeasesTaken:      m.leasesTaken.Load(),
		LeasesStolen:     m.leasesStolen.Load(),
		LeasesLost:       m.leasesLost.Load(),
		LeasesHeld:       len(w.HeldLeases()),
		Leases:           leases,
		LeasesByOwner:    byOwner,
	}
}

// Collector returns a Prometheus collector of the worker's metrics, for
// the caller to register.
func (w *Worker) Collector() prometheus.Collector { return collector{w} }

type collector struct{ w *Worker }

var _ prometheus.Collector = collector{}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("millrace_consumer_"+name, help, []string{"application", "worker"}, nil)
}

var (
	descGetRecords = desc("get_records_calls_total", "GetRecords calls.")
	descThrottles  = desc("throttles_total", "Reads refused for throughput.")
	descCheckpts   = desc("checkpoints_total", "Checkpoints written to the lease table.")
	descTaken      = desc("leases_taken_total", "Leases taken, steals included.")
	descStolen     = desc("leases_stolen_total", "Leases stolen from another worker for balance.")
	descLost       = desc("leases_lost_total", "Leases lost to another worker or to expiry.")
	descHeld       = desc("leases_held", "Leases held by this worker.")
	descLeases     = desc("leases", "Unfinished leases of the consumed streams at the last scan of the lease table.")
	descWorkers    = desc("workers", "Live workers seen in the lease table at the last scan, this one included.")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGetRecords, descThrottles, descCheckpts, descTaken, descStolen, descLost, descHeld, descLeases, descWorkers} {
		ch <- d
	}
	c.w.metrics.behind.Describe(ch)
	c.w.metrics.processed.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.w.Stats()
	app, worker := c.w.cfg.ApplicationName, c.w.cfg.WorkerID
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), app, worker)
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), app, worker)
	}
	counter(descGetRecords, s.GetRecordsCalls)
	counter(descThrottles, s.Throttles)
	counter(descCheckpts, s.Checkpoints)
	counter(descTaken, s.LeasesTaken)
	counter(descStolen, s.LeasesStolen)
	counter(descLost, s.LeasesLost)
	gauge(descHeld, s.LeasesHeld)
	gauge(descLeases, s.Leases)
	gauge(descWorkers, len(s.LeasesByOwner))
	c.w.metrics.behind.Collect(ch)
	c.w.metrics.processed.Collect(ch)
}

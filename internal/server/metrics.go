package server

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/metrics"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// MetricsPath answers GET and HEAD with the Prometheus metrics (see
// docs/metrics.md) when metrics are on.
const MetricsPath = "/metrics"

// monitor is the server's Prometheus side: a registry of its own (never
// the global one) holding the domain's Kinesis counters, read at scrape
// time, the requests the router completed, the storage engine's figures
// and the Go runtime and process collectors.
type monitor struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// ops caches each operation's series for successful requests, so that
	// a request costs no label hashing and no lock: a map replaced whole
	// (under opsMu) when an operation is first seen.
	ops   atomic.Pointer[map[opKey]*opSeries]
	opsMu sync.Mutex
}

type opKey struct{ service, operation string }

type opSeries struct {
	ok       prometheus.Counter
	duration prometheus.Observer
}

// series returns an operation's cached series.
func (m *monitor) series(k opKey) *opSeries {
	if p := m.ops.Load(); p != nil {
		if s := (*p)[k]; s != nil {
			return s
		}
	}
	m.opsMu.Lock()
	defer m.opsMu.Unlock()
	var cur map[opKey]*opSeries
	if p := m.ops.Load(); p != nil {
		cur = *p
	}
	if s := cur[k]; s != nil {
		return s
	}
	next := make(map[opKey]*opSeries, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	s := &opSeries{
		ok:       m.requests.WithLabelValues(k.service, k.operation, "OK"),
		duration: m.duration.WithLabelValues(k.service, k.operation),
	}
	next[k] = s
	m.ops.Store(&next)
	return s
}

func newMonitor(st *streams.Streams, engine any) *monitor {
	m := &monitor{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "millrace_requests_total",
			Help: "API requests to a known operation, by service, operation and outcome (OK or the AWS error code).",
		}, []string{"service", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "millrace_request_duration_seconds",
			Help:    "Time from a request's arrival to the operation's result, before the response is written.",
			Buckets: secondsBounds(metrics.LatencyBounds, float64(time.Second)),
		}, []string{"service", "operation"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "millrace_subscriptions_open",
			Help: "SubscribeToShard calls being served.",
		}, func() float64 { return float64(st.OpenSubscriptions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "millrace_get_records_buffers_leased",
			Help: "GetRecords calls holding one of the server's read buffers (at most three), from the read until their response is written.",
		}, func() float64 { out, _ := st.ReadBufferStats(); return float64(out) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "millrace_get_records_buffer_overdrafts_total",
			Help: "GetRecords calls that found no read buffer free within 50 ms and read at most 1 MiB of records into memory of their own.",
		}, func() float64 { _, n := st.ReadBufferStats(); return float64(n) }),
		&kinesisCollector{streams: st},
	)
	if r, ok := engine.(storage.StatsReporter); ok {
		m.reg.MustRegister(storageCollector{r})
	}
	return m
}

// handler serves the registry in the Prometheus text format.
func (m *monitor) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// onComplete counts one completed API request; chained before next (the
// audit log's hook, or nil).
func (m *monitor) onComplete(next func(context.Context, *awsproto.RequestInfo, []byte, any, *awsproto.Error)) func(context.Context, *awsproto.RequestInfo, []byte, any, *awsproto.Error) {
	return func(ctx context.Context, info *awsproto.RequestInfo, body []byte, out any, err *awsproto.Error) {
		s := m.series(opKey{info.Service, info.Operation})
		if err == nil {
			s.ok.Inc()
		} else {
			m.requests.WithLabelValues(info.Service, info.Operation, err.Code).Inc()
		}
		s.duration.Observe(time.Since(info.Received).Seconds())
		if next != nil {
			next(ctx, info, body, out, err)
		}
	}
}

// secondsBounds turns histogram bounds in a unit of perSecond per second
// into seconds.
func secondsBounds(bounds []int64, perSecond float64) []float64 {
	out := make([]float64, len(bounds))
	for i, b := range bounds {
		out[i] = float64(b) / perSecond
	}
	return out
}

// Label names of the Kinesis series: CloudWatch's dimensions StreamName,
// ShardId and ConsumerName, with the account and region that tell apart
// streams of the same name.
var (
	streamLabels   = []string{"account", "region", "stream"}
	shardLabels    = []string{"account", "region", "stream", "shard"}
	consumerLabels = []string{"account", "region", "stream", "consumer"}
)

// counterDef is one counter read from the domain's counters.
type counterDef[T any] struct {
	desc *prometheus.Desc
	read func(*T) int64
}

// histogramDef is one histogram; scale converts its unit to seconds.
type histogramDef[T any] struct {
	desc   *prometheus.Desc
	read   func(*T) *metrics.Histogram
	perSec float64
}

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("millrace_kinesis_"+name, help, labels, nil)
}

// The stream-level metrics (AWS/Kinesis, dimension StreamName).
var (
	streamCounters = []counterDef[streams.StreamCounters]{
		{desc("incoming_bytes_total", "Bytes (data and partition keys) stored by PutRecord and PutRecords. CloudWatch: IncomingBytes (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.IncomingBytes.Load() }},
		{desc("incoming_records_total", "Records stored by PutRecord and PutRecords. CloudWatch: IncomingRecords (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.IncomingRecords.Load() }},
		{desc("incoming_puts_total", "PutRecord and PutRecords calls that stored at least one record. CloudWatch: IncomingBytes/IncomingRecords (SampleCount).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.IncomingPuts.Load() }},
		{desc("put_record_requests_total", "PutRecord calls on the stream. CloudWatch: PutRecord.Success (SampleCount).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordRequests.Load() }},
		{desc("put_record_success_total", "Successful PutRecord calls. CloudWatch: PutRecord.Success (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordSuccess.Load() }},
		{desc("put_record_bytes_total", "Bytes stored by PutRecord. CloudWatch: PutRecord.Bytes (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordBytes.Load() }},
		{desc("put_records_requests_total", "PutRecords calls on the stream. CloudWatch: PutRecords.Success (SampleCount).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsRequests.Load() }},
		{desc("put_records_success_total", "PutRecords calls that stored at least one record. CloudWatch: PutRecords.Success (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsSuccess.Load() }},
		{desc("put_records_bytes_total", "Bytes stored by PutRecords. CloudWatch: PutRecords.Bytes (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsBytes.Load() }},
		{desc("put_records_total_records_total", "Records sent in PutRecords calls. CloudWatch: PutRecords.TotalRecords (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsTotalRecords.Load() }},
		{desc("put_records_successful_records_total", "Records PutRecords stored. CloudWatch: PutRecords.SuccessfulRecords and PutRecords.Records (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsSuccessfulRecords.Load() }},
		{desc("put_records_throttled_records_total", "Records of PutRecords refused by throttling. CloudWatch: PutRecords.ThrottledRecords (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsThrottledRecords.Load() }},
		{desc("put_records_failed_records_total", "Records of PutRecords that failed with InternalFailure. CloudWatch: PutRecords.FailedRecords (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.PutRecordsFailedRecords.Load() }},
		{desc("get_records_requests_total", "GetRecords calls on the stream. CloudWatch: GetRecords.Success (SampleCount).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.GetRecordsRequests.Load() }},
		{desc("get_records_success_total", "Successful GetRecords calls. CloudWatch: GetRecords.Success (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.GetRecordsSuccess.Load() }},
		{desc("get_records_bytes_total", "Bytes (data and partition keys) GetRecords returned. CloudWatch: GetRecords.Bytes (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.GetRecordsBytes.Load() }},
		{desc("get_records_records_total", "Records GetRecords returned. CloudWatch: GetRecords.Records (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.GetRecordsRecords.Load() }},
		{desc("write_provisioned_throughput_exceeded_total", "Records refused by throttling (PutRecord and PutRecords). CloudWatch: WriteProvisionedThroughputExceeded (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.WriteThroughputExceeded.Load() }},
		{desc("read_provisioned_throughput_exceeded_total", "GetRecords calls refused by throttling. CloudWatch: ReadProvisionedThroughputExceeded (Sum).", streamLabels),
			func(c *streams.StreamCounters) int64 { return c.ReadThroughputExceeded.Load() }},
	}
	streamHistograms = []histogramDef[streams.StreamCounters]{
		{desc("put_record_latency_seconds", "Time per PutRecord. CloudWatch: PutRecord.Latency.", streamLabels),
			func(c *streams.StreamCounters) *metrics.Histogram { return &c.PutRecordLatency }, float64(time.Second)},
		{desc("put_records_latency_seconds", "Time per PutRecords. CloudWatch: PutRecords.Latency.", streamLabels),
			func(c *streams.StreamCounters) *metrics.Histogram { return &c.PutRecordsLatency }, float64(time.Second)},
		{desc("get_records_latency_seconds", "Time per GetRecords. CloudWatch: GetRecords.Latency.", streamLabels),
			func(c *streams.StreamCounters) *metrics.Histogram { return &c.GetRecordsLatency }, float64(time.Second)},
		{desc("get_records_iterator_age_seconds", "Per successful GetRecords, how long ago the last record it returned was written (0: caught up). CloudWatch: GetRecords.IteratorAgeMilliseconds.", streamLabels),
			func(c *streams.StreamCounters) *metrics.Histogram { return &c.GetRecordsIteratorAge }, 1000},
	}
)

// The consumer metrics (dimensions StreamName and ConsumerName).
var (
	consumerCounters = []counterDef[streams.ConsumerCounters]{
		{desc("subscribe_to_shard_success_total", "SubscribeToShard calls that started a subscription. CloudWatch: SubscribeToShard.Success (Sum).", consumerLabels),
			func(c *streams.ConsumerCounters) int64 { return c.SubscribeSuccess.Load() }},
		{desc("subscribe_to_shard_rate_exceeded_total", "SubscribeToShard calls refused because the consumer already had a subscription to the shard. CloudWatch: SubscribeToShard.RateExceeded (Sum).", consumerLabels),
			func(c *streams.ConsumerCounters) int64 { return c.SubscribeRateExceeded.Load() }},
		{desc("subscribe_to_shard_event_success_total", "SubscribeToShardEvents sent (heartbeats included). CloudWatch: SubscribeToShardEvent.Success (Sum).", consumerLabels),
			func(c *streams.ConsumerCounters) int64 { return c.EventSuccess.Load() }},
		{desc("subscribe_to_shard_event_records_total", "Records sent in SubscribeToShardEvents. CloudWatch: SubscribeToShardEvent.Records (Sum).", consumerLabels),
			func(c *streams.ConsumerCounters) int64 { return c.EventRecords.Load() }},
		{desc("subscribe_to_shard_event_bytes_total", "Bytes (data and partition keys) sent in SubscribeToShardEvents. CloudWatch: SubscribeToShardEvent.Bytes (Sum).", consumerLabels),
			func(c *streams.ConsumerCounters) int64 { return c.EventBytes.Load() }},
	}
	consumerHistograms = []histogramDef[streams.ConsumerCounters]{
		{desc("subscribe_to_shard_event_behind_latest_seconds", "Per SubscribeToShardEvent, its MillisBehindLatest. CloudWatch: SubscribeToShardEvent.MillisBehindLatest.", consumerLabels),
			func(c *streams.ConsumerCounters) *metrics.Histogram { return &c.MillisBehindLatest }, 1000},
	}
)

// shardMetric is one shard-level metric, exposed for the shards of the
// streams that enabled it with EnableEnhancedMonitoring.
type shardMetric struct {
	name      string // the ShardLevelMetrics value
	counter   *counterDef[streams.ShardCounters]
	histogram *histogramDef[streams.ShardCounters]
}

func shardCounter(cw, name, help string, read func(*streams.ShardCounters) int64) shardMetric {
	return shardMetric{name: cw, counter: &counterDef[streams.ShardCounters]{desc("shard_"+name, help+" CloudWatch: "+cw+" (Sum), dimension ShardId.", shardLabels), read}}
}

var shardMetrics = []shardMetric{
	shardCounter("IncomingBytes", "incoming_bytes_total", "Bytes (data and partition keys) stored in the shard.",
		func(c *streams.ShardCounters) int64 { return c.IncomingBytes.Load() }),
	shardCounter("IncomingRecords", "incoming_records_total", "Records stored in the shard.",
		func(c *streams.ShardCounters) int64 { return c.IncomingRecords.Load() }),
	shardCounter("OutgoingBytes", "outgoing_bytes_total", "Bytes read from the shard by GetRecords and SubscribeToShard.",
		func(c *streams.ShardCounters) int64 { return c.OutgoingBytes.Load() }),
	shardCounter("OutgoingRecords", "outgoing_records_total", "Records read from the shard by GetRecords and SubscribeToShard.",
		func(c *streams.ShardCounters) int64 { return c.OutgoingRecords.Load() }),
	shardCounter("WriteProvisionedThroughputExceeded", "write_provisioned_throughput_exceeded_total", "Records refused by the shard's throttling.",
		func(c *streams.ShardCounters) int64 { return c.WriteThroughputExceeded.Load() }),
	shardCounter("ReadProvisionedThroughputExceeded", "read_provisioned_throughput_exceeded_total", "GetRecords calls refused by the shard's throttling.",
		func(c *streams.ShardCounters) int64 { return c.ReadThroughputExceeded.Load() }),
	{name: "IteratorAgeMilliseconds", histogram: &histogramDef[streams.ShardCounters]{
		desc("shard_iterator_age_seconds", "Per successful GetRecords on the shard, how long ago the last record it returned was written. CloudWatch: IteratorAgeMilliseconds, dimension ShardId.", shardLabels),
		func(c *streams.ShardCounters) *metrics.Histogram { return &c.IteratorAge }, 1000}},
}

// kinesisCollector reads the domain's counters at scrape time. Only
// streams that exist are listed, so a deleted stream's series go with it.
type kinesisCollector struct{ streams *streams.Streams }

var _ prometheus.Collector = (*kinesisCollector)(nil)

func (c *kinesisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range streamCounters {
		ch <- d.desc
	}
	for _, d := range streamHistograms {
		ch <- d.desc
	}
	for _, d := range consumerCounters {
		ch <- d.desc
	}
	for _, d := range consumerHistograms {
		ch <- d.desc
	}
	for _, m := range shardMetrics {
		if m.counter != nil {
			ch <- m.counter.desc
		} else {
			ch <- m.histogram.desc
		}
	}
}

func (c *kinesisCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.streams.Stats() {
		labels := []string{s.Account, s.Region, s.Name}
		emit(ch, streamCounters, streamHistograms, s.Counters, labels)
		for _, cs := range s.Consumers {
			emit(ch, consumerCounters, consumerHistograms, cs.Counters, append(labels[:3:3], cs.Name))
		}
		for _, m := range shardMetrics {
			if !slices.Contains(s.ShardLevelMetrics, m.name) {
				continue
			}
			for _, sh := range s.Shards {
				l := append(labels[:3:3], sh.ShardID)
				if m.counter != nil {
					ch <- prometheus.MustNewConstMetric(m.counter.desc, prometheus.CounterValue, float64(m.counter.read(sh.Counters)), l...)
				} else {
					ch <- constHistogram(m.histogram, sh.Counters, l)
				}
			}
		}
	}
}

func emit[T any](ch chan<- prometheus.Metric, counters []counterDef[T], histograms []histogramDef[T], c *T, labels []string) {
	for _, d := range counters {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.read(c)), labels...)
	}
	for i := range histograms {
		ch <- constHistogram(&histograms[i], c, labels)
	}
}

func constHistogram[T any](d *histogramDef[T], c *T, labels []string) prometheus.Metric {
	s := d.read(c).Snapshot()
	cum := s.Cumulative()
	buckets := make(map[float64]uint64, len(cum))
	for i, b := range s.Bounds {
		buckets[float64(b)/d.perSec] = cum[i]
	}
	return prometheus.MustNewConstHistogram(d.desc, s.Count, float64(s.Sum)/d.perSec, buckets, labels...)
}

// storageCollector reads the storage engine's figures at scrape time.
type storageCollector struct{ engine storage.StatsReporter }

var (
	storageDiskBytes = prometheus.NewDesc("millrace_storage_disk_bytes",
		"Space the storage engine's files take (in memory with --in-memory).", nil, nil)
	storageFlushes = prometheus.NewDesc("millrace_storage_flushes_total",
		"Memtable flushes completed since the server started.", nil, nil)
	storageCompactions = prometheus.NewDesc("millrace_storage_compactions_total",
		"Compactions completed since the server started.", nil, nil)
	storageDebt = prometheus.NewDesc("millrace_storage_compaction_debt_bytes",
		"Estimate of the bytes still to compact for the engine to settle.", nil, nil)
	storageWAL = prometheus.NewDesc("millrace_storage_wal_bytes_written_total",
		"Bytes written to the write-ahead log since the server started.", nil, nil)
	storageWALSync = prometheus.NewDesc("millrace_storage_wal_sync_seconds",
		"Latency of the write-ahead log's syncs (fsync), which every acknowledged write waits for.", nil, nil)
)

func (c storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storageDiskBytes, storageFlushes, storageCompactions, storageDebt, storageWAL, storageWALSync} {
		ch <- d
	}
}

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.engine.EngineStats()
	ch <- prometheus.MustNewConstMetric(storageDiskBytes, prometheus.GaugeValue, float64(s.DiskBytes))
	ch <- prometheus.MustNewConstMetric(storageFlushes, prometheus.CounterValue, float64(s.Flushes))
	ch <- prometheus.MustNewConstMetric(storageCompactions, prometheus.CounterValue, float64(s.Compactions))
	ch <- prometheus.MustNewConstMetric(storageDebt, prometheus.GaugeValue, float64(s.CompactionDebtBytes))
	ch <- prometheus.MustNewConstMetric(storageWAL, prometheus.CounterValue, float64(s.WALBytesWritten))
	buckets := make(map[float64]uint64, len(s.WALSync.Bounds))
	for i, b := range s.WALSync.Bounds {
		buckets[b] = s.WALSync.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(storageWALSync, s.WALSync.Count, s.WALSync.Sum, buckets)
}

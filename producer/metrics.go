package producer

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of a producer's counters.
type Stats struct {
	UserRecordsReceived uint64 // accepted by Put
	UserRecordsPut      uint64 // written
	UserRecordsFailed   uint64 // answered with an error (expired, closed, rejected)
	UserRecordsExpired  uint64 // of which: RecordTTL passed
	KinesisRecordsPut   uint64 // Kinesis records written (an aggregate counts once)
	KinesisRecordsSent  uint64 // Kinesis records sent in PutRecords calls, attempts that failed included
	BytesPut            uint64 // bytes of data and partition keys of Kinesis records written
	Retries             uint64 // user records put again after a failed attempt
	Throttles           uint64 // Kinesis records refused for throughput (every entry of a call refused as a whole); Throttles/KinesisRecordsSent is the throttled share
	Requests            uint64 // PutRecords calls
	RequestErrors       uint64 // PutRecords calls that failed as a whole
	ShardMapRefreshes   uint64 // ListShards reloads of the shard map
	PutBlocked          uint64 // times Put waited for buffer space
	BufferedBytes       int64  // bytes held now
	BufferedRecords     int64  // records held now
}

type metrics struct {
	userRecordsReceived, userRecordsPut, userRecordsFailed, expired atomic.Uint64
	kinesisRecordsPut, kinesisRecordsSent, bytesPut, retries        atomic.Uint64
	throttledRecords, requests, requestErrors, shardMapRefreshes    atomic.Uint64
	putBlocked, unexpectedShard                                     atomic.Uint64
	latency                                                         prometheus.Histogram
}

func (m *metrics) init(stream string) {
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "millrace", Subsystem: "producer", Name: "put_latency_seconds",
		Help:        "Duration of PutRecords calls.",
		ConstLabels: prometheus.Labels{"stream": stream},
		Buckets:     prometheus.ExponentialBuckets(0.001, 2, 14),
	})
}

func (m *metrics) observeRequest(d time.Duration, err error) {
	m.requests.Add(1)
	if err != nil {
		m.requestErrors.Add(1)
	}
	m.latency.Observe(d.Seconds())
}

func (m *metrics) countBatch(b *batch, ok []completion, retries int) {
	m.userRecordsPut.Add(uint64(len(ok)))
	m.kinesisRecordsSent.Add(uint64(len(b.entries)))
	m.retries.Add(uint64(retries))
	if len(ok) == 0 {
		return
	}
	// Count the Kinesis records that carried a successful user record.
	seen := make(map[*userRecord]bool, len(ok))
	for _, c := range ok {
		seen[c.r] = true
	}
	for _, e := range b.entries {
		for _, u := range e.users {
			if seen[u] {
				m.kinesisRecordsPut.Add(1)
				m.bytesPut.Add(uint64(len(e.rec.Data) + len(e.rec.PartitionKey)))
				break
			}
		}
	}
}

// Stats returns the producer's counters.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	buffered, records := p.buffered, p.records
	p.mu.Unlock()
	m := &p.metrics
	return Stats{
		UserRecordsReceived: m.userRecordsReceived.Load(),
		UserRecordsPut:      m.userRecordsPut.Load(),
		UserRecordsFailed:   m.userRecordsFailed.Load(),
		UserRecordsExpired:  m.expired.Load(),
		KinesisRecordsPut:   m.kinesisRecordsPut.Load(),
		KinesisRecordsSent:  m.kinesisRecordsSent.Load(),
		BytesPut:            m.bytesPut.Load(),
		Retries:             m.retries.Load(),
		Throttles:           m.throttledRecords.Load(),
		Requests:            m.requests.Load(),
		RequestErrors:       m.requestErrors.Load(),
		ShardMapRefreshes:   m.shardMapRefreshes.Load(),
		PutBlocked:          m.putBlocked.Load(),
		BufferedBytes:       buffered,
		BufferedRecords:     records,
	}
}

// Collector returns a Prometheus collector of the producer's metrics, for
// the caller to register.
func (p *Producer) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *Producer }

var _ prometheus.Collector = collector{}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("millrace_producer_"+name, help, []string{"stream"}, nil)
}

var (
	descUserPut      = desc("user_records_put_total", "User records written.")
	descUserFailed   = desc("user_records_failed_total", "User records answered with an error.")
	descUserExpired  = desc("user_records_expired_total", "User records that reached RecordTTL.")
	descUserReceived = desc("user_records_received_total", "User records accepted by Put.")
	descKinesisPut   = desc("kinesis_records_put_total", "Kinesis records written (an aggregate counts once).")
	descKinesisSent  = desc("kinesis_records_sent_total", "Kinesis records sent in PutRecords calls, failed attempts included.")
	descBytes        = desc("bytes_put_total", "Bytes of data and partition keys of Kinesis records written.")
	descRetries      = desc("retries_total", "User records put again after a failed attempt.")
	descThrottles    = desc("throttles_total", "Kinesis records refused for throughput (every entry of a call refused as a whole included).")
	descRequests     = desc("requests_total", "PutRecords calls.")
	descReqErrors    = desc("request_errors_total", "PutRecords calls that failed as a whole.")
	descBuffered     = desc("buffered_bytes", "Bytes of records held by the producer.")
	descBufferedRecs = desc("buffered_records", "Records held by the producer.")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUserPut, descUserFailed, descUserExpired, descUserReceived, descKinesisPut, descKinesisSent, descBytes,
		descRetries, descThrottles, descRequests, descReqErrors, descBuffered, descBufferedRecs} {
		ch <- d
	}
	c.p.metrics.latency.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	stream := c.p.stream
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), stream)
	}
	counter(descUserPut, s.UserRecordsPut)
	counter(descUserFailed, s.UserRecordsFailed)
	counter(descUserExpired, s.UserRecordsExpired)
	counter(descUserReceived, s.UserRecordsReceived)
	counter(descKinesisPut, s.KinesisRecordsPut)
	counter(descKinesisSent, s.KinesisRecordsSent)
	counter(descBytes, s.BytesPut)
	counter(descRetries, s.Retries)
	counter(descThrottles, s.Throttles)
	counter(descRequests, s.Requests)
	counter(descReqErrors, s.RequestErrors)
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(s.BufferedBytes), stream)
	ch <- prometheus.MustNewConstMetric(descBufferedRecs, prometheus.GaugeValue, float64(s.BufferedRecords), stream)
	c.p.metrics.latency.Collect(ch)
}

package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the agent's counters and, per flow, its backlog.
type collector struct{ a *Agent }

var (
	descCounters = map[string]*prometheus.Desc{}
	descBacklog  = prometheus.NewDesc("millrace_agent_backlog_bytes",
		"Bytes of the flow's files not yet acknowledged by the stream.", []string{"flow"}, nil)
	descBehind = prometheus.NewDesc("millrace_agent_time_behind_seconds",
		"Age of the flow's oldest record not yet acknowledged.", []string{"flow"}, nil)
)

func counters(s *Stats) []struct {
	name, help string
	v          int64
} {
	return []struct {
		name, help string
		v          int64
	}{
		{"millrace_agent_lines_read_total", "Lines read from the files.", s.LinesRead.Load()},
		{"millrace_agent_bytes_read_total", "Bytes read from the files.", s.BytesRead.Load()},
		{"millrace_agent_records_sent_total", "Records acknowledged by the stream.", s.RecordsSent.Load()},
		{"millrace_agent_bytes_sent_total", "Bytes of data of the records acknowledged.", s.BytesSent.Load()},
		{"millrace_agent_records_failed_total", "Records that could not be sent (left for the next start).", s.RecordsFailed.Load()},
		{"millrace_agent_records_truncated_total", "Records cut at the size limit.", s.RecordsTruncated.Load()},
		{"millrace_agent_records_recovered_total", "Records found in the stream after an unclean stop, not sent again.", s.RecordsRecovered.Load()},
		{"millrace_agent_conversion_failures_total", "dataProcessingOptions that failed on a record (sent unconverted).", s.ConversionFailures.Load()},
	}
}

func init() {
	for _, c := range counters(&Stats{}) {
		descCounters[c.name] = prometheus.NewDesc(c.name, c.help, nil, nil)
	}
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descCounters {
		ch <- d
	}
	ch <- descBacklog
	ch <- descBehind
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range counters(&c.a.Stats) {
		ch <- prometheus.MustNewConstMetric(descCounters[v.name], prometheus.CounterValue, float64(v.v))
	}
	now := time.Now()
	for _, r := range c.a.flows {
		b, behind := r.backlog(now)
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(b), r.id)
		ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, behind.Seconds(), r.id)
	}
}

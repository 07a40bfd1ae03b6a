package cloudwatch

import (
	"slices"

	"github.com/millrace/millrace/internal/metrics"
	"github.com/millrace/millrace/internal/streams"
)

// NamespaceKinesis is the namespace of the Kinesis Data Streams metrics.
const NamespaceKinesis = "AWS/Kinesis"

// Units, as CloudWatch names them.
const (
	unitCount        = "Count"
	unitBytes        = "Bytes"
	unitMilliseconds = "Milliseconds"
)

// KinesisSource reports the Kinesis metrics the domain counts, named and
// dimensioned as AWS publishes them (docs/metrics.md has the table).
type KinesisSource struct{ Streams *streams.Streams }

var _ Source = KinesisSource{}

// nsPerMs scales latency histograms (nanoseconds) to milliseconds.
const nsPerMs = 1e6

// Sample implements Source. Streams, shards and consumers on which
// nothing has been counted yet are left out: a series the aggregator has
// not seen counts from zero, which is what their totals are, so that an
// idle shard costs no sample and no state (a server with 10,000 shards
// held seven samples a shard before).
func (k KinesisSource) Sample() []Sample {
	var out []Sample
	for _, st := range k.Streams.Stats() {
		k.sampleShards(&out, &st)
		k.sampleConsumers(&out, &st)
		c := st.Counters
		if c.Idle() {
			continue
		}
		dims := []Dim{{"StreamName", st.Name}}
		key := func(metric, unit string, d []Dim) Key {
			return Key{Account: st.Account, Region: st.Region, Namespace: NamespaceKinesis, Metric: metric, Dims: d, Unit: unit}
		}
		total := func(metric, unit string, sum, count int64) {
			out = append(out, Sample{Key: key(metric, unit, dims), Origin: c, Kind: KindTotal, Sum: float64(sum), Count: float64(count), HasCount: true})
		}
		ratio := func(metric string, sum, count int64) {
			out = append(out, Sample{Key: key(metric, unitCount, dims), Origin: c, Kind: KindRatio, Sum: float64(sum), Count: float64(count), HasCount: true})
		}
		hist := func(metric string, d []Dim, h *metrics.Histogram, scale float64) {
			out = append(out, Sample{Key: key(metric, unitMilliseconds, d), Origin: h, Kind: KindHistogram, Hist: h.Snapshot(), Scale: scale})
		}
		puts := c.IncomingPuts.Load()
		total("IncomingBytes", unitBytes, c.IncomingBytes.Load(), puts)
		total("IncomingRecords", unitCount, c.IncomingRecords.Load(), puts)
		total("PutRecord.Bytes", unitBytes, c.PutRecordBytes.Load(), c.PutRecordSuccess.Load())
		ratio("PutRecord.Success", c.PutRecordSuccess.Load(), c.PutRecordRequests.Load())
		hist("PutRecord.Latency", dims, &c.PutRecordLatency, nsPerMs)
		putsCalls := c.PutRecordsRequests.Load()
		total("PutRecords.Bytes", unitBytes, c.PutRecordsBytes.Load(), c.PutRecordsSuccess.Load())
		ratio("PutRecords.Success", c.PutRecordsSuccess.Load(), putsCalls)
		total("PutRecords.Records", unitCount, c.PutRecordsSuccessfulRecords.Load(), putsCalls)
		total("PutRecords.SuccessfulRecords", unitCount, c.PutRecordsSuccessfulRecords.Load(), putsCalls)
		total("PutRecords.TotalRecords", unitCount, c.PutRecordsTotalRecords.Load(), putsCalls)
		total("PutRecords.ThrottledRecords", unitCount, c.PutRecordsThrottledRecords.Load(), putsCalls)
		total("PutRecords.FailedRecords", unitCount, c.PutRecordsFailedRecords.Load(), putsCalls)
		hist("PutRecords.Latency", dims, &c.PutRecordsLatency, nsPerMs)
		gets := c.GetRecordsRequests.Load()
		total("GetRecords.Bytes", unitBytes, c.GetRecordsBytes.Load(), c.GetRecordsSuccess.Load())
		total("GetRecords.Records", unitCount, c.GetRecordsRecords.Load(), c.GetRecordsSuccess.Load())
		ratio("GetRecords.Success", c.GetRecordsSuccess.Load(), gets)
		hist("GetRecords.Latency", dims, &c.GetRecordsLatency, nsPerMs)
		hist("GetRecords.IteratorAgeMilliseconds", dims, &c.GetRecordsIteratorAge, 1)
		total("WriteProvisionedThroughputExceeded", unitCount, c.WriteThroughputExceeded.Load(), c.PutRecordRequests.Load()+putsCalls)
		ratio("ReadProvisionedThroughputExceeded", c.ReadThroughputExceeded.Load(), gets)
	}
	return out
}

// sampleShards appends the shard-level samples of st's shards that have
// counted something.
func (KinesisSource) sampleShards(out *[]Sample, st *streams.StreamStats) {
	key := func(metric, unit string, d []Dim) Key {
		return Key{Account: st.Account, Region: st.Region, Namespace: NamespaceKinesis, Metric: metric, Dims: d, Unit: unit}
	}
	for _, sh := range st.Shards {
		sc := sh.Counters
		if sc.Idle() {
			continue
		}
		sd := []Dim{{"StreamName", st.Name}, {"ShardId", sh.ShardID}}
		// count < 0: samples are not counted for the metric.
		shard := func(metric, unit string, sum, count int64) {
			*out = append(*out, Sample{Key: key(metric, unit, sd), Origin: sc, Kind: KindTotal, Sum: float64(sum),
				Count: float64(max(count, 0)), HasCount: count >= 0, Off: !slices.Contains(st.ShardLevelMetrics, metric)})
		}
		puts, reads := sc.IncomingPuts.Load(), sc.OutgoingReads.Load()
		shard("IncomingBytes", unitBytes, sc.IncomingBytes.Load(), puts)
		shard("IncomingRecords", unitCount, sc.IncomingRecords.Load(), puts)
		shard("OutgoingBytes", unitBytes, sc.OutgoingBytes.Load(), reads)
		shard("OutgoingRecords", unitCount, sc.OutgoingRecords.Load(), reads)
		shard("WriteProvisionedThroughputExceeded", unitCount, sc.WriteThroughputExceeded.Load(), -1)
		shard("ReadProvisionedThroughputExceeded", unitCount, sc.ReadThroughputExceeded.Load(), -1)
		*out = append(*out, Sample{Key: key("IteratorAgeMilliseconds", unitMilliseconds, sd), Origin: sc, Kind: KindHistogram,
			Hist: sc.IteratorAge.Snapshot(), Scale: 1, Off: !slices.Contains(st.ShardLevelMetrics, "IteratorAgeMilliseconds")})
	}
}

// sampleConsumers appends the samples of st's consumers that have counted
// something.
func (KinesisSource) sampleConsumers(out *[]Sample, st *streams.StreamStats) {
	key := func(metric, unit string, d []Dim) Key {
		return Key{Account: st.Account, Region: st.Region, Namespace: NamespaceKinesis, Metric: metric, Dims: d, Unit: unit}
	}
	for _, cs := range st.Consumers {
		if cs.Counters.Idle() {
			continue
		}
		cd := []Dim{{"StreamName", st.Name}, {"ConsumerName", cs.Name}}
		cc := cs.Counters
		events := cc.EventSuccess.Load()
		*out = append(*out,
			Sample{Origin: cc, Key: key("SubscribeToShard.Success", unitCount, cd), Kind: KindTotal, Sum: float64(cc.SubscribeSuccess.Load())},
			Sample{Origin: cc, Key: key("SubscribeToShard.RateExceeded", unitCount, cd), Kind: KindTotal, Sum: float64(cc.SubscribeRateExceeded.Load())},
			Sample{Origin: cc, Key: key("SubscribeToShardEvent.Success", unitCount, cd), Kind: KindTotal, Sum: float64(events), Count: float64(events), HasCount: true},
			Sample{Origin: cc, Key: key("SubscribeToShardEvent.Records", unitCount, cd), Kind: KindTotal, Sum: float64(cc.EventRecords.Load()), Count: float64(events), HasCount: true},
			Sample{Origin: cc, Key: key("SubscribeToShardEvent.Bytes", unitBytes, cd), Kind: KindTotal, Sum: float64(cc.EventBytes.Load()), Count: float64(events), HasCount: true},
		)
		*out = append(*out, Sample{Origin: &cc.MillisBehindLatest, Key: key("SubscribeToShardEvent.MillisBehindLatest", unitMilliseconds, cd),
			Kind: KindHistogram, Hist: cc.MillisBehindLatest.Snapshot(), Scale: 1})
	}
}

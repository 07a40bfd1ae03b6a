package cloudwatch

import "github.com/millrace/millrace/internal/firehose"

// NamespaceFirehose is the namespace of the Firehose metrics.
const NamespaceFirehose = "AWS/Firehose"

// FirehoseSource reports the Firehose metrics the delivery streams count,
// named and dimensioned (DeliveryStreamName) as AWS publishes them:
// IncomingBytes, IncomingRecords, IncomingPutRequests, ThrottledRecords and, per
// destination (S3, HttpEndpoint, Redshift, AmazonOpenSearchService,
// Elasticsearch or Splunk), DeliveryTo<dest>.Records, .Bytes,
// .Success and .DataFreshness (seconds).
type FirehoseSource struct{ Firehose *firehose.Service }

var _ Source = FirehoseSource{}

// msPerSecond scales DataFreshness (milliseconds) to seconds.
const msPerSecond = 1000

// Sample implements Source.
func (f FirehoseSource) Sample() []Sample {
	var out []Sample
	for _, st := range f.Firehose.Stats() {
		c := st.Counters
		dims := []Dim{{"DeliveryStreamName", st.Name}}
		key := func(metric, unit string) Key {
			return Key{Account: st.Account, Region: st.Region, Namespace: NamespaceFirehose, Metric: metric, Dims: dims, Unit: unit}
		}
		total := func(metric, unit string, sum, count int64) {
			out = append(out, Sample{Key: key(metric, unit), Origin: c, Kind: KindTotal, Sum: float64(sum), Count: float64(count), HasCount: true})
		}
		puts := c.IncomingPutRequests.Load()
		total("IncomingBytes", unitBytes, c.IncomingBytes.Load(), puts)
		total("IncomingRecords", unitCount, c.IncomingRecords.Load(), puts)
		total("IncomingPutRequests", unitCount, puts, puts)
		throttled := c.ThrottledRecords.Load()
		total("ThrottledRecords", unitCount, throttled, throttled)
		prefix := "DeliveryTo" + st.Destination + "."
		ok := c.DeliverySuccess.Load()
		total(prefix+"Records", unitCount, c.DeliveryRecords.Load(), ok)
		total(prefix+"Bytes", unitBytes, c.DeliveryBytes.Load(), ok)
		out = append(out,
			Sample{Key: key(prefix+"Success", unitCount), Origin: c, Kind: KindRatio, Sum: float64(ok), Count: float64(c.DeliveryAttempts.Load()), HasCount: true},
			Sample{Key: key(prefix+"DataFreshness", "Seconds"), Origin: c, Kind: KindHistogram, Hist: c.DataFreshness.Snapshot(), Scale: msPerSecond})
	}
	return out
}

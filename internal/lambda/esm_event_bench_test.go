package lambda

import (
	"strconv"
	"testing"

	"github.com/millrace/millrace/internal/streams"
)

// BenchmarkKinesisEventEncode: a read of 500 records of 100 bytes
// rendered as Lambda's Kinesis event (encode and eventPayload), as a
// mapping does for each batch.
func BenchmarkKinesisEventEncode(b *testing.B) {
	p := testPoller(false)
	recs := make([]streams.Record, 500)
	for i := range recs {
		recs[i] = streams.Record{SequenceNumber: testSeq1, Arrival: 1545084650987 + int64(i), Data: make([]byte, 100),
			PartitionKey: strconv.Itoa(i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		items := p.encode("shardId-000000000006", "arn:aws:iam::123456789012:role/lambda-role", recs)
		if len(eventPayload(items)) == 0 {
			b.Fatal("empty event")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

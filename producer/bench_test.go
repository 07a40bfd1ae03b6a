package producer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/producer"
)

var benchStreams atomic.Int64

// BenchmarkProducer writes b.N records of 100 B and 1 KiB, with and
// without aggregation, to a 4-shard stream of the in-process server with
// throughput limits off and the producer's rate limit off, so the figures
// are what this machine does: records/s and MB/s of user data, Put to
// Close (everything acknowledged).
func BenchmarkProducer(b *testing.B) {
	srv := servertest.Start(b)
	c := srv.Kinesis()
	for _, size := range []int{100, 1024} {
		for _, agg := range []bool{false, true} {
			name := fmt.Sprintf("size=%dB/aggregation=%v", size, agg)
			if size == 1024 {
				name = fmt.Sprintf("size=1KiB/aggregation=%v", agg)
			}
			b.Run(name, func(b *testing.B) {
				stream := fmt.Sprintf("bench-%d", benchStreams.Add(1))
				createStream(b, c, stream, 4)
				p, err := producer.New(srv.Kinesis(), stream, producer.Options{DisableAggregation: !agg, DisableRateLimit: true})
				if err != nil {
					b.Fatal(err)
				}
				data := make([]byte, size)
				keys := make([]string, 1000)
				for i := range keys {
					keys[i] = fmt.Sprintf("key-%d", i)
				}
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := p.Put(ctx, keys[i%len(keys)], data); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st := p.Stats(); st.UserRecordsPut != uint64(b.N) {
					b.Fatalf("%d of %d records written: %+v", st.UserRecordsPut, b.N, st)
				}
				secs := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N)/secs, "records/s")
				b.ReportMetric(float64(b.N)*float64(size)/secs/1e6, "MB/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

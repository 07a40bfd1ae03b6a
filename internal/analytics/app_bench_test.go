package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// BenchmarkApplicationFourShards runs an application over a 4-shard
// stream already holding records of 10,000 keys spread over three
// minutes of arrival: a one-minute tumbling COUNT and SUM per key, read
// through internal/streams, checkpointed, written to an output stream.
// It reports the records processed per second of wall time, from the
// start until the last window's results are in the output stream. Run
// with -benchtime=1x.
func BenchmarkApplicationFourShards(b *testing.B) {
	const records, keys = 400_000, 10_000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range b.N {
		b.StopTimer()
		c := &clock{t: base}
		s, eng := newTestStreams(b, c)
		ctx := context.Background()
		for name, n := range map[string]int{"in": 4, "out": 4} {
			if err := s.CreateStream(ctx, streams.CreateParams{Account: "000000000000", Region: "us-east-1", Name: name, ShardCount: n}); err != nil {
				b.Fatal(err)
			}
		}
		groups := map[string]bool{}
		batch := make([]streams.PutEntry, 0, 500)
		for i := range records {
			arr := base.Add(time.Duration(i) * 3 * time.Minute / records)
			k := fmt.Sprintf("key-%05d", i%keys)
			batch = append(batch, streams.PutEntry{PartitionKey: k, Data: fmt.Appendf(nil, `{"k":%q,"v":%d}`, k, i%100)})
			groups[fmt.Sprint(k, arr.Truncate(time.Minute).Unix())] = true
			if len(batch) == cap(batch) {
				c.set(arr)
				if _, err := s.PutRecords(ctx, ref("in"), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		c.set(base.Add(10 * time.Minute))
		app := &Application{Name: "bench", Source: ref("in"), StartPosition: "TRIM_HORIZON",
			Config: Config{SQL: `SELECT STREAM k, COUNT(*) AS n, SUM(v) AS total FROM "SOURCE_SQL_STREAM_001"
GROUP BY k, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND)`,
				Schema:    Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(16)"}, {Name: "v", SQLType: "BIGINT"}}},
				IdleGrace: time.Second},
			Outputs:            []Output{{Name: "", Stream: ref("out"), Format: "JSON"}},
			CheckpointInterval: 10 * time.Second}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() {
			done <- app.Run(runCtx, &Runtime{Streams: s, Catalog: eng, Now: c.now, PollInterval: 10 * time.Millisecond})
		}()
		for n := 0; n < len(groups); {
			time.Sleep(100 * time.Millisecond)
			n = countRecords(b, s, ref("out"))
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(records/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(len(groups)), "results")
	}
}

func countRecords(tb testing.TB, s *streams.Streams, r streams.StreamRef) int {
	n := 0
	st, err := s.Describe(r)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range st.Shards {
		it, err := s.GetShardIterator(context.Background(), streams.IteratorParams{Ref: r, ShardID: st.Shards[i].ID(), Type: streams.TrimHorizon})
		if err != nil {
			tb.Fatal(err)
		}
		for it != "" {
			res, err := s.GetRecords(context.Background(), it, 0)
			if err != nil {
				tb.Fatal(err)
			}
			n += len(res.Records)
			if len(res.Records) == 0 {
				break
			}
			it = res.NextShardIterator
		}
	}
	return n
}

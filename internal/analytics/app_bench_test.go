package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// BenchmarkApplicationFourShards runs an application over a 4-shard
// stream already holding records of 10,000 keys spread over three
// minutes of arrival: a one-minute tumbling COUNT and SUM per key, read
// through internal/streams, checkpointed, written to an output stream.
// It reports the records processed per second of wall time, from the
// start until the last window's results are in the output stream, and
// the process's CPU time per record over that span (the application,
// the stream reads and writes, and a reader counting the output). Run
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
		out := newRecordCounter(b, s, ref("out"))
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		go func() {
			done <- app.Run(runCtx, &Runtime{Streams: s, Catalog: eng, Now: c.now, PollInterval: 10 * time.Millisecond})
		}()
		for out.count() < len(groups) {
			time.Sleep(20 * time.Millisecond)
		}
		elapsed, cpu := time.Since(start), processCPU()-cpu0
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(records/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/records/1000, "cpu-us/record")
		b.ReportMetric(float64(len(groups)), "results")
	}
}

// processCPU is the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recordCounter counts a stream's records, reading on from where it
// stopped each time.
type recordCounter struct {
	tb    testing.TB
	s     *streams.Streams
	iters []string
	n     int
}

func newRecordCounter(tb testing.TB, s *streams.Streams, r streams.StreamRef) *recordCounter {
	st, err := s.Describe(r)
	if err != nil {
		tb.Fatal(err)
	}
	c := &recordCounter{tb: tb, s: s}
	for i := range st.Shards {
		it, err := s.GetShardIterator(context.Background(), streams.IteratorParams{Ref: r, ShardID: st.Shards[i].ID(), Type: streams.TrimHorizon})
		if err != nil {
			tb.Fatal(err)
		}
		c.iters = append(c.iters, it)
	}
	return c
}

func (c *recordCounter) count() int {
	for i, it := range c.iters {
		for it != "" {
			res, err := c.s.GetRecords(context.Background(), it, 0)
			if err != nil {
				c.tb.Fatal(err)
			}
			c.n += len(res.Records)
			it = res.NextShardIterator
			if len(res.Records) == 0 {
				break
			}
		}
		c.iters[i] = it
	}
	return c.n
}

// BenchmarkWindowLatency measures the delay from a window's end to its
// output record under live traffic on the real clock: a producer puts
// about 2,000 records a second of 100 keys into a 4-shard stream for
// eight seconds while an application counts them per key and one-second
// window. The delay of a row is its output record's arrival time minus
// its window's end; p50 and p99 are over the rows of windows that ended
// while records were arriving, quiet-ms is the delay of the window
// that ended after the producer stopped (closed by the clock: the idle
// grace). Run with -benchtime=1x.
func BenchmarkWindowLatency(b *testing.B) {
	for _, grace := range []time.Duration{2 * time.Second, 200 * time.Millisecond} {
		b.Run("idle-grace="+grace.String(), func(b *testing.B) {
			for range b.N {
				p50, p99, quiet, n := windowLatency(b, grace, 8*time.Second)
				b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
				b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
				b.ReportMetric(float64(quiet.Milliseconds()), "quiet-ms")
				b.ReportMetric(float64(n), "rows")
			}
		})
	}
}

func windowLatency(b *testing.B, grace, run time.Duration) (p50, p99, quiet time.Duration, rows int) {
	c := &clock{}
	s, eng := newTestStreams(b, c)
	c.set(time.Now())
	stopClock := make(chan struct{})
	defer close(stopClock)
	go func() { // the streams' clock follows the real one
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopClock:
				return
			case now := <-t.C:
				c.set(now)
			}
		}
	}()
	ctx := context.Background()
	for name, n := range map[string]int{"in": 4, "out": 1} {
		if err := s.CreateStream(ctx, streams.CreateParams{Account: "000000000000", Region: "us-east-1", Name: name, ShardCount: n}); err != nil {
			b.Fatal(err)
		}
	}
	app := &Application{Name: "latency", Source: ref("in"), StartPosition: "TRIM_HORIZON",
		Config: Config{SQL: `SELECT STREAM k, UNIX_MILLIS(STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)) AS ws, COUNT(*) AS n
FROM "SOURCE_SQL_STREAM_001" GROUP BY k, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)`,
			Schema:    Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(16)"}}},
			IdleGrace: grace},
		Outputs:            []Output{{Name: "", Stream: ref("out"), Format: "JSON"}},
		CheckpointInterval: 10 * time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, &Runtime{Streams: s, Catalog: eng, Now: c.now}) }()
	end := time.Now().Add(run)
	for i := 0; time.Now().Before(end); i++ {
		batch := make([]streams.PutEntry, 20)
		for j := range batch {
			k := fmt.Sprintf("key-%03d", (i*20+j)%100)
			batch[j] = streams.PutEntry{PartitionKey: k, Data: fmt.Appendf(nil, `{"k":%q}`, k)}
		}
		if _, err := s.PutRecords(ctx, ref("in"), batch); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := time.Now().UnixMilli()
	time.Sleep(grace + time.Second)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	var delays []time.Duration
	st, err := s.Describe(ref("out"))
	if err != nil {
		b.Fatal(err)
	}
	it, err := s.GetShardIterator(ctx, streams.IteratorParams{Ref: ref("out"), ShardID: st.Shards[0].ID(), Type: streams.TrimHorizon})
	if err != nil {
		b.Fatal(err)
	}
	for it != "" {
		res, err := s.GetRecords(ctx, it, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Records {
			var row struct{ WS int64 }
			if err := json.Unmarshal(r.Data, &row); err != nil {
				b.Fatal(err)
			}
			d := time.Duration(r.Arrival-(row.WS+1000)) * time.Millisecond
			if row.WS+1000 > stopped {
				quiet = max(quiet, d)
			} else {
				delays = append(delays, d)
			}
		}
		if len(res.Records) == 0 {
			break
		}
		it = res.NextShardIterator
	}
	if len(delays) == 0 {
		b.Fatal("no window was emitted")
	}
	slices.Sort(delays)
	return delays[len(delays)/2], delays[len(delays)*99/100], quiet, len(delays)
}

package analytics

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkTumblingCountSum is a one-minute tumbling COUNT and SUM per key
// over 10,000 keys, JSON records: the engine's cost per record (schema
// mapping, filter-free grouping, aggregates), without the stream reads.
func BenchmarkTumblingCountSum(b *testing.B) {
	e, err := NewEngine(Config{
		SQL: `SELECT STREAM k, COUNT(*) AS n, SUM(v) AS total FROM "SOURCE_SQL_STREAM_001"
GROUP BY k, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND)`,
		Schema: Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(16)"}, {Name: "v", SQLType: "BIGINT"}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	const keys = 10000
	data := make([][]byte, keys)
	for i := range data {
		data[i] = []byte(fmt.Sprintf(`{"k":"key-%05d","v":%d}`, i, i%100))
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	emitted := 0
	for i := 0; i < b.N; i++ {
		// 200,000 records per simulated second.
		arr := base + int64(i)/200
		if _, _, err := e.Process(Input{Shard: "s", Arrival: arr, Data: data[i%keys]}); err != nil {
			b.Fatal(err)
		}
		if i%10000 == 0 {
			out, _ := e.Advance(time.UnixMilli(arr))
			emitted += len(out)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

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

// BenchmarkIntervalJoin joins orders and shipments of one stream (split by
// two pumps) within 10 s on ROWTIME over 10,000 ids, each order shipped
// once about 2 s later, 10,000 records per simulated second: the cost per
// record of the pumps, the join's kept rows and eviction.
func BenchmarkIntervalJoin(b *testing.B) {
	e, err := NewEngine(Config{
		SQL: `CREATE OR REPLACE STREAM "O" (id BIGINT); CREATE OR REPLACE STREAM "S" (id BIGINT);
CREATE OR REPLACE PUMP "PO" AS INSERT INTO "O" SELECT STREAM id FROM "SOURCE_SQL_STREAM_001" WHERE kind = 'o';
CREATE OR REPLACE PUMP "PS" AS INSERT INTO "S" SELECT STREAM id FROM "SOURCE_SQL_STREAM_001" WHERE kind = 's';
CREATE OR REPLACE PUMP "J" AS INSERT INTO "OUT" SELECT STREAM o.id FROM "O" AS o JOIN "S" AS s
  ON o.id = s.id AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '10' SECOND;`,
		Schema: Schema{Format: "JSON", Columns: []Column{{Name: "kind", SQLType: "VARCHAR(1)"}, {Name: "id", SQLType: "BIGINT"}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	const ids = 10000
	orders, ships := make([][]byte, ids), make([][]byte, ids)
	for i := range orders {
		orders[i] = []byte(fmt.Sprintf(`{"kind":"o","id":%d}`, i))
		ships[i] = []byte(fmt.Sprintf(`{"kind":"s","id":%d}`, i))
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	joined := 0
	for i := 0; i < b.N; i++ {
		arr := base + int64(i)/10
		data := orders[(i/2)%ids]
		if i%2 == 1 { // the shipment of the order sent 2 s (40,000 records) before
			data = ships[((i-40_000)/2+ids*4)%ids]
		}
		out, _, err := e.Process(Input{Shard: "s", Arrival: arr, Data: data})
		if err != nil {
			b.Fatal(err)
		}
		joined += len(out)
		if i%1000 == 0 {
			if _, err := e.Advance(time.UnixMilli(arr)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFilterProject runs a query without a window whose filter and
// projections are expressions, so a record's cost is mostly running the
// compiled programs.
func BenchmarkFilterProject(b *testing.B) {
	e, err := NewEngine(Config{
		SQL: `SELECT STREAM k, v * 2 + 1 AS w, CASE WHEN v > 50 THEN 'hi' ELSE 'lo' END AS band
FROM "SOURCE_SQL_STREAM_001" WHERE v BETWEEN 10 AND 90 AND k LIKE 'key-%' AND v IS NOT NULL`,
		Schema: Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(16)"}, {Name: "v", SQLType: "BIGINT"}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, 1000)
	for i := range data {
		data[i] = []byte(fmt.Sprintf(`{"k":"key-%05d","v":%d}`, i, i%100))
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := e.Process(Input{Shard: "s", Arrival: base + int64(i)/200, Data: data[i%len(data)]}); err != nil {
			b.Fatal(err)
		}
	}
}

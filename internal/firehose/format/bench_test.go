package format

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEncodeParquet converts 1 KiB JSON records, as a delivery stream
// buffer of them would be, to one Snappy Parquet file; b.SetBytes makes
// the figure MB/s of input JSON.
func BenchmarkEncodeParquet(b *testing.B) {
	p, err := New(parquetConfig(
		Column{"id", "bigint"}, Column{"ts", "timestamp"}, Column{"user", "string"}, Column{"score", "double"},
		Column{"tags", "array<string>"}, Column{"payload", "string"},
	))
	if err != nil {
		b.Fatal(err)
	}
	var data []string
	size := 0
	for i := 0; i < 1000; i++ {
		r := fmt.Sprintf(`{"id":%d,"ts":"2024-02-25T13:04:05.123Z","user":"user-%d","score":%d.5,"tags":["a","b","c"],"payload":"`, i, i%97, i)
		r += strings.Repeat("x", 1024-len(r)-2) + `"}`
		size += len(r)
		data = append(data, r)
	}
	recs := records(data...)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, failed, err := p.Encode(recs); err != nil || len(failed) > 0 {
			b.Fatal(err, failed)
		}
	}
}

package pebble_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkCatalogPut has writers goroutines each doing compare-and-set
// Puts on a key of its own, as shard checkpoints and lease renewals do;
// every Put is fsync'd before it returns.
func BenchmarkCatalogPut(b *testing.B) {
	for _, writers := range []int{1, 4, 16} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			e := benchEngine(b)
			ctx := context.Background()
			value := make([]byte, 200)
			revs := make([]uint64, writers)
			for w := range writers {
				rev, err := e.Put(ctx, "checkpoint/"+strconv.Itoa(w), value, 0)
				if err != nil {
					b.Fatal(err)
				}
				revs[w] = rev
			}
			var left atomic.Int64
			b.ResetTimer()
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := "checkpoint/" + strconv.Itoa(w)
					for left.Add(-1) >= 0 {
						rev, err := e.Put(ctx, key, value, revs[w])
						if err != nil {
							b.Error(err)
							return
						}
						revs[w] = rev
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

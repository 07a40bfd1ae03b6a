package analytics

import (
	"runtime"
	"sync"

	"github.com/millrace/millrace/internal/streams"
)

// decoded is one record read into rows by the input schema.
type decoded struct {
	rows [][]any
	err  error
}

// decodeChunk is the fewest records a decoding goroutine takes.
const decodeChunk = 512

// decode reads a batch of records into rows. Reading JSON or CSV is most
// of a record's cost and needs nothing of the engine's state, so a big
// batch is read by several goroutines at once; the rows then go through
// the engine in the batch's order, on the application's goroutine, so
// state, positions and checkpoints are as if read one by one.
func (e *Engine) decode(recs []streams.Record) []decoded {
	out := make([]decoded, len(recs))
	workers := min(runtime.GOMAXPROCS(0), len(recs)/decodeChunk)
	if workers <= 1 {
		for i := range recs {
			out[i].rows, out[i].err = e.cfg.Schema.Rows(recs[i].Data)
		}
		return out
	}
	var wg sync.WaitGroup
	per := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += per {
		hi := min(lo+per, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i].rows, out[i].err = e.cfg.Schema.Rows(recs[i].Data)
			}
		}()
	}
	wg.Wait()
	return out
}

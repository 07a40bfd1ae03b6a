package analytics

import (
	"fmt"
	"strings"
)

// Pump chaining: a query may read the in-application stream another
// query writes (CREATE PUMP p2 AS INSERT INTO B SELECT STREAM ... FROM A,
// with p1 writing A). Its input is then the rows of that query, handed
// over in the same call that produced them, so the engine's state (and
// with it a checkpoint) never holds a row between two queries: a
// snapshot taken between calls is consistent across the chain.

// inputOf is the schema of the stream from that query i reads and the
// first query writing it (-1: the source). A query reading an
// in-application stream sees the columns of the queries writing it,
// typed as CREATE STREAM declared them; every pump writing it must come
// before it.
func (e *Engine) inputOf(i int, from string, source *Schema) (*Schema, int, error) {
	if from == "" {
		return source, -1, nil // compile reports what is wrong
	}
	// The writers of the stream: exactly named, else ignoring case.
	var writers []int
	for _, fold := range []bool{false, true} {
		for j, w := range e.program.Queries {
			if w.Dest != "" && (w.Dest == from || fold && strings.EqualFold(w.Dest, from)) {
				writers = append(writers, j)
			}
		}
		if len(writers) > 0 {
			break
		}
	}
	if len(writers) == 0 {
		if k, ok := e.source(from); ok {
			return &e.cfg.Sources[k].Schema, namedSource(k), nil
		}
		return source, -1, nil
	}
	for _, j := range writers {
		switch {
		case j == i:
			return nil, 0, fmt.Errorf("query %d reads the stream %s it writes", i+1, from)
		case j > i:
			return nil, 0, fmt.Errorf("query %d reads stream %s, which a later query writes: declare the pumps that write %s first", i+1, from, from)
		}
	}
	up := writers[0]
	names := e.ops[up].p.names
	var types []string
	for name, cols := range e.program.Streams {
		if name == e.program.Queries[up].Dest && len(cols) == len(names) {
			types = e.program.StreamTypes[name]
		}
	}
	sc := &Schema{Format: FormatJSON, RowPath: "$"}
	for k, n := range names {
		t := "VARCHAR(65535)"
		if k < len(types) && knownSQLType(types[k]) {
			t = types[k]
		}
		sc.Columns = append(sc.Columns, Column{Name: n, SQLType: t})
	}
	if err := sc.compile(); err != nil {
		return nil, 0, fmt.Errorf("query %d: the columns of stream %s: %w", i+1, from, err)
	}
	return sc, up, nil
}

// feed hands results to the queries reading their in-application
// streams, and what those emit at once to theirs, and returns results
// with everything that came of them. A row's ROWTIME downstream is its
// window's end, or for a row without a window the arrival of the record
// it came from (for a joined row, the later of its two rows'). Rows late for a downstream window are counted as late.
func (e *Engine) feed(results []Result, arrival int64) ([]Result, error) {
	if len(results) == 0 {
		return results, nil
	}
	chained := false
	for qi := range e.up {
		chained = chained || e.up[qi] >= 0 || e.upR[qi] >= 0
	}
	if !chained {
		return results, nil
	}
	for n := 0; n < len(results); n++ {
		res := results[n]
		dest := e.ops[res.Query].p.q.Dest
		for qi, op := range e.ops {
			for side, up := range []int{e.up[qi], e.upR[qi]} {
				if up < 0 || e.ops[up].p.q.Dest != dest {
					continue
				}
				rowtime := res.rowtime
				if res.WindowEnd != 0 {
					rowtime = res.WindowEnd
				} else if rowtime == 0 {
					rowtime = arrival
				}
				late, rs, err := op.processAs(side, res.Values, rowtime, res.ID)
				if err != nil {
					return results, err
				}
				if late {
					e.Late++
				}
				results = append(results, rs...)
			}
		}
	}
	return results, nil
}

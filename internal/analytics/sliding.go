package analytics

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// KDA's sliding windows: AGG(x) OVER W ... WINDOW W AS (PARTITION BY k
// RANGE INTERVAL '1' MINUTE PRECEDING), or OVER (...) inline, or ROWS n
// PRECEDING. Every input row gives an output row at once: its own columns
// with each aggregate over the rows of its partition in the interval that
// ends with it (by ROWTIME), or over it and the n rows before it. The
// rewrite removes the OVER clauses and the WINDOW clause and turns the
// partition into GROUP BY; the operator keeps each partition's rows in
// the range (state the checkpoint holds).

// rewriteSliding reads OVER and WINDOW clauses.
func rewriteSliding(q *Query, toks []token) ([]token, error) {
	type spec struct {
		partition []token
		w         Window
	}
	parse := func(body []token) (spec, error) {
		var s spec
		i := 0
		if len(body) > 1 && body[0].is("PARTITION") && body[1].is("BY") {
			i = 2
			for i < len(body) && !body[i].is("RANGE") && !body[i].is("ROWS") && !body[i].is("ORDER") {
				i++
			}
			s.partition = body[2:i]
			if len(s.partition) == 0 {
				return s, fmt.Errorf("PARTITION BY wants the partition's keys")
			}
		}
		if i+2 < len(body) && body[i].is("ORDER") && body[i+1].is("BY") && body[i+2].is("ROWTIME") {
			i += 3 // ROWTIME is the order sliding windows have anyway
		}
		rest := body[i:]
		if len(rest) == 0 || !rest[len(rest)-1].is("PRECEDING") {
			return s, fmt.Errorf("a sliding window is (PARTITION BY keys RANGE INTERVAL 'n' UNIT PRECEDING) or (... ROWS n PRECEDING), found (%s)", render(body))
		}
		rest = rest[:len(rest)-1]
		switch {
		case len(rest) > 1 && rest[0].is("RANGE"):
			size, err := interval(rest[1:])
			if err != nil {
				return s, fmt.Errorf("sliding window: %w", err)
			}
			if size < time.Millisecond {
				return s, fmt.Errorf("sliding window: the range must be at least a millisecond")
			}
			s.w = Window{Kind: Sliding, Size: size}
		case len(rest) == 2 && rest[0].is("ROWS") && rest[1].kind == tNumber:
			n, err := strconv.Atoi(rest[1].text)
			if err != nil || n < 0 || n > 100_000 {
				return s, fmt.Errorf("sliding window: ROWS %s PRECEDING must be 0 to 100000 rows", rest[1].text)
			}
			s.w = Window{Kind: Sliding, Rows: n + 1}
		default:
			return s, fmt.Errorf("a sliding window is (PARTITION BY keys RANGE INTERVAL 'n' UNIT PRECEDING) or (... ROWS n PRECEDING), found (%s)", render(body))
		}
		return s, nil
	}
	// WINDOW name AS (spec) [, name AS (spec)]: at the top level.
	named := map[string]spec{}
	for i := 0; i < len(toks); i++ {
		if toks[i].punct("(") {
			i = closing(toks, i)
			if i < 0 {
				return toks, nil // the parser reports it
			}
			continue
		}
		if !toks[i].is("WINDOW") || i+3 >= len(toks) || !toks[i+2].is("AS") {
			continue
		}
		j := i + 1
		for {
			if j+2 >= len(toks) || toks[j].name() == "" || !toks[j+1].is("AS") || !toks[j+2].punct("(") {
				return nil, fmt.Errorf("WINDOW wants name AS (PARTITION BY ... RANGE INTERVAL ... PRECEDING)")
			}
			end := closing(toks, j+2)
			if end < 0 {
				return nil, fmt.Errorf("WINDOW %s ( is not closed", toks[j].name())
			}
			s, err := parse(toks[j+3 : end])
			if err != nil {
				return nil, err
			}
			named[strings.ToUpper(toks[j].name())] = s
			j = end + 1
			if j < len(toks) && toks[j].punct(",") {
				j++
				continue
			}
			break
		}
		toks = append(toks[:i], toks[j:]...)
		break
	}
	// OVER name | OVER (spec), after an aggregate's call.
	var used *spec
	for i := 0; i < len(toks); i++ {
		if !toks[i].is("OVER") || i == 0 || !toks[i-1].punct(")") || i+1 >= len(toks) {
			continue
		}
		var s spec
		end := i + 1
		if toks[i+1].punct("(") {
			if end = closing(toks, i+1); end < 0 {
				return nil, fmt.Errorf("OVER ( is not closed")
			}
			var err error
			if s, err = parse(toks[i+2 : end]); err != nil {
				return nil, err
			}
		} else {
			var ok bool
			if s, ok = named[strings.ToUpper(toks[i+1].name())]; !ok {
				return nil, fmt.Errorf("OVER %s: no WINDOW %s AS (...) is declared", toks[i+1].text, toks[i+1].text)
			}
		}
		if used != nil && (used.w != s.w || render(used.partition) != render(s.partition)) {
			return nil, fmt.Errorf("the aggregates of a query slide over one window: OVER %s differs from the first", render(toks[i+1:end+1]))
		}
		used = &s
		toks = append(toks[:i], toks[end+1:]...)
		i--
	}
	if used == nil {
		if len(named) > 0 {
			return nil, fmt.Errorf("WINDOW declares a window no aggregate uses OVER")
		}
		return toks, nil
	}
	if q.Window.Kind != NoWindow {
		return nil, fmt.Errorf("a query may have one window")
	}
	q.Window = used.w
	// GROUP BY partition, before ORDER BY or LIMIT if any.
	at := len(toks)
	for i := 0; i < len(toks); i++ {
		switch {
		case toks[i].punct("("):
			if i = closing(toks, i); i < 0 {
				return toks, nil
			}
		case toks[i].is("GROUP"), toks[i].is("HAVING"):
			return nil, fmt.Errorf("a query with sliding aggregates (OVER) has no GROUP BY or HAVING: its partition is the window's PARTITION BY")
		case toks[i].is("ORDER"), toks[i].is("LIMIT"):
			if at == len(toks) {
				at = i
			}
		}
	}
	if len(used.partition) == 0 {
		return toks, nil
	}
	tail := append([]token(nil), toks[at:]...)
	toks = append(append(append(toks[:at], token{tIdent, "GROUP"}, token{tIdent, "BY"}), used.partition...), tail...)
	return toks, nil
}

// slide is one partition's rows within its sliding window.
type slide struct {
	Keys []any
	Rows []slideRow
}

type slideRow struct {
	T    int64 // ROWTIME, ms
	Args []any // the aggregates' arguments
}

// processSliding adds a row to its partition, drops the rows that left
// the window, and returns the row's output: its columns with the
// aggregates over the window.
func (o *operator) processSliding(gk string, keys []any, rowtime int64, args []any, id string) (*Result, error) {
	if o.slides == nil {
		o.slides = map[string]*slide{}
	}
	s := o.slides[gk]
	if s == nil {
		s = &slide{Keys: keys}
		o.slides[gk] = s
	}
	w := o.p.q.Window
	// Rows come in ROWTIME order within a shard; across shards a row may
	// be older than the newest: it goes in its place.
	at := len(s.Rows)
	for at > 0 && s.Rows[at-1].T > rowtime {
		at--
	}
	s.Rows = append(s.Rows, slideRow{})
	copy(s.Rows[at+1:], s.Rows[at:])
	s.Rows[at] = slideRow{T: rowtime, Args: append([]any(nil), args...)}
	lo, hi := 0, at+1 // the row's window: s.Rows[lo:hi]
	if w.Rows > 0 {
		lo = max(0, hi-w.Rows)
		if drop := len(s.Rows) - w.Rows; drop > 0 {
			s.Rows = append(s.Rows[:0], s.Rows[drop:]...)
			lo, hi = max(0, lo-drop), hi-drop
		}
	} else {
		size := w.Size.Milliseconds()
		for lo < hi && s.Rows[lo].T < rowtime-size {
			lo++
		}
		newest := s.Rows[len(s.Rows)-1].T
		drop := 0
		for drop < len(s.Rows) && s.Rows[drop].T < newest-size {
			drop++
		}
		if drop > 0 {
			s.Rows = append(s.Rows[:0], s.Rows[drop:]...)
			lo, hi = max(0, lo-drop), max(0, hi-drop)
		}
	}
	env := o.p.env
	for i := range o.p.aggs {
		var a acc
		for _, r := range s.Rows[lo:hi] {
			a.add(&o.p.aggs[i], r.Args[i])
		}
		env["a"+strconv.Itoa(i)] = a.result(&o.p.aggs[i])
	}
	vals := make([]any, len(o.p.outs))
	for i, prog := range o.p.outs {
		v, err := run(prog, env)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return &Result{Query: o.idx, Dest: o.p.q.Dest, ID: fmt.Sprintf("q%d-%s", o.idx, id), Columns: o.p.names, Values: vals}, nil
}

type slideState struct {
	Keys []tv            `json:"k"`
	Rows []slideRowState `json:"r"`
}

type slideRowState struct {
	T    int64 `json:"t"`
	Args []tv  `json:"a"`
}

func (o *operator) snapshotSlides() []slideState {
	var out []slideState
	for _, s := range o.slides {
		ss := slideState{Keys: make([]tv, len(s.Keys))}
		for i, k := range s.Keys {
			ss.Keys[i] = encodeValue(k)
		}
		for _, r := range s.Rows {
			rs := slideRowState{T: r.T, Args: make([]tv, len(r.Args))}
			for i, a := range r.Args {
				rs.Args[i] = encodeValue(a)
			}
			ss.Rows = append(ss.Rows, rs)
		}
		out = append(out, ss)
	}
	return out
}

func (o *operator) restoreSlides(states []slideState) error {
	for _, ss := range states {
		if len(ss.Keys) != len(o.p.keys) {
			return fmt.Errorf("the checkpoint's sliding windows do not match query %d", o.idx+1)
		}
		s := &slide{Keys: make([]any, len(ss.Keys))}
		var gk strings.Builder
		for i, k := range ss.Keys {
			v, err := k.decode()
			if err != nil {
				return err
			}
			s.Keys[i] = v
			gk.WriteString(typedKey(v))
			gk.WriteByte(0)
		}
		for _, rs := range ss.Rows {
			if len(rs.Args) != len(o.p.aggs) {
				return fmt.Errorf("the checkpoint's sliding windows do not match query %d", o.idx+1)
			}
			r := slideRow{T: rs.T, Args: make([]any, len(rs.Args))}
			for i, a := range rs.Args {
				v, err := a.decode()
				if err != nil {
					return err
				}
				r.Args[i] = v
			}
			s.Rows = append(s.Rows, r)
		}
		if o.slides == nil {
			o.slides = map[string]*slide{}
		}
		o.slides[gk.String()] = s
	}
	return nil
}

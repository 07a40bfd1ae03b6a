package analytics

import (
	"container/heap"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"
)

// Top-K and approximate distinct counts.
//
// KDA's TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s), 'col', K,
// seconds) and COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(...), 'col', seconds)
// are table functions; they are rewritten into the equivalent grouped
// query over a tumbling ROWTIME window:
//
//	SELECT col, COUNT(*) AS ITEM_COUNT FROM s GROUP BY col
//	  ORDER BY ITEM_COUNT DESC, col LIMIT K          -- Capacity bounds the groups
//	SELECT APPROX_COUNT_DISTINCT(col) AS NUMBER_OF_DISTINCT_ITEMS FROM s
//
// ORDER BY ... LIMIT n in a windowed query keeps each window's first n
// rows (Flink's window Top-N).

// itemsFunctions are KDA's tumbling table functions over one column.
var itemsFunctions = map[string]int{"TOP_K_ITEMS_TUMBLING": 3, "COUNT_DISTINCT_ITEMS_TUMBLING": 2}

// rewriteItemsTVF rewrites SELECT * FROM TABLE(TOP_K_ITEMS_TUMBLING(...))
// and COUNT_DISTINCT_ITEMS_TUMBLING; ok is false for any other query.
func rewriteItemsTVF(q *Query, toks []token) (out []token, ok bool, err error) {
	fnAt := -1
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].is("TABLE") && toks[i+1].punct("(") {
			if _, known := itemsFunctions[strings.ToUpper(toks[i+2].text)]; known && toks[i+2].kind == tIdent {
				fnAt = i + 2
				break
			}
		}
	}
	if fnAt < 0 {
		return toks, false, nil
	}
	fn := strings.ToUpper(toks[fnAt].text)
	if fnAt != 5 || !toks[1].punct("*") || !toks[2].is("FROM") || closing(toks, 4) != len(toks)-1 {
		return nil, false, fmt.Errorf("%s is read whole: SELECT STREAM * FROM TABLE(%s(...))", fn, fn)
	}
	if fnAt+1 >= len(toks) || !toks[fnAt+1].punct("(") || closing(toks, fnAt+1) != len(toks)-2 {
		return nil, false, fmt.Errorf("%s(...) is not closed", fn)
	}
	args := splitArgs(toks[fnAt+2 : len(toks)-2])
	if n := len(args); n > 0 && len(args[n-1]) == 0 {
		args = args[:n-1] // AWS's syntax shows a trailing comma
	}
	if len(args) != itemsFunctions[fn]+1 {
		return nil, false, fmt.Errorf("%s takes a CURSOR, a column name in quotes and %s", fn,
			map[string]string{"TOP_K_ITEMS_TUMBLING": "K and the window size in seconds", "COUNT_DISTINCT_ITEMS_TUMBLING": "the window size in seconds"}[fn])
	}
	// CURSOR(SELECT STREAM * FROM s [WHERE ...])
	cur := args[0]
	if len(cur) < 3 || !cur[0].is("CURSOR") || !cur[1].punct("(") || closing(cur, 1) != len(cur)-1 {
		return nil, false, fmt.Errorf("%s's first argument must be CURSOR(SELECT STREAM * FROM stream)", fn)
	}
	inner := cur[2 : len(cur)-1]
	if len(inner) > 1 && inner[0].is("SELECT") && inner[1].is("STREAM") {
		inner = append([]token{inner[0]}, inner[2:]...)
	}
	if len(inner) < 4 || !inner[0].is("SELECT") || !inner[1].punct("*") || !inner[2].is("FROM") || inner[3].name() == "" ||
		(len(inner) > 4 && !inner[4].is("WHERE")) {
		return nil, false, fmt.Errorf("%s's CURSOR must be SELECT STREAM * FROM stream [WHERE ...]", fn)
	}
	if len(args[1]) != 1 || args[1][0].kind != tString || args[1][0].text == "" {
		return nil, false, fmt.Errorf("%s's second argument is the column's name in single quotes, such as 'ticker_symbol'", fn)
	}
	col := token{tQuoted, args[1][0].text}
	number := func(a []token, what string, lo, hi int) (int, error) {
		if len(a) != 1 || a[0].kind != tNumber {
			return 0, fmt.Errorf("%s's %s must be a whole number", fn, what)
		}
		n, err := strconv.Atoi(a[0].text)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%s's %s must be from %d to %d, not %s", fn, what, lo, hi, a[0].text)
		}
		return n, nil
	}
	size, err := number(args[len(args)-1], "window size (seconds)", 1, 3600)
	if err != nil {
		return nil, false, err
	}
	q.Window = Window{Kind: Tumbling, Size: time.Duration(size) * time.Second}
	p := func(s string) token { return token{tPunct, s} }
	id := func(s string) token { return token{tIdent, s} }
	if fn == "COUNT_DISTINCT_ITEMS_TUMBLING" {
		out = []token{id("SELECT"), id("APPROX_COUNT_DISTINCT"), p("("), col, p(")"), id("AS"), id("NUMBER_OF_DISTINCT_ITEMS")}
		return append(out, inner[2:]...), true, nil
	}
	k, err := number(args[2], "K", 1, 100000)
	if err != nil {
		return nil, false, err
	}
	q.Capacity = max(1000, 10*k)
	out = []token{id("SELECT"), col, p(","), id("COUNT"), p("("), p("*"), p(")"), id("AS"), id("ITEM_COUNT")}
	out = append(out, inner[2:]...)
	out = append(out, id("GROUP"), id("BY"), col, id("ORDER"), id("BY"), id("ITEM_COUNT"), id("DESC"), p(","), col,
		id("LIMIT"), token{tNumber, strconv.Itoa(k)})
	return out, true, nil
}

// orderKey is one ORDER BY key of a windowed query.
type orderKey struct {
	prog *program
	desc bool
}

// compileOrder compiles ORDER BY and LIMIT: they rank each window's rows.
// An ORDER BY key may be an output column's name or position, or any
// expression over the group.
func (c *compiler) compileOrder(sel *sqlparser.Select) error {
	p := c.p
	if sel.OrderBy == nil && sel.Limit == nil {
		return nil
	}
	switch p.q.Window.Kind {
	case Tumbling, Hopping, Cumulate:
	default:
		if p.q.RowNumber != nil {
			return fmt.Errorf("a window Top-N (ROW_NUMBER() OVER (PARTITION BY window_start, window_end ...)) ranks the groups of a TUMBLE, HOP or CUMULATE window")
		}
		return fmt.Errorf("ORDER BY and LIMIT rank the rows of a window: they need a TUMBLE, HOP or CUMULATE window (STEP, FLOOR)")
	}
	for _, ob := range sel.OrderBy {
		out := -1
		switch x := ob.Expr.(type) {
		case *sqlparser.ColName:
			if x.Qualifier.IsEmpty() {
				for i, n := range p.names {
					if n == x.Name.String() || (out < 0 && strings.EqualFold(n, x.Name.String())) {
						out = i
					}
				}
			}
		case *sqlparser.Literal:
			if x.Type == sqlparser.IntVal {
				n, err := strconv.Atoi(x.Val)
				if err != nil || n < 1 || n > len(p.outs) {
					return fmt.Errorf("ORDER BY %s: the select list has %d columns", x.Val, len(p.outs))
				}
				out = n - 1
			}
		}
		k := orderKey{desc: ob.Direction == sqlparser.DescOrder}
		if out >= 0 {
			k.prog = p.outs[out]
		} else {
			prog, err := c.program(ob.Expr, groupScope)
			if err != nil {
				return fmt.Errorf("ORDER BY: %w", err)
			}
			k.prog = prog
		}
		p.order = append(p.order, k)
	}
	if sel.Limit != nil {
		lit, ok := sel.Limit.Rowcount.(*sqlparser.Literal)
		if sel.Limit.Offset != nil || !ok || lit.Type != sqlparser.IntVal {
			return fmt.Errorf("LIMIT takes a number of rows (no OFFSET)")
		}
		n, err := strconv.Atoi(lit.Val)
		if err != nil || n < 1 {
			return fmt.Errorf("LIMIT %s must be at least 1", lit.Val)
		}
		p.limit = n
	}
	if rn := p.q.RowNumber; rn != nil {
		p.partition = rn.Partition
		if rn.At >= 0 {
			prog, err := c.compileText("nil", rn.Name) // numbered by rank
			if err != nil {
				return err
			}
			p.names = append(p.names[:rn.At], append([]string{rn.Name}, p.names[rn.At:]...)...)
			p.outs = append(p.outs[:rn.At], append([]*program{prog}, p.outs[rn.At:]...)...)
			p.rowNumber = rn.At
		}
	}
	return nil
}

// orderValues are a window row's ORDER BY keys, evaluated where the row
// is (env holds its group).
func (o *operator) orderValues(env map[string]any) ([]any, error) {
	if len(o.p.order) == 0 {
		return nil, nil
	}
	vals := make([]any, len(o.p.order))
	for i, k := range o.p.order {
		v, err := run(k.prog, env)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

// rank orders each window's rows by ORDER BY (ties keep the groups'
// order) and keeps the first LIMIT of them, or of each partition (rows
// whose first partition order keys are equal) numbered from 1 in the
// row number column. rows come in order of window.
func (o *operator) rank(rows []Result) []Result {
	if len(o.p.order) == 0 && o.p.limit == 0 {
		return rows
	}
	out := rows[:0]
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].WindowStart == rows[start].WindowStart && rows[end].WindowEnd == rows[start].WindowEnd {
			end++
		}
		win := rows[start:end]
		sort.SliceStable(win, func(i, j int) bool {
			for k, key := range o.p.order {
				c := compareNullsFirst(win[i].order[k], win[j].order[k])
				if key.desc {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
		n := 0
		for i := range win {
			if i == 0 || !samePartition(win[i-1].order, win[i].order, o.p.partition) {
				n = 0
			}
			n++
			if o.p.limit > 0 && n > o.p.limit {
				continue
			}
			if o.p.rowNumber >= 0 {
				win[i].Values[o.p.rowNumber] = int64(n)
			}
			out = append(out, win[i])
		}
		start = end
	}
	return out
}

// samePartition says whether two rows' first n order keys are equal.
func samePartition(a, b []any, n int) bool {
	for k := range n {
		if compareNullsFirst(a[k], b[k]) != 0 {
			return false
		}
	}
	return true
}

// compareNullsFirst orders values with NULL before any other.
func compareNullsFirst(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, _ := compare(a, b)
	return c
}

// The groups of a window of a query with a Capacity are a Space-Saving
// summary (Metwally, Agrawal, El Abbadi 2005): when a new item comes to a
// full window, the item with the smallest count gives up its place and
// the newcomer takes over that count. Every item more frequent than
// 1/Capacity of the window's rows is kept, with a count too high by at
// most the count it took over; with no more distinct items than Capacity
// the counts are exact. The groups are the state (the checkpoint holds
// them); the heap that finds the smallest is rebuilt from them.

type countHeap struct {
	gks    []string
	pos    map[string]int
	groups map[string]*group
}

func (h *countHeap) Len() int { return len(h.gks) }
func (h *countHeap) Less(i, j int) bool {
	a, b := h.groups[h.gks[i]].Accs[0].Count, h.groups[h.gks[j]].Accs[0].Count
	if a != b {
		return a < b
	}
	return h.gks[i] < h.gks[j]
}
func (h *countHeap) Swap(i, j int) {
	h.gks[i], h.gks[j] = h.gks[j], h.gks[i]
	h.pos[h.gks[i]], h.pos[h.gks[j]] = i, j
}
func (h *countHeap) Push(x any) { h.pos[x.(string)] = len(h.gks); h.gks = append(h.gks, x.(string)) }
func (h *countHeap) Pop() any {
	gk := h.gks[len(h.gks)-1]
	h.gks = h.gks[:len(h.gks)-1]
	delete(h.pos, gk)
	return gk
}

// admit makes room for a new group in a window of a bounded query: when
// the window is full the least counted group leaves and the new one takes
// its count.
func (o *operator) admit(w winKey, groups map[string]*group, gk string, g *group) {
	if o.heaps == nil {
		o.heaps = map[winKey]*countHeap{}
	}
	h := o.heaps[w]
	if h == nil {
		h = &countHeap{pos: map[string]int{}, groups: groups}
		for k := range groups {
			h.gks = append(h.gks, k)
		}
		sort.Strings(h.gks)
		for i, k := range h.gks {
			h.pos[k] = i
		}
		heap.Init(h)
		o.heaps[w] = h
	}
	if len(groups) >= o.p.q.Capacity {
		gone := heap.Pop(h).(string)
		g.Accs[0].Count = groups[gone].Accs[0].Count
		delete(groups, gone)
	}
	groups[gk] = g
	heap.Push(h, gk)
}

// counted restores the heap's order after a group of a bounded query
// counted a row.
func (o *operator) counted(w winKey, gk string) {
	if h := o.heaps[w]; h != nil {
		if i, ok := h.pos[gk]; ok {
			heap.Fix(h, i)
		}
	}
}

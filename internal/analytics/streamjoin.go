package analytics

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"
)

// Joins of two streams. A query may join the stream it reads (the left
// side, FROM) with a second stream (the right side: another pump's
// in-application stream, or the source again) when the join bounds both
// sides' times: Flink's interval join (a.t BETWEEN b.t - INTERVAL ... AND
// b.t + INTERVAL ..., in ON or, for FROM a, b, in WHERE) or KDA's window
// on the joined stream (JOIN b OVER (RANGE INTERVAL ... PRECEDING)). Each
// side's rows are kept, by join key, until the watermark passes the last
// time a row of the other side could match them; a row of one side is
// joined with the kept rows of the other on arrival, so each pair is
// joined once, by whichever row came second.

// intervalJoin is what a stream join needs besides the names: the bound
// lo <= tL - tR <= hi on the two sides' times (ms), the key of each side
// and the other conditions of ON.
type intervalJoin struct {
	lo, hi int64
	// timeCols are each side's time column (an index into the joined
	// row), -1 for the side's ROWTIME.
	timeCols [2]int
	keys     [2][]*program
	keyCols  [2][]int // >= 0: the key is that column alone
	on       *program
}

// joinRow is a row one side keeps: its columns, its time, its ROWTIME,
// its identity and, for a LEFT JOIN's left side, whether it matched.
type joinRow struct {
	Row     []any
	T       int64
	Rowtime int64
	ID      string
	Matched bool
}

// expiry orders a side's kept rows by the last time a row of the other
// side could match them, so the watermark drops them without a scan.
type expiry []expiring

type expiring struct {
	last int64
	key  string
	r    *joinRow
}

func (h expiry) Len() int           { return len(h) }
func (h expiry) Less(i, j int) bool { return h[i].last < h[j].last }
func (h expiry) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiry) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiry) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// lastMatch is the last time a row of the other side can match a row of
// this side at t: the left's once the watermark passes t - lo, the
// right's once it passes t + hi.
func (ij *intervalJoin) lastMatch(side int, t int64) int64 {
	if side == 0 {
		return t - ij.lo
	}
	return t + ij.hi
}

// keep holds a side's row until the watermark passes its last match.
func (o *operator) keep(side int, key string, r *joinRow) {
	if o.kept[0] == nil {
		o.kept = [2]map[string][]*joinRow{{}, {}}
	}
	o.kept[side][key] = append(o.kept[side][key], r)
	heap.Push(&o.expiry[side], expiring{last: o.p.join.interval.lastMatch(side, r.T), key: key, r: r})
}

// streamJoinHint is how a join of two streams is bounded, for errors.
const streamJoinHint = "a join of two streams needs a time bound on both sides' event times: ON a.k = b.k AND a.t BETWEEN b.t - INTERVAL '5' MINUTE AND b.t + INTERVAL '5' MINUTE (t a TIMESTAMP column or ROWTIME of each stream), or in KDA SQL JOIN b OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS b ON a.k = b.k"

// fromNames are the streams (or table) a query's FROM names: the first,
// and the one it joins with, if any.
func fromNames(q *Query) (left, right string) {
	stmt, err := sqlParser.Parse(q.SQL)
	if err != nil {
		return "", ""
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok {
		return "", ""
	}
	switch len(sel.From) {
	case 1:
		switch f := sel.From[0].(type) {
		case *sqlparser.AliasedTableExpr:
			left, _, _ = tableName(f)
		case *sqlparser.JoinTableExpr:
			left, _, _ = tableName(f.LeftExpr)
			right, _, _ = tableName(f.RightExpr)
		}
	case 2:
		left, _, _ = tableName(sel.From[0])
		right, _, _ = tableName(sel.From[1])
	}
	return left, right
}

// joinedStream is the second stream a query joins: its schema, and
// whether it is an in-application stream (else the source).
type joinedStream struct {
	Schema *Schema
	Stream bool
}

// compileStreamFrom reads a FROM that joins two streams: FROM a [INNER |
// LEFT [OUTER]] JOIN b ON ..., or FROM a, b (the join's conditions in
// WHERE).
func compileStreamFrom(sel *sqlparser.Select, schema *Schema, right *joinedStream, rightIsTable bool) (*Schema, *joinPlan, error) {
	var l, r sqlparser.TableExpr
	left := false
	switch len(sel.From) {
	case 1:
		from, ok := sel.From[0].(*sqlparser.JoinTableExpr)
		if !ok {
			return nil, nil, fmt.Errorf("the FROM clause must name one source stream")
		}
		if from.Join != sqlparser.NormalJoinType && from.Join != sqlparser.LeftJoinType {
			return nil, nil, fmt.Errorf("a join of two streams is JOIN (INNER) or LEFT [OUTER] JOIN")
		}
		l, r, left = from.LeftExpr, from.RightExpr, from.Join == sqlparser.LeftJoinType
	case 2:
		l, r = sel.From[0], sel.From[1]
	default:
		return nil, nil, fmt.Errorf("a continuous query reads one stream, joined with at most one other stream or reference table")
	}
	lname, lalias, ok1 := tableName(l)
	rname, ralias, ok2 := tableName(r)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("a join of two streams names them: FROM a JOIN b ON ... or FROM a, b WHERE ...")
	}
	if rightIsTable {
		return nil, nil, fmt.Errorf("%s is a reference table: join it with JOIN ... ON, not FROM a, %s", rname, rname)
	}
	if lalias == "" && ralias == "" && strings.EqualFold(lname, rname) {
		return nil, nil, fmt.Errorf("a join of %s with itself needs an alias for each side (FROM %s AS a JOIN %s AS b)", lname, lname, rname)
	}
	j := &joinPlan{streams: true, left: left, nStream: len(schema.Columns), rightIsStream: right.Stream, rightName: rname,
		streamNames: []string{lname, lalias}, tableNames: []string{rname, ralias}}
	if lalias != "" {
		j.streamNames[0] = "" // an aliased stream is named by its alias only
	}
	if ralias != "" {
		j.tableNames[0] = ""
	}
	combined := &Schema{Columns: append(append([]Column(nil), schema.Columns...), right.Schema.Columns...)}
	return combined, j, nil
}

// compileStreamJoin takes the join's key equalities and time bounds out
// of ON (or, for FROM a, b, out of WHERE) and returns what WHERE still
// asks of a joined row.
func (c *compiler) compileStreamJoin(sel *sqlparser.Select) (sqlparser.Expr, error) {
	j := c.p.join
	ij := &intervalJoin{lo: math.MinInt64, hi: math.MaxInt64, timeCols: [2]int{-2, -2}}
	j.interval = ij
	var conds []sqlparser.Expr
	where := sqlparser.Expr(nil)
	if sel.Where != nil {
		where = sel.Where.Expr
	}
	fromJoin, isJoin := sel.From[0].(*sqlparser.JoinTableExpr)
	if isJoin {
		if fromJoin.Condition != nil && fromJoin.Condition.On != nil {
			conds = conjuncts(fromJoin.Condition.On, nil)
		}
	} else if where != nil {
		conds, where = conjuncts(where, nil), nil
	}
	if r := c.p.q.JoinRange; r > 0 {
		// KDA: the joined stream's rows at most the range before the row.
		ij.lo, ij.hi, ij.timeCols = 0, r.Milliseconds(), [2]int{-1, -1}
	}
	var rest []sqlparser.Expr
	for _, e := range conds {
		bounded, err := c.timeBound(e)
		if err != nil {
			return nil, err
		}
		if bounded {
			continue
		}
		if eq, ok := e.(*sqlparser.ComparisonExpr); ok && eq.Operator == sqlparser.EqualOp {
			ls, rs := c.side(eq.Left), c.side(eq.Right)
			if ls == 1 && rs == 0 {
				eq = &sqlparser.ComparisonExpr{Operator: sqlparser.EqualOp, Left: eq.Right, Right: eq.Left}
				ls, rs = 0, 1
			}
			if ls == 0 && rs == 1 {
				for s, x := range []sqlparser.Expr{eq.Left, eq.Right} {
					prog, err := c.program(x, rowScope)
					if err != nil {
						return nil, fmt.Errorf("join key: %w", err)
					}
					ij.keys[s] = append(ij.keys[s], prog)
					ij.keyCols[s] = append(ij.keyCols[s], directColumn(c, x))
				}
				continue
			}
		}
		rest = append(rest, e)
	}
	if ij.lo == math.MinInt64 || ij.hi == math.MaxInt64 {
		msg := streamJoinHint
		if !j.rightIsStream {
			msg += fmt.Sprintf("; %s is not a reference table or an in-application stream of the application, so it is read as the source stream", j.rightName)
		}
		return nil, fmt.Errorf("%s", msg)
	}
	if ij.lo > ij.hi {
		return nil, fmt.Errorf("the join's time bounds admit no pair of rows (%d ms to %d ms apart)", ij.lo, ij.hi)
	}
	if len(rest) > 0 {
		prog, err := c.program(andAll(rest), rowScope)
		if err != nil {
			return nil, fmt.Errorf("ON: %w", err)
		}
		if isJoin {
			ij.on = prog
		} else {
			return andAll(rest), nil
		}
	}
	return where, nil
}

func conjuncts(e sqlparser.Expr, out []sqlparser.Expr) []sqlparser.Expr {
	if a, ok := e.(*sqlparser.AndExpr); ok {
		return conjuncts(a.Right, conjuncts(a.Left, out))
	}
	return append(out, e)
}

func andAll(es []sqlparser.Expr) sqlparser.Expr {
	e := es[0]
	for _, x := range es[1:] {
		e = &sqlparser.AndExpr{Left: e, Right: x}
	}
	return e
}

// side is the side of the join an expression reads: 0 the left stream,
// 1 the right, 2 both or an unqualified ROWTIME, -1 neither.
func (c *compiler) side(e sqlparser.Expr) int {
	s := -1
	add := func(x int) {
		if s == -1 || s == x {
			s = x
		} else {
			s = 2
		}
	}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		col, ok := n.(*sqlparser.ColName)
		if !ok {
			return true, nil
		}
		if strings.EqualFold(col.Name.String(), "rowtime") {
			add(c.qualifierSide(col))
			return true, nil
		}
		if i, ok := c.resolve(col); ok {
			if i < c.p.join.nStream {
				add(0)
			} else {
				add(1)
			}
		}
		return true, nil
	}, e)
	return s
}

// qualifierSide is the side a qualified name (a.ROWTIME) names, or 2.
func (c *compiler) qualifierSide(col *sqlparser.ColName) int {
	q := col.Qualifier.Name.String()
	switch {
	case q == "":
		return 2
	case matchesName(q, c.p.join.streamNames):
		return 0
	case matchesName(q, c.p.join.tableNames):
		return 1
	}
	return 2
}

// timeAttr reads a side's time: a TIMESTAMP column or a qualified ROWTIME,
// plus or minus INTERVALs. It returns the side, the column (-1: ROWTIME)
// and the offset in ms.
func (c *compiler) timeAttr(e sqlparser.Expr) (side, col int, off int64, ok bool) {
	switch x := e.(type) {
	case *sqlparser.ColName:
		if strings.EqualFold(x.Name.String(), "rowtime") {
			s := c.qualifierSide(x)
			return s, -1, 0, s < 2
		}
		i, found := c.resolve(x)
		if !found {
			return 0, 0, 0, false
		}
		if base, _ := splitSQLType(c.p.schema.Columns[i].SQLType); base != "TIMESTAMP" && base != "DATE" && base != "DATETIME" {
			return 0, 0, 0, false
		}
		s := 0
		if i >= c.p.join.nStream {
			s = 1
		}
		return s, i, 0, true
	case *sqlparser.BinaryExpr:
		if x.Operator != sqlparser.PlusOp && x.Operator != sqlparser.MinusOp {
			return 0, 0, 0, false
		}
		ms, isIv := intervalMillis(x.Right)
		if !isIv {
			return 0, 0, 0, false
		}
		s, col, off, ok := c.timeAttr(x.Left)
		if x.Operator == sqlparser.MinusOp {
			ms = -ms
		}
		return s, col, off + ms, ok
	}
	return 0, 0, 0, false
}

// intervalMillis reads interval_ms(n), the rewrite of INTERVAL 'n' UNIT.
func intervalMillis(e sqlparser.Expr) (int64, bool) {
	f, ok := e.(*sqlparser.FuncExpr)
	if !ok || !strings.EqualFold(f.Name.String(), "interval_ms") || len(f.Exprs) != 1 {
		return 0, false
	}
	lit, ok := f.Exprs[0].(*sqlparser.Literal)
	if !ok || lit.Type != sqlparser.IntVal {
		return 0, false
	}
	n, err := strconv.ParseInt(lit.Val, 10, 64)
	return n, err == nil
}

// timeBound reads a condition on the two sides' times (x BETWEEN y - i
// AND y + i, or x op y ± i with op one of < <= = >= >) into the join's
// bound on tL - tR. It reports false for any other condition.
func (c *compiler) timeBound(e sqlparser.Expr) (bool, error) {
	type cmp struct {
		op   sqlparser.ComparisonExprOperator
		l, r sqlparser.Expr
	}
	var cmps []cmp
	switch x := e.(type) {
	case *sqlparser.BetweenExpr:
		if !x.IsBetween {
			return false, nil
		}
		cmps = []cmp{{sqlparser.GreaterEqualOp, x.Left, x.From}, {sqlparser.LessEqualOp, x.Left, x.To}}
	case *sqlparser.ComparisonExpr:
		switch x.Operator {
		case sqlparser.LessThanOp, sqlparser.LessEqualOp, sqlparser.EqualOp, sqlparser.GreaterEqualOp, sqlparser.GreaterThanOp:
			cmps = []cmp{{x.Operator, x.Left, x.Right}}
		default:
			return false, nil
		}
	default:
		return false, nil
	}
	type bound struct {
		lo, hi int64
		cols   [2]int
	}
	var bs []bound
	for _, k := range cmps {
		ls, lcol, loff, ok1 := c.timeAttr(k.l)
		rs, rcol, roff, ok2 := c.timeAttr(k.r)
		if !ok1 || !ok2 || ls == rs {
			return false, nil
		}
		// ls.t + loff op rs.t + roff, as tL - tR op d.
		op, d := k.op, roff-loff
		cols := [2]int{lcol, rcol}
		if ls == 1 {
			// tR + loff op tL + roff: tL - tR op' loff - roff.
			op, d = flip(op), loff-roff
			cols = [2]int{rcol, lcol}
		}
		b := bound{lo: math.MinInt64, hi: math.MaxInt64, cols: cols}
		switch op {
		case sqlparser.LessThanOp:
			b.hi = d - 1
		case sqlparser.LessEqualOp:
			b.hi = d
		case sqlparser.EqualOp:
			b.lo, b.hi = d, d
		case sqlparser.GreaterEqualOp:
			b.lo = d
		case sqlparser.GreaterThanOp:
			b.lo = d + 1
		}
		bs = append(bs, b)
	}
	ij := c.p.join.interval
	for _, b := range bs {
		for s := 0; s < 2; s++ {
			if ij.timeCols[s] != -2 && ij.timeCols[s] != b.cols[s] {
				return false, fmt.Errorf("%s: the join's time bounds compare one time of each stream (%s)", sqlparser.String(e), c.timeName(s, ij.timeCols[s]))
			}
			ij.timeCols[s] = b.cols[s]
		}
		ij.lo, ij.hi = max(ij.lo, b.lo), min(ij.hi, b.hi)
	}
	return true, nil
}

func flip(op sqlparser.ComparisonExprOperator) sqlparser.ComparisonExprOperator {
	switch op {
	case sqlparser.LessThanOp:
		return sqlparser.GreaterThanOp
	case sqlparser.LessEqualOp:
		return sqlparser.GreaterEqualOp
	case sqlparser.GreaterEqualOp:
		return sqlparser.LessEqualOp
	case sqlparser.GreaterThanOp:
		return sqlparser.LessThanOp
	}
	return op
}

func (c *compiler) timeName(side, col int) string {
	if col < 0 {
		names := c.p.join.streamNames
		if side == 1 {
			names = c.p.join.tableNames
		}
		for _, n := range names {
			if n != "" {
				return n + ".ROWTIME"
			}
		}
		return "ROWTIME"
	}
	return c.p.schema.Columns[col].Name
}

// pairID is a joined row's identity, from its two rows' (short enough for
// a partition key however long the chain of pumps that made them).
func pairID(l, r string) string {
	h := fnv.New128a()
	h.Write([]byte(l))
	h.Write([]byte{0})
	h.Write([]byte(r))
	return "j" + fmt.Sprintf("%x", h.Sum(nil))
}

// sideTime is a side's row's time in ms.
func (o *operator) sideTime(side int, row []any, rowtime int64) (int64, bool) {
	j := o.p.join
	col := j.interval.timeCols[side]
	if col < 0 {
		return rowtime, true
	}
	if side == 1 {
		col -= j.nStream
	}
	switch v := row[col].(type) {
	case time.Time:
		return v.UnixMilli(), true
	case int64:
		return v, true
	}
	return 0, false
}

// setSide puts a side's row in the environment at its place in the
// joined row.
func (o *operator) setSide(side int, row []any, rowtime int64) {
	j := o.p.join
	lo, hi := 0, j.nStream
	if side == 1 {
		lo, hi = j.nStream, len(o.p.schema.Columns)
	}
	for _, i := range o.p.used {
		if i >= lo && i < hi {
			o.p.env[colVar(i)] = row[i-lo]
		}
	}
	o.p.env["rowtime"] = time.UnixMilli(rowtime).UTC()
	o.p.env[rtVars[side]] = o.p.env["rowtime"]
}

var rtVars = [2]string{"rt0", "rt1"}

// sideKey is a side's row's join key; false when a part of it is NULL
// (it joins nothing).
func (o *operator) sideKey(side int, row []any, rowtime int64) (string, bool, error) {
	ij := o.p.join.interval
	o.setSide(side, row, rowtime)
	var kb strings.Builder
	for i, prog := range ij.keys[side] {
		var v any
		if c := ij.keyCols[side][i]; c >= 0 {
			if side == 1 {
				c -= o.p.join.nStream
			}
			v = row[c]
		} else {
			var err error
			if v, err = run(prog, o.p.env); err != nil {
				return "", false, err
			}
		}
		k, ok := joinKey(v)
		if !ok {
			return "", false, nil
		}
		kb.WriteString(k)
		kb.WriteByte(0)
	}
	return kb.String(), true, nil
}

// processSide takes a row of one side of a stream join: it is joined with
// the other side's kept rows within the bound, and kept itself until the
// watermark passes its last possible match. A row older than the
// watermark the join has passed is late.
func (o *operator) processSide(side int, row []any, rowtime int64, id string) (late bool, outs []Result, err error) {
	j := o.p.join
	t, ok := o.sideTime(side, row, rowtime)
	if !ok || t < o.joinWM {
		return true, nil, nil
	}
	key, ok, err := o.sideKey(side, row, rowtime)
	if err != nil {
		return false, nil, err
	}
	jr := &joinRow{Row: row, T: t, Rowtime: rowtime, ID: id}
	if !ok {
		if side == 0 && j.left {
			_, late, outs, err = o.joinPair(jr, nil, outs)
			return late, outs, err
		}
		return false, nil, nil
	}
	lateAll, joined := true, false
	for _, m := range o.kept[1-side][key] {
		l, r := jr, m
		if side == 1 {
			l, r = m, jr
		}
		if d := l.T - r.T; d < j.interval.lo || d > j.interval.hi {
			continue
		}
		var made, lt bool
		if made, lt, outs, err = o.joinPair(l, r, outs); err != nil {
			return false, outs, err
		}
		joined = joined || made
		lateAll = lateAll && (!made || lt)
	}
	o.keep(side, key, jr)
	return joined && lateAll, outs, nil
}

// joinPair processes the joined row of l and r (r nil: a LEFT JOIN's row
// without a match) when ON's other conditions hold; it reports whether
// it did, and whether the joined row was late for its window. A joined
// row's ROWTIME is the later of its rows'; a row without a match of a
// join on ROWTIME has the time its interval ends (the last time a match
// could have come), which the watermark has only just passed, so a window
// downstream counts it.
func (o *operator) joinPair(l, r *joinRow, outs []Result) (made, late bool, _ []Result, _ error) {
	j := o.p.join
	joined := make([]any, len(o.p.schema.Columns))
	copy(joined, l.Row)
	rowtime, rid := l.Rowtime, ""
	if j.interval.timeCols[0] < 0 {
		rowtime = max(rowtime, l.T-j.interval.lo)
	}
	o.p.env["rt0"], o.p.env["rt1"] = time.UnixMilli(l.Rowtime).UTC(), nil
	if r != nil {
		o.p.env["rt1"] = time.UnixMilli(r.Rowtime).UTC()
		copy(joined[j.nStream:], r.Row)
		rowtime, rid = max(l.Rowtime, r.Rowtime), r.ID
		if on := j.interval.on; on != nil {
			o.setRow(joined, rowtime)
			v, err := run(on, o.p.env)
			if err != nil {
				return false, false, outs, err
			}
			if !truth(v) {
				return false, false, outs, nil
			}
		}
		l.Matched, r.Matched = true, true
	}
	late, res, err := o.processRow(joined, rowtime, pairID(l.ID, rid))
	if res != nil {
		outs = append(outs, *res)
	}
	return true, late, outs, err
}

// evict drops the rows no row to come can match (the left side's once
// the watermark passes tL - lo, the right's once it passes tR + hi) and
// returns a LEFT JOIN's rows that matched nothing, in order of time.
func (o *operator) evict(watermark int64) ([]Result, error) {
	if watermark <= o.joinWM {
		return nil, nil
	}
	o.joinWM = watermark
	var unmatched []*joinRow
	for side := range o.expiry {
		h := &o.expiry[side]
		for h.Len() > 0 && (*h)[0].last < watermark {
			x := heap.Pop(h).(expiring)
			rows := o.kept[side][x.key]
			for i, r := range rows {
				if r == x.r {
					rows = append(rows[:i], rows[i+1:]...)
					break
				}
			}
			if len(rows) == 0 {
				delete(o.kept[side], x.key)
			} else {
				o.kept[side][x.key] = rows
			}
			if side == 0 && o.p.join.left && !x.r.Matched {
				unmatched = append(unmatched, x.r)
			}
		}
	}
	sort.Slice(unmatched, func(a, b int) bool {
		if unmatched[a].T != unmatched[b].T {
			return unmatched[a].T < unmatched[b].T
		}
		return unmatched[a].ID < unmatched[b].ID
	})
	var outs []Result
	for _, r := range unmatched {
		var err error
		if _, _, outs, err = o.joinPair(r, nil, outs); err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// joinRowState is a kept row in a checkpoint.
type joinRowState struct {
	Side    int    `json:"s"`
	Row     []tv   `json:"r"`
	T       int64  `json:"t"`
	Rowtime int64  `json:"rt"`
	ID      string `json:"id"`
	Matched bool   `json:"m,omitempty"`
}

func (o *operator) snapshotJoin() []joinRowState {
	var out []joinRowState
	for side := range o.kept {
		keys := make([]string, 0, len(o.kept[side]))
		for k := range o.kept[side] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, r := range o.kept[side][k] {
				rs := joinRowState{Side: side, Row: make([]tv, len(r.Row)), T: r.T, Rowtime: r.Rowtime, ID: r.ID, Matched: r.Matched}
				for i, v := range r.Row {
					rs.Row[i] = encodeValue(v)
				}
				out = append(out, rs)
			}
		}
	}
	return out
}

func (o *operator) restoreJoin(wm int64, rows []joinRowState) error {
	j := o.p.join
	if j == nil || j.interval == nil {
		if len(rows) > 0 {
			return fmt.Errorf("the checkpoint's joined rows do not match query %d", o.idx+1)
		}
		return nil
	}
	o.joinWM = wm
	o.kept = [2]map[string][]*joinRow{{}, {}}
	o.expiry = [2]expiry{}
	for _, rs := range rows {
		width := j.nStream
		if rs.Side == 1 {
			width = len(o.p.schema.Columns) - j.nStream
		}
		if rs.Side < 0 || rs.Side > 1 || len(rs.Row) != width {
			return fmt.Errorf("the checkpoint's joined rows do not match query %d", o.idx+1)
		}
		r := &joinRow{Row: make([]any, len(rs.Row)), T: rs.T, Rowtime: rs.Rowtime, ID: rs.ID, Matched: rs.Matched}
		for i, v := range rs.Row {
			var err error
			if r.Row[i], err = v.decode(); err != nil {
				return err
			}
		}
		key, ok, err := o.sideKey(rs.Side, r.Row, r.Rowtime)
		if err != nil {
			return err
		}
		if ok {
			o.keep(rs.Side, key, r)
		}
	}
	return nil
}

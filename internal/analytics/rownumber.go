package analytics

import (
	"fmt"
	"strconv"
	"strings"
)

// Flink's window Top-N written with ROW_NUMBER:
//
//	SELECT cols FROM (
//	  SELECT cols, ROW_NUMBER() OVER (PARTITION BY window_start, window_end [, keys]
//	                                  ORDER BY x [DESC], ...) AS rownum
//	  FROM (SELECT ... FROM TABLE(TUMBLE(...)) GROUP BY window_start, window_end, ...)
//	) WHERE rownum <= N
//
// (the middle SELECT may also aggregate itself, FROM TABLE(TUMBLE(...))
// ... GROUP BY ...) is rewritten into the one windowed query
//
//	SELECT cols FROM TABLE(TUMBLE(...)) GROUP BY ...
//	  ORDER BY keys, x [DESC], ... LIMIT N
//
// whose ranking (rank) numbers each partition's rows in ORDER BY order
// and keeps the first N of each: the ORDER BY LIMIT form with partition
// keys, and a column for the row number.

// RowNumber is the ROW_NUMBER form of a window Top-N.
type RowNumber struct {
	// Partition is how many of the query's first ORDER BY keys are the
	// partition's keys (besides the window).
	Partition int
	// At is the position of the row number column in the select list, -1
	// when the outer query does not select it; Name is its name.
	At   int
	Name string
}

// selItem is one item of a select list: its expression and output name
// ("" when it has none).
type selItem struct {
	expr []token
	name string
}

// findRowNumber is the index of ROW_NUMBER ( ) in toks, or -1.
func findRowNumber(toks []token) int {
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].is("ROW_NUMBER") && toks[i+1].punct("(") {
			return i
		}
	}
	return -1
}

// topLevel is the index of the first keyword word at depth 0 in toks
// from start, or -1.
func topLevel(toks []token, start int, word string) int {
	depth := 0
	for i := start; i < len(toks); i++ {
		switch {
		case toks[i].punct("("):
			depth++
		case toks[i].punct(")"):
			depth--
		case depth == 0 && toks[i].is(word):
			return i
		}
	}
	return -1
}

// splitTop splits toks at the keyword word (AND) at depth 0.
func splitTop(toks []token, word string) [][]token {
	var out [][]token
	for {
		i := topLevel(toks, 0, word)
		if i < 0 {
			return append(out, toks)
		}
		out = append(out, toks[:i])
		toks = toks[i+1:]
	}
}

// parseItem reads expr [AS] name; a lone column (qualified or not) is
// named after itself.
func parseItem(toks []token) selItem {
	n := len(toks)
	switch {
	case n >= 3 && toks[n-2].is("AS") && toks[n-1].name() != "":
		return selItem{toks[:n-2], toks[n-1].name()}
	case n == 1 && toks[0].name() != "":
		return selItem{toks, toks[0].name()}
	case n >= 3 && toks[n-2].punct(".") && toks[n-1].name() != "" && isColumnPath(toks):
		return selItem{toks, toks[n-1].name()}
	case n >= 2 && toks[n-1].name() != "" && !endsExpression(toks[n-1]) && !toks[n-2].punct(".") &&
		(toks[n-2].punct(")") || toks[n-2].name() != "" || toks[n-2].kind == tNumber || toks[n-2].kind == tString):
		return selItem{toks[:n-1], toks[n-1].name()}
	}
	return selItem{expr: toks}
}

// endsExpression says whether a word ends an expression (CASE ... END,
// x IS NULL) rather than naming it.
func endsExpression(t token) bool {
	if t.kind != tIdent {
		return false
	}
	switch strings.ToUpper(t.text) {
	case "END", "NULL", "TRUE", "FALSE", "UNKNOWN", "MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY":
		return true
	}
	return false
}

// isColumnPath says whether toks are a.b[.c].
func isColumnPath(toks []token) bool {
	for i, t := range toks {
		if (i%2 == 1) != t.punct(".") || (i%2 == 0 && t.name() == "") {
			return false
		}
	}
	return len(toks)%2 == 1
}

// columnName is the column toks name alone (qualified or not), or "".
func columnName(toks []token) string {
	if len(toks) > 0 && isColumnPath(toks) {
		return toks[len(toks)-1].name()
	}
	return ""
}

func lookupItem(items []selItem, name string) (selItem, bool) {
	for _, it := range items {
		if it.name == name {
			return it, true
		}
	}
	for _, it := range items {
		if it.name != "" && strings.EqualFold(it.name, name) {
			return it, true
		}
	}
	return selItem{}, false
}

// subquery reads FROM ( SELECT ... ) [[AS] alias] at toks[0] == "(";
// it returns the SELECT's tokens and what follows the alias.
func subquery(toks []token) (sel, rest []token, ok bool) {
	if len(toks) < 2 || !toks[0].punct("(") || !toks[1].is("SELECT") {
		return nil, nil, false
	}
	end := closing(toks, 0)
	if end < 0 {
		return nil, nil, false
	}
	sel, rest = toks[1:end], toks[end+1:]
	if len(rest) > 1 && rest[0].is("AS") && rest[1].name() != "" {
		rest = rest[2:]
	} else if len(rest) > 0 && rest[0].kind != tPunct && !rest[0].is("WHERE") {
		rest = rest[1:]
	}
	if len(sel) > 1 && sel[1].is("STREAM") {
		sel = append([]token{sel[0]}, sel[2:]...)
	}
	return sel, rest, true
}

const rowNumberShape = "SELECT ... FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY window_start, window_end[, keys] ORDER BY ...) AS rownum FROM ...) WHERE rownum <= N"

// rewriteRowNumber rewrites the ROW_NUMBER form of window Top-N into
// ORDER BY ... LIMIT with q.RowNumber set; toks without ROW_NUMBER come
// back unchanged.
func rewriteRowNumber(q *Query, toks []token) ([]token, error) {
	for i := 0; i+3 < len(toks); i++ {
		if (toks[i].is("RANK") || toks[i].is("DENSE_RANK")) && toks[i+1].punct("(") && toks[i+2].punct(")") && toks[i+3].is("OVER") {
			return nil, fmt.Errorf("%s() is not supported: a window Top-N ranks with ROW_NUMBER()", strings.ToUpper(toks[i].text))
		}
	}
	if findRowNumber(toks) < 0 {
		return toks, nil
	}
	// The outer query: SELECT items FROM (middle) [alias] WHERE rownum <= N.
	from := topLevel(toks, 0, "FROM")
	if from < 0 {
		return nil, fmt.Errorf("ROW_NUMBER() is read in Flink's window Top-N: %s", rowNumberShape)
	}
	mid, rest, ok := subquery(toks[from+1:])
	if !ok || findRowNumber(toks[:from]) >= 0 {
		return nil, fmt.Errorf("ROW_NUMBER() needs an outer query that keeps its first rows (WHERE rownum <= N): %s", rowNumberShape)
	}
	if len(rest) == 0 || !rest[0].is("WHERE") {
		return nil, fmt.Errorf("a window Top-N needs WHERE rownum <= N in the outer query: %s", rowNumberShape)
	}
	// The middle query: SELECT items, ROW_NUMBER() OVER (...) AS rownum FROM src.
	mfrom := topLevel(mid, 0, "FROM")
	if mfrom < 0 {
		return nil, fmt.Errorf("the query with ROW_NUMBER() has no FROM: %s", rowNumberShape)
	}
	var midItems []selItem
	var rn selItem
	found := false
	for _, a := range splitArgs(mid[1:mfrom]) {
		if len(a) > 0 && a[0].is("ROW_NUMBER") {
			if found {
				return nil, fmt.Errorf("a query may have one ROW_NUMBER()")
			}
			rn, found = parseItem(a), true
			continue
		}
		if findRowNumber(a) >= 0 {
			return nil, fmt.Errorf("ROW_NUMBER() OVER (...) must be a column of its own, not inside %s", render(a))
		}
		midItems = append(midItems, parseItem(a))
	}
	if !found {
		return nil, fmt.Errorf("ROW_NUMBER() must be in the select list of the query the outer query reads: %s", rowNumberShape)
	}
	if rn.name == "" {
		return nil, fmt.Errorf("ROW_NUMBER() OVER (...) needs a name (AS rownum) for the outer WHERE to keep")
	}
	parts, err := parseOver(rn.expr)
	if err != nil {
		return nil, err
	}
	// The base query the rows come from: a subquery (window aggregation)
	// or the middle query itself.
	var base []selItem
	var baseFrom []token
	if agg, after, ok := subquery(mid[mfrom+1:]); ok {
		if len(after) > 0 {
			return nil, fmt.Errorf("unexpected %s after the subquery of the window Top-N (filter in the subquery's WHERE or HAVING)", render(after))
		}
		afrom := topLevel(agg, 0, "FROM")
		if afrom < 0 {
			return nil, fmt.Errorf("the window aggregation of the window Top-N has no FROM")
		}
		var all []selItem
		for _, a := range splitArgs(agg[1:afrom]) {
			all = append(all, parseItem(a))
		}
		for _, it := range midItems {
			if len(it.expr) == 1 && it.expr[0].punct("*") {
				base = append(base, all...)
				continue
			}
			col := columnName(it.expr)
			src, ok := lookupItem(all, col)
			if col == "" || !ok {
				return nil, fmt.Errorf("the query with ROW_NUMBER() may select * or columns of its subquery, not %s", render(it.expr))
			}
			base = append(base, selItem{src.expr, it.name})
		}
		baseFrom = agg[afrom:]
	} else {
		for _, it := range midItems {
			if len(it.expr) == 1 && it.expr[0].punct("*") {
				return nil, fmt.Errorf("a window Top-N over a window's rows without aggregation is not supported: rank the groups of GROUP BY window_start, window_end, ...")
			}
		}
		base, baseFrom = midItems, mid[mfrom:]
	}
	for _, w := range []string{"ORDER", "LIMIT"} {
		if topLevel(baseFrom, 0, w) >= 0 {
			return nil, fmt.Errorf("a window Top-N ranks with ROW_NUMBER(): its query may not have ORDER BY or LIMIT too")
		}
	}
	// The outer WHERE: rownum <= N (or < N, or = 1) alone.
	limit := 0
	for _, c := range splitTop(rest[1:], "AND") {
		n, isRank, err := rankBound(c, rn.name)
		if err != nil {
			return nil, err
		}
		if !isRank {
			return nil, fmt.Errorf("the outer WHERE of a window Top-N keeps rows by %s alone (%s is not supported there: filter in the inner query's WHERE or HAVING)", rn.name, render(c))
		}
		if limit != 0 {
			return nil, fmt.Errorf("the outer WHERE of a window Top-N bounds %s once", rn.name)
		}
		limit = n
	}
	// The outer select list: * or columns of the middle query.
	withRank := append(append([]selItem(nil), base...), selItem{name: rn.name})
	var outs []selItem
	for _, a := range splitArgs(toks[1:from]) {
		if len(a) == 1 && a[0].punct("*") {
			outs = append(outs, withRank...)
			continue
		}
		it := parseItem(a)
		col := columnName(it.expr)
		src, ok := lookupItem(withRank, col)
		if col == "" || !ok {
			return nil, fmt.Errorf("the outer query of a window Top-N may select * or columns of its subquery, not %s", render(a))
		}
		outs = append(outs, selItem{src.expr, it.name})
	}
	// The one query: SELECT outs FROM ... ORDER BY partition, order LIMIT n.
	id := func(s string) token { return token{tIdent, s} }
	p := func(s string) token { return token{tPunct, s} }
	spec := &RowNumber{At: -1, Name: rn.name}
	out := []token{id("SELECT")}
	n := 0
	for i, it := range outs {
		if it.expr == nil {
			if spec.At >= 0 {
				return nil, fmt.Errorf("the outer query of a window Top-N selects %s once", rn.name)
			}
			spec.At, spec.Name = i, it.name
			continue
		}
		if n > 0 {
			out = append(out, p(","))
		}
		n++
		out = append(out, it.expr...)
		if it.name != "" {
			out = append(out, id("AS"), token{tQuoted, it.name})
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("a window Top-N must select a column besides %s", rn.name)
	}
	out = append(out, baseFrom...)
	out = append(out, id("ORDER"), id("BY"))
	subst := func(key []token) []token {
		if col := columnName(key); col != "" {
			if it, ok := lookupItem(base, col); ok {
				return append(append([]token{p("(")}, it.expr...), p(")"))
			}
		}
		return key
	}
	for i, k := range parts.partition {
		if i > 0 {
			out = append(out, p(","))
		}
		out = append(out, subst(k)...)
	}
	for i, k := range parts.order {
		if i > 0 || len(parts.partition) > 0 {
			out = append(out, p(","))
		}
		out = append(out, subst(k.key)...)
		if k.desc {
			out = append(out, id("DESC"))
		}
	}
	out = append(out, id("LIMIT"), token{tNumber, strconv.Itoa(limit)})
	spec.Partition = len(parts.partition)
	q.RowNumber = spec
	return out, nil
}

type overKey struct {
	key  []token
	desc bool
}

type overClause struct {
	partition [][]token // besides window_start and window_end
	order     []overKey
}

// parseOver reads ROW_NUMBER() OVER (PARTITION BY window_start,
// window_end[, keys] ORDER BY x [ASC|DESC], ...).
func parseOver(toks []token) (overClause, error) {
	var oc overClause
	if len(toks) < 5 || !toks[1].punct("(") || !toks[2].punct(")") || !toks[3].is("OVER") || !toks[4].punct("(") || closing(toks, 4) != len(toks)-1 {
		return oc, fmt.Errorf("ROW_NUMBER() takes no arguments and needs OVER (PARTITION BY window_start, window_end ... ORDER BY ...), found %s", render(toks))
	}
	body := toks[5 : len(toks)-1]
	ob := -1
	for i := 0; i+1 < len(body); i++ {
		if body[i].is("ORDER") && body[i+1].is("BY") {
			ob = i
		}
	}
	if len(body) < 2 || !body[0].is("PARTITION") || !body[1].is("BY") {
		return oc, fmt.Errorf("a window Top-N needs PARTITION BY window_start, window_end in ROW_NUMBER() OVER (...)")
	}
	if ob < 0 || ob+2 >= len(body) {
		return oc, fmt.Errorf("ROW_NUMBER() OVER (...) needs ORDER BY: the order that ranks a window's rows")
	}
	var start, end bool
	for _, k := range splitArgs(body[2:ob]) {
		switch strings.ToLower(columnName(k)) {
		case "window_start":
			start = true
		case "window_end":
			end = true
		case "":
			return oc, fmt.Errorf("PARTITION BY of a window Top-N takes columns, not %s", render(k))
		default:
			oc.partition = append(oc.partition, k)
		}
	}
	if !start || !end {
		return oc, fmt.Errorf("a window Top-N needs PARTITION BY window_start, window_end (and optional keys): without both it is not ranked per window")
	}
	for _, k := range splitArgs(body[ob+2:]) {
		key := overKey{key: k}
		if n := len(k); n > 1 && (k[n-1].is("DESC") || k[n-1].is("ASC")) {
			key.desc, key.key = k[n-1].is("DESC"), k[:n-1]
		}
		if len(key.key) == 0 {
			return oc, fmt.Errorf("ORDER BY in ROW_NUMBER() OVER (...) has an empty key")
		}
		oc.order = append(oc.order, key)
	}
	return oc, nil
}

// rankBound reads rownum <= N, rownum < N or rownum = 1 (either way
// round); isRank is false for a condition not on the row number.
func rankBound(c []token, name string) (n int, isRank bool, err error) {
	mentions := false
	for _, t := range c {
		if t.name() != "" && strings.EqualFold(t.name(), name) {
			mentions = true
		}
	}
	if !mentions {
		return 0, false, nil
	}
	bad := fmt.Errorf("the outer WHERE of a window Top-N must be %s <= N (or %s < N, or %s = 1), not %s", name, name, name, render(c))
	if len(c) != 3 || c[1].kind != tPunct {
		return 0, true, bad
	}
	op, lhs, rhs := c[1].text, c[0], c[2]
	if lhs.kind == tNumber {
		lhs, rhs = rhs, lhs
		op = map[string]string{"<=": ">=", ">=": "<=", "<": ">", ">": "<", "=": "="}[op]
	}
	if !strings.EqualFold(lhs.name(), name) || rhs.kind != tNumber {
		return 0, true, bad
	}
	v, perr := strconv.Atoi(rhs.text)
	switch {
	case perr != nil:
		return 0, true, bad
	case op == "<=" && v >= 1:
		return v, true, nil
	case op == "<" && v >= 2:
		return v - 1, true, nil
	case op == "=" && v == 1:
		return 1, true, nil
	}
	return 0, true, bad
}

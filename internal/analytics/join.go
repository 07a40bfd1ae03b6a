package analytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"
)

// Table is a reference table: KDA's reference data source, an object read
// whole into an in-application table that queries join the stream with.
type Table struct {
	// Name is the in-application table's name (the JOIN's table).
	Name   string
	Schema Schema
	// Rows are the table's rows, typed by Schema; nil when the table is
	// only compiled against (a query checked before it runs).
	Rows [][]any
}

// LoadTable reads a reference table from an object's bytes: CSV lines
// split by the schema's delimiters, or JSON values one after another (each
// read at the schema's row path).
func LoadTable(name string, sc Schema, data []byte) (Table, error) {
	if err := sc.compile(); err != nil {
		return Table{}, fmt.Errorf("reference table %s: %w", name, err)
	}
	t := Table{Name: name, Schema: sc, Rows: [][]any{}}
	if sc.Format == FormatCSV {
		rows, err := sc.Rows(data)
		if err != nil {
			return Table{}, fmt.Errorf("reference table %s: %w", name, err)
		}
		t.Rows = rows
		return t, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return Table{}, fmt.Errorf("reference table %s: value %d is not JSON: %v", name, n, err)
		}
		rows, err := sc.Rows(raw)
		if err != nil {
			return Table{}, fmt.Errorf("reference table %s: value %d: %w", name, n, err)
		}
		t.Rows = append(t.Rows, rows...)
	}
	return t, nil
}

// joinPlan is a query's join of the stream with a reference table: the
// row the rest of the plan sees is the stream's columns followed by the
// table's (NULLs for a LEFT JOIN's row without a match).
type joinPlan struct {
	table   int
	left    bool
	nStream int
	// streams: the join is of two streams (the right side's columns
	// follow the left's), bounded by interval; rightIsStream is false
	// when the right side names no in-application stream and reads the
	// source, rightName is its name.
	streams       bool
	interval      *intervalJoin
	rightIsStream bool
	rightName     string
	// names qualify columns: the stream's name and alias, the table's.
	streamNames, tableNames []string
	// probes are the stream side of each equality of ON, tableCols the
	// table's columns they equal (indices into the table's columns).
	probes    []*program
	probeCols []int
	tableCols []int
	// index maps the table's key values to its rows: built once per
	// engine, so each stream row is one lookup.
	index map[string][][]any
}

// joinKey is a join value's identity: numbers equal when their values
// are (a BIGINT column joins a DOUBLE one), text as it is; NULL joins
// nothing.
func joinKey(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case int64:
		return "n" + strconv.FormatInt(x, 10), true
	case float64:
		if x == float64(int64(x)) {
			return "n" + strconv.FormatInt(int64(x), 10), true
		}
	}
	return typedKey(v), true
}

func tableName(te sqlparser.TableExpr) (name, alias string, ok bool) {
	at, isAliased := te.(*sqlparser.AliasedTableExpr)
	if !isAliased {
		return "", "", false
	}
	tn, isName := at.Expr.(sqlparser.TableName)
	if !isName {
		return "", "", false
	}
	return tn.Name.String(), at.As.String(), true
}

// compileFrom reads the FROM clause: one stream, or the stream joined
// with one reference table. It returns the schema the query's columns are
// found in.
func compileFrom(sel *sqlparser.Select, schema *Schema, tables []Table, right *joinedStream) (*Schema, *joinPlan, error) {
	if right != nil {
		return compileStreamFrom(sel, schema, right, false)
	}
	if len(sel.From) == 2 {
		if _, rname, _ := fromPair(sel); isTable(tables, rname) {
			return compileStreamFrom(sel, schema, &joinedStream{Schema: schema}, true)
		}
	}
	if len(sel.From) != 1 {
		return nil, nil, fmt.Errorf("a continuous query reads one stream, joined with at most one reference table or other stream (FROM s JOIN t ON ...)")
	}
	switch from := sel.From[0].(type) {
	case *sqlparser.AliasedTableExpr:
		if _, ok := from.Expr.(sqlparser.TableName); !ok {
			return nil, nil, fmt.Errorf("the FROM clause must name one source stream (subqueries are not supported)")
		}
		return schema, nil, nil
	case *sqlparser.JoinTableExpr:
		if from.Join != sqlparser.NormalJoinType && from.Join != sqlparser.LeftJoinType {
			return nil, nil, fmt.Errorf("a join of the stream with a reference table is JOIN (INNER) or LEFT [OUTER] JOIN")
		}
		sname, salias, ok1 := tableName(from.LeftExpr)
		tname, talias, ok2 := tableName(from.RightExpr)
		if !ok1 || !ok2 {
			return nil, nil, fmt.Errorf("a join is the source stream JOIN one reference table: FROM s JOIN t ON s.k = t.k")
		}
		ti := -1
		for i, t := range tables {
			if t.Name == tname || (ti < 0 && strings.EqualFold(t.Name, tname)) {
				ti = i
			}
		}
		if ti < 0 {
			return nil, nil, fmt.Errorf("%s is not a reference table of the application", tname)
		}
		if from.Condition == nil || from.Condition.On == nil {
			return nil, nil, fmt.Errorf("the join with %s needs ON s.column = %s.column", tname, tname)
		}
		j := &joinPlan{table: ti, left: from.Join == sqlparser.LeftJoinType, nStream: len(schema.Columns),
			streamNames: []string{sname, salias}, tableNames: []string{tname, talias}}
		combined := &Schema{Columns: append(append([]Column(nil), schema.Columns...), tables[ti].Schema.Columns...)}
		return combined, j, nil
	}
	return nil, nil, fmt.Errorf("the FROM clause must name one source stream")
}

// compileJoin compiles ON: equalities joined by AND, each of a stream
// expression and a column of the table.
func (c *compiler) compileJoin(on sqlparser.Expr) error {
	j := c.p.join
	var eqs []*sqlparser.ComparisonExpr
	var split func(e sqlparser.Expr) error
	split = func(e sqlparser.Expr) error {
		switch x := e.(type) {
		case *sqlparser.AndExpr:
			if err := split(x.Left); err != nil {
				return err
			}
			return split(x.Right)
		case *sqlparser.ComparisonExpr:
			if x.Operator == sqlparser.EqualOp {
				eqs = append(eqs, x)
				return nil
			}
		}
		return fmt.Errorf("ON %s: a join with a reference table is on equalities (s.k = t.k [AND ...])", sqlparser.String(e))
	}
	if err := split(on); err != nil {
		return err
	}
	for _, eq := range eqs {
		l, r := eq.Left, eq.Right
		tc, ok := c.tableColumn(r)
		if !ok {
			l, r = r, l
			if tc, ok = c.tableColumn(r); !ok {
				return fmt.Errorf("ON %s: one side must be a column of the reference table", sqlparser.String(eq))
			}
		}
		if c.refersToTable(l) {
			return fmt.Errorf("ON %s: the other side must be of the stream", sqlparser.String(eq))
		}
		prog, err := c.program(l, rowScope)
		if err != nil {
			return fmt.Errorf("ON: %w", err)
		}
		j.probes = append(j.probes, prog)
		j.probeCols = append(j.probeCols, directColumn(c, l))
		j.tableCols = append(j.tableCols, tc-j.nStream)
	}
	return nil
}

// tableColumn is the combined-row index of e when it is a column of the
// reference table.
func (c *compiler) tableColumn(e sqlparser.Expr) (int, bool) {
	col, ok := e.(*sqlparser.ColName)
	if !ok {
		return 0, false
	}
	i, ok := c.resolve(col)
	return i, ok && i >= c.p.join.nStream
}

func (c *compiler) refersToTable(e sqlparser.Expr) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if col, ok := n.(*sqlparser.ColName); ok {
			if i, ok := c.resolve(col); ok && i >= c.p.join.nStream {
				found = true
			}
		}
		return !found, nil
	}, e)
	return found
}

// resolve finds a column named in the query. Without a join it is
// column(name); with one a qualifier picks the stream's columns or the
// table's, and an unqualified name is the stream's before the table's.
func (c *compiler) resolve(col *sqlparser.ColName) (int, bool) {
	j := c.p.join
	if j == nil {
		return c.column(col.Name.String())
	}
	name := col.Name.String()
	lo, hi := 0, len(c.p.schema.Columns)
	if q := col.Qualifier.Name.String(); q != "" {
		switch {
		case matchesName(q, j.tableNames):
			lo = j.nStream
		case matchesName(q, j.streamNames):
			hi = j.nStream
		default:
			return 0, false
		}
	}
	cols := c.p.schema.Columns[lo:hi]
	for i, cc := range cols {
		if cc.Name == name {
			return lo + i, true
		}
	}
	for i, cc := range cols {
		if strings.EqualFold(cc.Name, name) {
			return lo + i, true
		}
	}
	return 0, false
}

func matchesName(q string, names []string) bool {
	for _, n := range names {
		if n != "" && (n == q || strings.EqualFold(n, q)) {
			return true
		}
	}
	return false
}

// buildIndex hashes the reference table's rows by their join columns.
func (j *joinPlan) buildIndex(t *Table) {
	j.index = map[string][][]any{}
	var kb strings.Builder
	for _, row := range t.Rows {
		kb.Reset()
		ok := true
		for _, tc := range j.tableCols {
			k, has := joinKey(row[tc])
			if !has {
				ok = false
				break
			}
			kb.WriteString(k)
			kb.WriteByte(0)
		}
		if ok {
			j.index[kb.String()] = append(j.index[kb.String()], row)
		}
	}
}

// process joins a stream row with the reference table and processes each
// joined row; it returns whether the row was late and the rows of a query
// without a window.
func (o *operator) process(row []any, rowtime int64, id string) (late bool, outs []Result, err error) {
	j := o.p.join
	if j != nil && j.streams {
		return o.processSide(0, row, rowtime, id)
	}
	if j == nil {
		late, r, err := o.processRow(row, rowtime, id)
		if r != nil {
			outs = append(outs, *r)
		}
		return late, outs, err
	}
	for _, i := range o.p.used {
		if i < j.nStream {
			o.p.env[colVar(i)] = row[i]
		}
	}
	o.p.env["rowtime"] = time.UnixMilli(rowtime).UTC()
	var kb strings.Builder
	matched := true
	for i, prog := range j.probes {
		var v any
		if c := j.probeCols[i]; c >= 0 {
			v = row[c]
		} else if v, err = run(prog, o.p.env); err != nil {
			return false, nil, err
		}
		k, ok := joinKey(v)
		if !ok {
			matched = false
			break
		}
		kb.WriteString(k)
		kb.WriteByte(0)
	}
	var matches [][]any
	if matched {
		matches = j.index[kb.String()]
	}
	if len(matches) == 0 {
		if !j.left {
			return false, nil, nil
		}
		matches = [][]any{nil}
	}
	nTable := len(o.p.schema.Columns) - j.nStream
	late = true
	for mi, m := range matches {
		joined := make([]any, j.nStream+nTable)
		copy(joined, row)
		copy(joined[j.nStream:], m)
		rid := id
		if len(matches) > 1 {
			rid += "-j" + strconv.Itoa(mi)
		}
		l, r, err := o.processRow(joined, rowtime, rid)
		if err != nil {
			return false, outs, err
		}
		if r != nil {
			outs = append(outs, *r)
		}
		late = late && l
	}
	return late, outs, nil
}

// fromPair is the two names of FROM a, b.
func fromPair(sel *sqlparser.Select) (left, right string, ok bool) {
	l, _, ok1 := tableName(sel.From[0])
	r, _, ok2 := tableName(sel.From[1])
	return l, r, ok1 && ok2
}

// isTable reports whether a name is one of the reference tables.
func isTable(tables []Table, name string) bool {
	for _, t := range tables {
		if t.Name == name || strings.EqualFold(t.Name, name) {
			return true
		}
	}
	return false
}

package analytics

import (
	"fmt"
	"strconv"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// aggKind is an aggregate function.
type aggKind int

const (
	aggCount aggKind = iota
	aggSum
	aggAvg
	aggMin
	aggMax
)

type aggSpec struct {
	kind     aggKind
	distinct bool
	// approx counts distinct values exactly up to exactDistinct, then
	// with a HyperLogLog sketch (APPROX_COUNT_DISTINCT).
	approx bool
	arg    *program // nil: COUNT(*)
	argCol int      // >= 0: arg is that column alone, read without running a program
}

// plan is a query compiled: programs over an environment whose
// variables are the row's columns (c0, c1 ...), its ROWTIME (rowtime),
// the group's keys (g0 ...), aggregates (a0 ...), window bounds (ws, we)
// and the query's literals (k0 ...).
type plan struct {
	q       *Query
	schema  *Schema
	grouped bool

	filter   *program
	keys     []*program
	aggs     []aggSpec
	names    []string
	outs     []*program
	having   *program
	timeCol  int // -1: ROWTIME
	keyTexts []string
	// keyCols[i] >= 0 when group key i is that column alone, read without
	// a program; used are the columns programs read from the environment.
	keyCols []int
	used    []int
	// join is the stream's join with a reference table, if any; schema
	// then holds the stream's columns followed by the table's.
	join *joinPlan
	// order and limit rank each window's rows (ORDER BY ... LIMIT n).
	order []orderKey
	limit int
	// partition is how many of the first order keys partition a window's
	// rows (ROW_NUMBER() OVER (PARTITION BY window_start, window_end,
	// keys)); rowNumber is the output column that numbers them, or -1.
	partition int
	rowNumber int

	env map[string]any // variables and literals; the engine is single-threaded
}

type scope int

const (
	rowScope   scope = iota // a row's columns
	groupScope              // a group's keys, aggregates and window
	slideScope              // a row's columns and its sliding aggregates
)

type compiler struct {
	p      *plan
	consts int
}

var sqlParser = func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		panic(err)
	}
	return p
}()

// compile parses a rewritten query and compiles it against a schema and
// the application's reference tables; right, when not nil, is the second
// stream the query joins.
func compile(q *Query, schema *Schema, tables []Table, right *joinedStream) (*plan, error) {
	stmt, err := sqlParser.Parse(q.SQL)
	if err != nil {
		return nil, fmt.Errorf("the query does not parse: %v", err)
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok {
		return nil, fmt.Errorf("the query must be one SELECT, not %T", stmt)
	}
	if sel.With != nil || sel.Distinct || len(sel.Windows) > 0 {
		return nil, fmt.Errorf("WITH, DISTINCT and WINDOW are not supported in a continuous query")
	}
	schema, join, err := compileFrom(sel, schema, tables, right)
	if err != nil {
		return nil, err
	}
	if q.JoinRange > 0 && (join == nil || !join.streams) {
		return nil, fmt.Errorf("OVER (RANGE ...) after JOIN is a window on a joined stream: the query must join two streams")
	}
	p := &plan{q: q, schema: schema, timeCol: -1, env: map[string]any{}, join: join, rowNumber: -1}
	c := &compiler{p: p}
	if q.Window.TimeColumn != "" {
		i, ok := c.column(q.Window.TimeColumn)
		if !ok {
			return nil, fmt.Errorf("the window's time column %s is not in the input schema", q.Window.TimeColumn)
		}
		if base, _ := splitSQLType(schema.Columns[i].SQLType); base != "TIMESTAMP" && base != "DATE" && base != "DATETIME" && base != "BIGINT" {
			return nil, fmt.Errorf("the window's time column %s is %s, not TIMESTAMP (or BIGINT milliseconds)", schema.Columns[i].Name, schema.Columns[i].SQLType)
		}
		if join != nil && !join.streams && i >= join.nStream {
			return nil, fmt.Errorf("the window's time column %s must be a column of the stream", q.Window.TimeColumn)
		}
		p.timeCol = i
	}
	for i := range schema.Columns {
		p.env["c"+strconv.Itoa(i)] = nil
	}
	p.env["rowtime"], p.env["ws"], p.env["we"] = nil, nil, nil
	if join != nil && join.streams {
		p.env["rt0"], p.env["rt1"] = nil, nil
	}
	var where sqlparser.Expr
	if sel.Where != nil {
		where = sel.Where.Expr
	}
	switch {
	case join != nil && join.streams:
		if where, err = c.compileStreamJoin(sel); err != nil {
			return nil, err
		}
	case join != nil:
		if err := c.compileJoin(sel.From[0].(*sqlparser.JoinTableExpr).Condition.On); err != nil {
			return nil, err
		}
	}
	if where != nil {
		if p.filter, err = c.program(where, rowScope); err != nil {
			return nil, fmt.Errorf("WHERE: %w", err)
		}
	}
	hasAgg := false
	for _, se := range sel.SelectExprs.Exprs {
		if ae, ok := se.(*sqlparser.AliasedExpr); ok && containsAggregate(ae.Expr) {
			hasAgg = true
		}
	}
	p.grouped = hasAgg || sel.GroupBy != nil || sel.Having != nil || q.Window.Kind != NoWindow
	if p.grouped && q.Window.Kind == NoWindow {
		return nil, fmt.Errorf("an aggregate over a stream needs a window: GROUP BY ..., STEP(ROWTIME BY INTERVAL '60' SECOND), WINDOWED BY STAGGER or FROM TABLE(TUMBLE(...))")
	}
	if sel.GroupBy != nil {
		for _, g := range sel.GroupBy.Exprs {
			if isWindowColumn(g) {
				continue // Flink groups by window_start, window_end: the window itself
			}
			prog, err := c.program(g, rowScope)
			if err != nil {
				return nil, fmt.Errorf("GROUP BY: %w", err)
			}
			p.env["g"+strconv.Itoa(len(p.keys))] = nil
			p.keys = append(p.keys, prog)
			p.keyCols = append(p.keyCols, directColumn(c, g))
			p.keyTexts = append(p.keyTexts, sqlparser.CanonicalString(g))
		}
	}
	sc := rowScope
	if p.grouped {
		sc = groupScope
	}
	if q.Window.Kind == Sliding {
		sc = slideScope
	}
	for i, se := range sel.SelectExprs.Exprs {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			if p.grouped {
				return nil, fmt.Errorf("SELECT * cannot be used with GROUP BY or a window")
			}
			for j, col := range schema.Columns {
				c.use(j)
				prog, err := c.compileText("c"+strconv.Itoa(j), col.Name)
				if err != nil {
					return nil, err
				}
				p.names = append(p.names, col.Name)
				p.outs = append(p.outs, prog)
			}
		case *sqlparser.AliasedExpr:
			prog, err := c.program(e.Expr, sc)
			if err != nil {
				return nil, fmt.Errorf("SELECT: %w", err)
			}
			name := e.As.String()
			if name == "" {
				if col, ok := e.Expr.(*sqlparser.ColName); ok {
					name = col.Name.String()
				} else {
					name = "EXPR$" + strconv.Itoa(i)
				}
			}
			p.names = append(p.names, name)
			p.outs = append(p.outs, prog)
		default:
			return nil, fmt.Errorf("SELECT: %s is not supported", sqlparser.String(se))
		}
	}
	if sel.Having != nil {
		if p.having, err = c.program(sel.Having.Expr, groupScope); err != nil {
			return nil, fmt.Errorf("HAVING: %w", err)
		}
	}
	if err := c.compileOrder(sel); err != nil {
		return nil, err
	}
	if len(q.Columns) > 0 {
		if len(q.Columns) != len(p.names) {
			return nil, fmt.Errorf("stream %s has %d columns and the query selects %d", q.Dest, len(q.Columns), len(p.names))
		}
		p.names = append([]string(nil), q.Columns...)
	}
	return p, nil
}

func isWindowColumn(e sqlparser.Expr) bool {
	col, ok := e.(*sqlparser.ColName)
	if !ok {
		return false
	}
	switch strings.ToLower(col.Name.String()) {
	case "window_start", "window_end", "window_time":
		return true
	}
	return false
}

func containsAggregate(e sqlparser.Expr) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch x := n.(type) {
		case *sqlparser.CountStar, *sqlparser.Count, *sqlparser.Sum, *sqlparser.Avg, *sqlparser.Min, *sqlparser.Max:
			found = true
		case *sqlparser.FuncExpr:
			if strings.EqualFold(x.Name.String(), "approx_count_distinct") {
				found = true
			}
		}
		return !found, nil
	}, e)
	return found
}

// column finds a schema column: by its exact name, else ignoring case
// (unquoted identifiers).
func (c *compiler) column(name string) (int, bool) {
	for i, col := range c.p.schema.Columns {
		if col.Name == name {
			return i, true
		}
	}
	for i, col := range c.p.schema.Columns {
		if strings.EqualFold(col.Name, name) {
			return i, true
		}
	}
	return 0, false
}

func (c *compiler) program(e sqlparser.Expr, sc scope) (*program, error) {
	src, err := c.translate(e, sc)
	if err != nil {
		return nil, err
	}
	return c.compileText(src, sqlparser.String(e))
}

func (c *compiler) compileText(src, sqlText string) (*program, error) {
	prog, err := compileExpr(src, exprFuncs())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", sqlText, err)
	}
	return prog, nil
}

// constant stores a literal in the environment and names it.
func (c *compiler) constant(v any) string {
	name := "k" + strconv.Itoa(c.consts)
	c.consts++
	c.p.env[name] = v
	return name
}

// translate writes a SQL expression in the expression language of
// eval.go.
func (c *compiler) translate(e sqlparser.Expr, sc scope) (string, error) {
	if sc == groupScope {
		text := sqlparser.CanonicalString(e)
		for i, k := range c.p.keyTexts {
			if k == text {
				return "g" + strconv.Itoa(i), nil
			}
		}
	}
	tr := func(x sqlparser.Expr) (string, error) { return c.translate(x, sc) }
	bin := func(fn, op string, l, r sqlparser.Expr) (string, error) {
		a, err := tr(l)
		if err != nil {
			return "", err
		}
		b, err := tr(r)
		if err != nil {
			return "", err
		}
		if op == "" {
			return fmt.Sprintf("%s(%s, %s)", fn, a, b), nil
		}
		return fmt.Sprintf("%s(%q, %s, %s)", fn, op, a, b), nil
	}
	switch x := e.(type) {
	case *sqlparser.Literal:
		switch x.Type {
		case sqlparser.StrVal:
			return c.constant(x.Val), nil
		case sqlparser.IntVal:
			i, err := strconv.ParseInt(x.Val, 10, 64)
			if err != nil {
				return "", fmt.Errorf("integer %s is out of range", x.Val)
			}
			return c.constant(i), nil
		case sqlparser.FloatVal, sqlparser.DecimalVal:
			f, err := strconv.ParseFloat(x.Val, 64)
			if err != nil {
				return "", fmt.Errorf("number %s does not parse", x.Val)
			}
			return c.constant(f), nil
		}
		return "", fmt.Errorf("literal %s is not supported", sqlparser.String(x))
	case *sqlparser.NullVal:
		return "nil", nil
	case sqlparser.BoolVal:
		return strconv.FormatBool(bool(x)), nil
	case *sqlparser.ColName:
		return c.columnRef(x, sc)
	case *sqlparser.AndExpr:
		return bin("sqlAnd", "", x.Left, x.Right)
	case *sqlparser.OrExpr:
		return bin("sqlOr", "", x.Left, x.Right)
	case *sqlparser.NotExpr:
		a, err := tr(x.Expr)
		return "sqlNot(" + a + ")", err
	case *sqlparser.ComparisonExpr:
		return c.comparison(x, sc)
	case *sqlparser.BetweenExpr:
		v, err := tr(x.Left)
		if err != nil {
			return "", err
		}
		lo, err := tr(x.From)
		if err != nil {
			return "", err
		}
		hi, err := tr(x.To)
		if err != nil {
			return "", err
		}
		s := fmt.Sprintf(`sqlAnd(sqlCmp(">=", %s, %s), sqlCmp("<=", %s, %s))`, v, lo, v, hi)
		if !x.IsBetween {
			s = "sqlNot(" + s + ")"
		}
		return s, nil
	case *sqlparser.IsExpr:
		v, err := tr(x.Left)
		if err != nil {
			return "", err
		}
		switch x.Right {
		case sqlparser.IsNullOp:
			return "sqlIsNull(" + v + ")", nil
		case sqlparser.IsNotNullOp:
			return "!sqlIsNull(" + v + ")", nil
		case sqlparser.IsTrueOp:
			return "(" + v + " == true)", nil
		case sqlparser.IsNotTrueOp:
			return "(" + v + " != true)", nil
		case sqlparser.IsFalseOp:
			return "(" + v + " == false)", nil
		case sqlparser.IsNotFalseOp:
			return "(" + v + " != false)", nil
		}
	case *sqlparser.BinaryExpr:
		op := map[sqlparser.BinaryExprOperator]string{
			sqlparser.PlusOp: "+", sqlparser.MinusOp: "-", sqlparser.MultOp: "*",
			sqlparser.DivOp: "/", sqlparser.ModOp: "%", sqlparser.IntDivOp: "DIV",
		}[x.Operator]
		if op == "" {
			return "", fmt.Errorf("operator in %s is not supported", sqlparser.String(x))
		}
		return bin("sqlArith", op, x.Left, x.Right)
	case *sqlparser.UnaryExpr:
		v, err := tr(x.Expr)
		if err != nil {
			return "", err
		}
		switch x.Operator {
		case sqlparser.UMinusOp:
			return "sqlNeg(" + v + ")", nil
		case sqlparser.UPlusOp:
			return v, nil
		case sqlparser.BangOp:
			return "sqlNot(" + v + ")", nil
		}
	case *sqlparser.CaseExpr:
		var els = "nil"
		if x.Else != nil {
			var err error
			if els, err = tr(x.Else); err != nil {
				return "", err
			}
		}
		for i := len(x.Whens) - 1; i >= 0; i-- {
			w := x.Whens[i]
			var cond string
			var err error
			if x.Expr != nil {
				cond, err = bin("sqlCmp", "=", x.Expr, w.Cond)
			} else {
				cond, err = tr(w.Cond)
			}
			if err != nil {
				return "", err
			}
			val, err := tr(w.Val)
			if err != nil {
				return "", err
			}
			els = fmt.Sprintf("(sqlTrue(%s) ? %s : %s)", cond, val, els)
		}
		return els, nil
	case *sqlparser.CastExpr:
		return c.cast(x.Expr, x.Type, sc)
	case *sqlparser.ConvertExpr:
		return c.cast(x.Expr, x.Type, sc)
	case *sqlparser.SubstrExpr:
		args := []sqlparser.Expr{x.Name, x.From}
		if x.To != nil {
			args = append(args, x.To)
		}
		return c.call("substring", args, sc)
	case *sqlparser.TrimFuncExpr:
		fn := map[sqlparser.TrimFuncType]string{sqlparser.NormalTrimType: "trim", sqlparser.LTrimType: "ltrim", sqlparser.RTrimType: "rtrim"}[x.TrimFuncType]
		if fn == "" || x.TrimArg != nil {
			return "", fmt.Errorf("%s is not supported (TRIM, LTRIM and RTRIM of spaces are)", sqlparser.String(x))
		}
		return c.call(fn, []sqlparser.Expr{x.StringArg}, sc)
	case *sqlparser.FuncExpr:
		name := strings.ToLower(x.Name.String())
		if name == "interval_ms" {
			return "", fmt.Errorf("an INTERVAL is only read in a join's time bound (a.t BETWEEN b.t - INTERVAL '1' MINUTE AND b.t) and in window definitions")
		}
		if name == "approx_count_distinct" {
			s, err := c.aggregate(aggCount, true, x.Exprs, sc, x)
			if err == nil {
				c.p.aggs[len(c.p.aggs)-1].approx = true
			}
			return s, err
		}
		return c.call(name, x.Exprs, sc)
	case *sqlparser.CountStar:
		return c.aggregate(aggCount, false, nil, sc, x)
	case *sqlparser.Count:
		return c.aggregate(aggCount, x.Distinct, x.Args, sc, x)
	case *sqlparser.Sum:
		return c.aggregate(aggSum, x.Distinct, []sqlparser.Expr{x.Arg}, sc, x)
	case *sqlparser.Avg:
		return c.aggregate(aggAvg, x.Distinct, []sqlparser.Expr{x.Arg}, sc, x)
	case *sqlparser.Min:
		return c.aggregate(aggMin, x.Distinct, []sqlparser.Expr{x.Arg}, sc, x)
	case *sqlparser.Max:
		return c.aggregate(aggMax, x.Distinct, []sqlparser.Expr{x.Arg}, sc, x)
	}
	return "", fmt.Errorf("%s is not supported", sqlparser.String(e))
}

func (c *compiler) cast(e sqlparser.Expr, t *sqlparser.ConvertType, sc scope) (string, error) {
	v, err := c.translate(e, sc)
	if err != nil {
		return "", err
	}
	name := t.Type
	if t.Length != nil {
		name += "(" + strconv.Itoa(*t.Length) + ")"
	}
	if !knownSQLType(name) {
		return "", fmt.Errorf("CAST to %s is not supported", t.Type)
	}
	return fmt.Sprintf("sqlCast(%s, %q)", v, name), nil
}

func (c *compiler) call(name string, args []sqlparser.Expr, sc scope) (string, error) {
	f, ok := scalarFunctions[name]
	if !ok {
		return "", fmt.Errorf("function %s is not supported", strings.ToUpper(name))
	}
	if len(args) < f.min || (f.max >= 0 && len(args) > f.max) {
		return "", fmt.Errorf("function %s takes %d to %d arguments, not %d", strings.ToUpper(name), f.min, f.max, len(args))
	}
	parts := make([]string, len(args))
	for i, a := range args {
		s, err := c.translate(a, sc)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	return "fn_" + name + "(" + strings.Join(parts, ", ") + ")", nil
}

func (c *compiler) comparison(x *sqlparser.ComparisonExpr, sc scope) (string, error) {
	if x.Modifier != sqlparser.Missing {
		return "", fmt.Errorf("ANY and ALL are not supported")
	}
	l, err := c.translate(x.Left, sc)
	if err != nil {
		return "", err
	}
	switch x.Operator {
	case sqlparser.InOp, sqlparser.NotInOp:
		tuple, ok := x.Right.(sqlparser.ValTuple)
		if !ok {
			return "", fmt.Errorf("IN takes a list of values (subqueries are not supported)")
		}
		parts := make([]string, len(tuple))
		for i, v := range tuple {
			if parts[i], err = c.translate(v, sc); err != nil {
				return "", err
			}
		}
		s := fmt.Sprintf("sqlIn(%s, [%s])", l, strings.Join(parts, ", "))
		if x.Operator == sqlparser.NotInOp {
			s = "sqlNot(" + s + ")"
		}
		return s, nil
	}
	r, err := c.translate(x.Right, sc)
	if err != nil {
		return "", err
	}
	switch x.Operator {
	case sqlparser.LikeOp:
		return fmt.Sprintf("sqlLike(%s, %s)", l, r), nil
	case sqlparser.NotLikeOp:
		return fmt.Sprintf("sqlNot(sqlLike(%s, %s))", l, r), nil
	case sqlparser.RegexpOp:
		return fmt.Sprintf("sqlRegexp(%s, %s)", l, r), nil
	case sqlparser.NotRegexpOp:
		return fmt.Sprintf("sqlNot(sqlRegexp(%s, %s))", l, r), nil
	case sqlparser.NullSafeEqualOp:
		return fmt.Sprintf("((%s == nil && %s == nil) || sqlTrue(sqlCmp(\"=\", %s, %s)))", l, r, l, r), nil
	}
	op := map[sqlparser.ComparisonExprOperator]string{
		sqlparser.EqualOp: "=", sqlparser.NotEqualOp: "<>", sqlparser.LessThanOp: "<",
		sqlparser.LessEqualOp: "<=", sqlparser.GreaterThanOp: ">", sqlparser.GreaterEqualOp: ">=",
	}[x.Operator]
	if op == "" {
		return "", fmt.Errorf("comparison %s is not supported", sqlparser.String(x))
	}
	return fmt.Sprintf("sqlCmp(%q, %s, %s)", op, l, r), nil
}

func (c *compiler) columnRef(x *sqlparser.ColName, sc scope) (string, error) {
	name := x.Name.String()
	switch strings.ToLower(name) {
	case "rowtime":
		if sc == groupScope {
			return "we", nil // a window's result carries the window's end as its ROWTIME
		}
		if j := c.p.join; j != nil && j.streams {
			// a.ROWTIME is a joined side's own; a joined row's ROWTIME is
			// the later of the two.
			if s := c.qualifierSide(x); s < 2 {
				return "rt" + strconv.Itoa(s), nil
			}
		}
		return "rowtime", nil
	case "window_start", "window_end", "window_time":
		if sc != groupScope {
			return "", fmt.Errorf("%s is only known in a windowed query", name)
		}
		switch strings.ToLower(name) {
		case "window_start":
			return "ws", nil
		case "window_end":
			return "we", nil
		}
		// Flink: window_time is window_end minus one millisecond.
		return `sqlArith("-", we, 1)`, nil
	}
	i, ok := c.resolve(x)
	if !ok {
		if c.p.join != nil && c.p.join.streams {
			return "", fmt.Errorf("column %s is not a column of either joined stream", sqlparser.String(x))
		}
		if c.p.join != nil {
			return "", fmt.Errorf("column %s is not in the input schema or the reference table", sqlparser.String(x))
		}
		return "", fmt.Errorf("column %s is not in the input schema", name)
	}
	if sc == groupScope {
		for k, text := range c.p.keyTexts {
			if col, err := sqlparser.NewTestParser().ParseExpr(text); err == nil {
				if cn, ok := col.(*sqlparser.ColName); ok {
					if j, ok := c.resolve(cn); ok && j == i {
						return "g" + strconv.Itoa(k), nil
					}
				}
			}
		}
		return "", fmt.Errorf("column %s must appear in GROUP BY or inside an aggregate function", name)
	}
	c.use(i)
	return "c" + strconv.Itoa(i), nil
}

func (c *compiler) use(i int) {
	for _, u := range c.p.used {
		if u == i {
			return
		}
	}
	c.p.used = append(c.p.used, i)
}

// directColumn is the column an expression is, alone, or -1.
func directColumn(c *compiler, e sqlparser.Expr) int {
	col, ok := e.(*sqlparser.ColName)
	if !ok {
		return -1
	}
	switch strings.ToLower(col.Name.String()) {
	case "rowtime", "window_start", "window_end", "window_time":
		return -1
	}
	i, ok := c.resolve(col)
	if !ok {
		return -1
	}
	return i
}

func (c *compiler) aggregate(kind aggKind, distinct bool, args []sqlparser.Expr, sc scope, node sqlparser.Expr) (string, error) {
	if sc != groupScope && sc != slideScope {
		return "", fmt.Errorf("aggregate %s is not allowed here", sqlparser.String(node))
	}
	spec := aggSpec{kind: kind, distinct: distinct}
	if len(args) > 1 {
		return "", fmt.Errorf("%s takes one argument", sqlparser.String(node))
	}
	if len(args) == 1 {
		if containsAggregate(args[0]) {
			return "", fmt.Errorf("aggregates cannot be nested: %s", sqlparser.String(node))
		}
		prog, err := c.program(args[0], rowScope)
		if err != nil {
			return "", err
		}
		spec.arg = prog
		spec.argCol = directColumn(c, args[0])
	} else {
		spec.argCol = -1
	}
	name := "a" + strconv.Itoa(len(c.p.aggs))
	c.p.aggs = append(c.p.aggs, spec)
	c.p.env[name] = nil
	return name, nil
}

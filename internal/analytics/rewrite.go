package analytics

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The rewrite layer: streaming SQL (KDA-SQL and Flink's window table
// functions) holds forms no stock parser reads. rewrite recognises them on
// tokens, records what they ask for (the window, the destination, the
// declared columns) and leaves an ordinary SELECT for the parser.

// WindowKind is the kind of window a query groups by.
type WindowKind string

// Window kinds.
const (
	NoWindow WindowKind = ""
	Tumbling WindowKind = "TUMBLE"
	Hopping  WindowKind = "HOP"
	Session  WindowKind = "SESSION"
	Cumulate WindowKind = "CUMULATE"
	// Stagger is KDA's WINDOWED BY STAGGER: a window per key that opens
	// with the key's first row and lasts Size.
	Stagger WindowKind = "STAGGER"
	// Sliding is KDA's OVER (PARTITION BY k RANGE INTERVAL ... PRECEDING)
	// or (... ROWS n PRECEDING): a row out for every row in, its
	// aggregates over the partition's rows in the range (Size) or the
	// last Rows rows.
	Sliding WindowKind = "SLIDING"
)

// Window is the window a query groups by.
type Window struct {
	Kind WindowKind
	// Size is the window's length (TUMBLE, HOP, STAGGER, CUMULATE's
	// largest), Slide HOP's slide or CUMULATE's step, Gap SESSION's gap.
	Size, Slide, Gap time.Duration
	// Rows is a ROWS sliding window's length, the current row included.
	Rows int
	// TimeColumn is the column that holds the event time; "" is ROWTIME
	// (when the record arrived in the stream).
	TimeColumn string
}

// Query is one continuous query: a SELECT over a source stream, with its
// window and destination.
type Query struct {
	// Dest is the in-application stream (KDA) or table (Flink) the query
	// inserts into; "" for a bare SELECT.
	Dest string
	// Columns are the destination's declared column names, if any.
	Columns []string
	Window  Window
	// SQL is the ordinary SELECT the parser reads.
	SQL string
	// Capacity, when not 0, bounds the groups of each window: a
	// Space-Saving summary of COUNT(*) per item (TOP_K_ITEMS_TUMBLING).
	Capacity int
	// RowNumber is set for a window Top-N written with ROW_NUMBER().
	RowNumber *RowNumber
	// JoinRange is KDA's window on a joined stream (JOIN s OVER (RANGE
	// INTERVAL 'n' UNIT PRECEDING)): the joined stream's rows whose
	// ROWTIME is at most JoinRange before the row's.
	JoinRange time.Duration
}

// Program is what an application's SQL code declares.
type Program struct {
	// Streams are the in-application streams CREATE STREAM declared, with
	// their column names.
	Streams map[string][]string
	// StreamTypes are their columns' declared SQL types.
	StreamTypes map[string][]string
	Queries     []*Query
}

type tokKind int

const (
	tIdent  tokKind = iota // a bare word
	tQuoted                // a quoted identifier ("x" or `x`); text is the name
	tString                // a string literal; text is its value
	tNumber
	tPunct
)

type token struct {
	kind tokKind
	text string
}

func (t token) is(word string) bool { return t.kind == tIdent && strings.EqualFold(t.text, word) }
func (t token) punct(p string) bool { return t.kind == tPunct && t.text == p }

// name is the identifier a token names, or "".
func (t token) name() string {
	if t.kind == tIdent || t.kind == tQuoted {
		return t.text
	}
	return ""
}

// lex splits SQL into tokens. Double-quoted text is an identifier, as in
// standard SQL (KDA and Flink), not a string as in MySQL.
func lex(src string) ([]token, error) {
	var toks []token
	r := []rune(src)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(r) && r[i+1] == '-':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			end := strings.Index(string(r[i+2:]), "*/")
			if end < 0 {
				return nil, fmt.Errorf("a comment is not closed")
			}
			i += 2 + len([]rune(string(r[i+2:])[:end])) + 2
		case c == '\'' || c == '"' || c == '`':
			var b strings.Builder
			j := i + 1
			for ; j < len(r); j++ {
				if r[j] == c {
					if j+1 < len(r) && r[j+1] == c {
						b.WriteRune(c)
						j++
						continue
					}
					break
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, fmt.Errorf("a quoted %c...%c is not closed", c, c)
			}
			k := tQuoted
			if c == '\'' {
				k = tString
			}
			toks = append(toks, token{k, b.String()})
			i = j + 1
		case unicode.IsLetter(c) || c == '_' || c == '$':
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_' || r[j] == '$') {
				j++
			}
			toks = append(toks, token{tIdent, string(r[i:j])})
			i = j
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(r) && unicode.IsDigit(r[i+1])):
			j := i
			for j < len(r) && (unicode.IsDigit(r[j]) || r[j] == '.' || r[j] == 'e' || r[j] == 'E' ||
				((r[j] == '-' || r[j] == '+') && (r[j-1] == 'e' || r[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{tNumber, string(r[i:j])})
			i = j
		default:
			two := ""
			if i+1 < len(r) {
				two = string(r[i : i+2])
			}
			switch two {
			case "<=", ">=", "<>", "!=", "||", "=>":
				toks = append(toks, token{tPunct, two})
				i += 2
				continue
			}
			toks = append(toks, token{tPunct, string(c)})
			i++
		}
	}
	return toks, nil
}

// render writes tokens back as SQL for the parser: quoted identifiers in
// backquotes, strings in single quotes.
func render(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && !t.punct(".") && !toks[i-1].punct(".") && !t.punct(",") && !t.punct(")") && !toks[i-1].punct("(") {
			b.WriteByte(' ')
		}
		switch t.kind {
		case tQuoted:
			b.WriteString("`" + strings.ReplaceAll(t.text, "`", "``") + "`")
		case tString:
			b.WriteString("'" + strings.ReplaceAll(strings.ReplaceAll(t.text, `\`, `\\`), "'", "''") + "'")
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// splitStatements splits at semicolons.
func splitStatements(toks []token) [][]token {
	var out [][]token
	start := 0
	for i, t := range toks {
		if t.punct(";") {
			if i > start {
				out = append(out, toks[start:i])
			}
			start = i + 1
		}
	}
	if start < len(toks) {
		out = append(out, toks[start:])
	}
	return out
}

// closing returns the index of the parenthesis that closes the one at open.
func closing(toks []token, open int) int {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch {
		case toks[i].punct("("):
			depth++
		case toks[i].punct(")"):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitArgs splits tokens at the commas outside parentheses.
func splitArgs(toks []token) [][]token {
	var out [][]token
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case t.punct(",") && depth == 0:
			out = append(out, toks[start:i])
			start = i + 1
		}
	}
	return append(out, toks[start:])
}

// ParseProgram reads an application's SQL code: KDA-SQL statements
// (CREATE OR REPLACE STREAM, CREATE OR REPLACE PUMP ... AS INSERT INTO ...
// SELECT STREAM ...), Flink SQL (INSERT INTO ... SELECT ... FROM
// TABLE(TUMBLE(...))) or a bare SELECT.
func ParseProgram(src string) (*Program, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &Program{Streams: map[string][]string{}, StreamTypes: map[string][]string{}}
	for _, st := range splitStatements(toks) {
		i := 0
		if st[0].is("CREATE") {
			i = 1
			if i+1 < len(st) && st[i].is("OR") && st[i+1].is("REPLACE") {
				i += 2
			}
			switch {
			case i+1 < len(st) && st[i].is("STREAM"):
				name := st[i+1].name()
				if name == "" || i+2 >= len(st) || !st[i+2].punct("(") {
					return nil, fmt.Errorf("CREATE STREAM wants a name and a column list: %s", render(st))
				}
				end := closing(st, i+2)
				if end < 0 {
					return nil, fmt.Errorf("the column list of stream %s is not closed", name)
				}
				var cols, types []string
				for _, def := range splitArgs(st[i+3 : end]) {
					if len(def) == 0 || def[0].name() == "" {
						return nil, fmt.Errorf("stream %s has a column without a name", name)
					}
					cols = append(cols, def[0].name())
					types = append(types, render(def[1:]))
				}
				p.Streams[name], p.StreamTypes[name] = cols, types
				continue
			case i+3 < len(st) && st[i].is("PUMP") && st[i+2].is("AS"):
				i += 3
			default:
				return nil, fmt.Errorf("only CREATE STREAM and CREATE PUMP are supported: %s", render(st))
			}
		}
		q := &Query{}
		if i+2 < len(st) && st[i].is("INSERT") && st[i+1].is("INTO") {
			q.Dest = st[i+2].name()
			if q.Dest == "" {
				return nil, fmt.Errorf("INSERT INTO wants a stream name: %s", render(st))
			}
			i += 3
			if i < len(st) && st[i].punct("(") {
				end := closing(st, i)
				if end < 0 {
					return nil, fmt.Errorf("the column list of INSERT INTO %s is not closed", q.Dest)
				}
				for _, c := range splitArgs(st[i+1 : end]) {
					if len(c) != 1 || c[0].name() == "" {
						return nil, fmt.Errorf("the column list of INSERT INTO %s holds something other than names", q.Dest)
					}
					q.Columns = append(q.Columns, c[0].name())
				}
				i = end + 1
			}
		}
		if i >= len(st) || !st[i].is("SELECT") {
			return nil, fmt.Errorf("a statement must be CREATE STREAM, CREATE PUMP, INSERT INTO ... SELECT or SELECT: %s", render(st))
		}
		if err := rewriteSelect(q, st[i:]); err != nil {
			return nil, err
		}
		p.Queries = append(p.Queries, q)
	}
	if len(p.Queries) == 0 {
		return nil, fmt.Errorf("the SQL code has no query (SELECT, INSERT INTO or CREATE PUMP)")
	}
	for _, q := range p.Queries {
		if q.Columns == nil && q.Dest != "" {
			q.Columns = p.Streams[q.Dest]
		}
	}
	return p, nil
}

// rewriteSelect turns a streaming SELECT into an ordinary one and fills
// q.Window and q.SQL.
func rewriteSelect(q *Query, toks []token) error {
	toks = append([]token(nil), toks...)
	if len(toks) > 1 && toks[1].is("STREAM") {
		toks = append(toks[:1], toks[2:]...)
	}
	toks, err := rewriteRowNumber(q, toks)
	if err != nil {
		return err
	}
	toks, items, err := rewriteItemsTVF(q, toks)
	if err != nil {
		return err
	}
	if items {
		q.SQL = render(toks)
		return nil
	}
	if toks, err = rewriteJoinWindow(q, toks); err != nil {
		return err
	}
	if toks, err = rewriteSliding(q, toks); err != nil {
		return err
	}
	if toks, err = rewriteTVF(q, toks); err != nil {
		return err
	}
	if toks, err = rewriteStagger(q, toks); err != nil {
		return err
	}
	if toks, err = rewriteGroupWindow(q, toks); err != nil {
		return err
	}
	if toks, err = rewriteTimeFuncs(q, toks); err != nil {
		return err
	}
	if toks, err = rewriteIntervals(toks); err != nil {
		return err
	}
	q.SQL = render(toks)
	return nil
}

// rewriteJoinWindow takes KDA's window on a joined stream out of JOIN s
// OVER (RANGE INTERVAL 'n' UNIT PRECEDING) [AS] a, as q.JoinRange.
func rewriteJoinWindow(q *Query, toks []token) ([]token, error) {
	for i := 0; i+3 < len(toks); i++ {
		if !toks[i].is("JOIN") || toks[i+1].name() == "" || !toks[i+2].is("OVER") {
			continue
		}
		if !toks[i+3].punct("(") {
			return nil, fmt.Errorf("a window on a joined stream is JOIN %s OVER (RANGE INTERVAL 'n' UNIT PRECEDING)", toks[i+1].name())
		}
		end := closing(toks, i+3)
		if end < 0 {
			return nil, fmt.Errorf("JOIN %s OVER ( is not closed", toks[i+1].name())
		}
		body := toks[i+4 : end]
		if len(body) < 5 || !body[0].is("RANGE") || !body[len(body)-1].is("PRECEDING") {
			return nil, fmt.Errorf("a window on a joined stream is JOIN %s OVER (RANGE INTERVAL 'n' UNIT PRECEDING), found OVER (%s)", toks[i+1].name(), render(body))
		}
		size, err := interval(body[1 : len(body)-1])
		if err != nil {
			return nil, fmt.Errorf("JOIN %s OVER: %w", toks[i+1].name(), err)
		}
		if q.JoinRange != 0 {
			return nil, fmt.Errorf("a query joins two streams at most")
		}
		q.JoinRange = max(size, time.Millisecond)
		toks = append(toks[:i+2], toks[end+1:]...)
	}
	return toks, nil
}

// rewriteIntervals writes the INTERVAL 'n' UNIT literals left (a join's
// time bounds) as interval_ms(n), its length in milliseconds.
func rewriteIntervals(toks []token) ([]token, error) {
	for i := 0; i < len(toks); i++ {
		if !toks[i].is("INTERVAL") {
			continue
		}
		if i+2 >= len(toks) {
			return nil, fmt.Errorf("expected INTERVAL 'n' UNIT, found %s", render(toks[i:]))
		}
		d, err := interval(toks[i : i+3])
		if err != nil {
			return nil, err
		}
		repl := []token{{tIdent, "interval_ms"}, {tPunct, "("}, {tNumber, strconv.FormatInt(d.Milliseconds(), 10)}, {tPunct, ")"}}
		toks = append(toks[:i], append(repl, toks[i+3:]...)...)
		i += len(repl) - 1
	}
	return toks, nil
}

// interval reads INTERVAL '60' SECOND (or 60, SECONDS, MINUTES ...).
func interval(toks []token) (time.Duration, error) {
	if len(toks) < 3 || !toks[0].is("INTERVAL") || (toks[1].kind != tString && toks[1].kind != tNumber) || toks[2].kind != tIdent {
		return 0, fmt.Errorf("expected INTERVAL 'n' UNIT, found %s", render(toks))
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(toks[1].text), 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("the interval %s is not a positive number", render(toks[:2]))
	}
	unit, err := timeUnit(toks[2].text)
	if err != nil {
		return 0, err
	}
	if len(toks) > 3 && !(toks[3].punct("(") && len(toks) == 6) {
		return 0, fmt.Errorf("unexpected %s after %s", render(toks[3:]), render(toks[:3]))
	}
	return time.Duration(n * float64(unit)), nil
}

func timeUnit(u string) (time.Duration, error) {
	switch strings.TrimSuffix(strings.ToUpper(u), "S") {
	case "MILLISECOND":
		return time.Millisecond, nil
	case "SECOND":
		return time.Second, nil
	case "MINUTE":
		return time.Minute, nil
	case "HOUR":
		return time.Hour, nil
	case "DAY":
		return 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("time unit %s is not MILLISECOND, SECOND, MINUTE, HOUR or DAY", u)
}

// timeColumn reads the time reference of STEP, FLOOR or DESCRIPTOR:
// ROWTIME (or PROCTIME, APPROXIMATE_ARRIVAL_TIME) for arrival time, or a
// column, qualified or not.
func timeColumn(toks []token) (string, error) {
	if len(toks) == 0 || toks[len(toks)-1].name() == "" {
		return "", fmt.Errorf("expected a time column, found %s", render(toks))
	}
	for i, t := range toks {
		if (i%2 == 1) != t.punct(".") {
			return "", fmt.Errorf("expected a time column, found %s", render(toks))
		}
	}
	name := toks[len(toks)-1].name()
	switch strings.ToUpper(name) {
	case "ROWTIME", "PROCTIME", "APPROXIMATE_ARRIVAL_TIME":
		return "", nil
	}
	return name, nil
}

// rewriteTVF replaces FROM TABLE(TUMBLE|HOP|SESSION|CUMULATE(TABLE t,
// DESCRIPTOR(ts), ...)) with FROM t.
func rewriteTVF(q *Query, toks []token) ([]token, error) {
	for i := 0; i+3 < len(toks); i++ {
		if !(toks[i].is("TABLE") && toks[i+1].punct("(") && toks[i+3].punct("(")) {
			continue
		}
		fn := strings.ToUpper(toks[i+2].text)
		kind := WindowKind(fn)
		switch kind {
		case Tumbling, Hopping, Session, Cumulate:
		default:
			return nil, fmt.Errorf("window function %s is not TUMBLE, HOP, SESSION or CUMULATE", toks[i+2].text)
		}
		outer := closing(toks, i+1)
		inner := closing(toks, i+3)
		if outer < 0 || inner < 0 || inner != outer-1 {
			return nil, fmt.Errorf("%s(...) is not closed", fn)
		}
		args := splitArgs(toks[i+4 : inner])
		if len(args) < 3 {
			return nil, fmt.Errorf("%s wants TABLE t, DESCRIPTOR(time column) and its intervals", fn)
		}
		src := args[0]
		if len(src) < 2 || !src[0].is("TABLE") || src[1].name() == "" {
			return nil, fmt.Errorf("%s's first argument must be TABLE name, found %s", fn, render(src))
		}
		if len(src) > 2 && !(kind == Session && src[2].is("PARTITION") && len(src) > 4 && src[3].is("BY")) {
			return nil, fmt.Errorf("unexpected %s in %s's first argument", render(src[2:]), fn)
		}
		d := args[1]
		if len(d) < 4 || !d[0].is("DESCRIPTOR") || !d[1].punct("(") || !d[len(d)-1].punct(")") {
			return nil, fmt.Errorf("%s's second argument must be DESCRIPTOR(time column), found %s", fn, render(d))
		}
		col, err := timeColumn(d[2 : len(d)-1])
		if err != nil {
			return nil, err
		}
		w := Window{Kind: kind, TimeColumn: col}
		var ivs []time.Duration
		for _, a := range args[2:] {
			iv, err := interval(a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			ivs = append(ivs, iv)
		}
		want := map[WindowKind]int{Tumbling: 1, Hopping: 2, Session: 1, Cumulate: 2}[kind]
		if len(ivs) != want {
			return nil, fmt.Errorf("%s takes %d interval(s), found %d", fn, want, len(ivs))
		}
		switch kind {
		case Tumbling:
			w.Size = ivs[0]
		case Hopping:
			w.Slide, w.Size = ivs[0], ivs[1]
		case Session:
			w.Gap = ivs[0]
		case Cumulate:
			w.Slide, w.Size = ivs[0], ivs[1]
		}
		if (kind == Hopping || kind == Cumulate) && (w.Size%w.Slide != 0 || w.Slide > w.Size) {
			return nil, fmt.Errorf("%s's size (%v) must be a whole multiple of its step (%v)", fn, w.Size, w.Slide)
		}
		if q.Window.Kind != NoWindow {
			return nil, fmt.Errorf("a query may have one window")
		}
		q.Window = w
		rest := append([]token{src[1]}, toks[outer+1:]...)
		toks = append(toks[:i], rest...)
	}
	return toks, nil
}

// rewriteStagger replaces WINDOWED BY STAGGER (PARTITION BY keys RANGE
// INTERVAL ...) with GROUP BY keys.
func rewriteStagger(q *Query, toks []token) ([]token, error) {
	for i := 0; i+3 < len(toks); i++ {
		if !(toks[i].is("WINDOWED") && toks[i+1].is("BY") && toks[i+2].is("STAGGER") && toks[i+3].punct("(")) {
			continue
		}
		end := closing(toks, i+3)
		if end < 0 {
			return nil, fmt.Errorf("WINDOWED BY STAGGER ( is not closed")
		}
		body := toks[i+4 : end]
		r := -1
		for j := range body {
			if body[j].is("RANGE") {
				r = j
			}
		}
		if len(body) < 3 || !body[0].is("PARTITION") || !body[1].is("BY") || r < 3 {
			return nil, fmt.Errorf("WINDOWED BY STAGGER wants (PARTITION BY keys RANGE INTERVAL 'n' UNIT)")
		}
		size, err := interval(body[r+1:])
		if err != nil {
			return nil, fmt.Errorf("STAGGER: %w", err)
		}
		if q.Window.Kind != NoWindow {
			return nil, fmt.Errorf("a query may have one window")
		}
		q.Window = Window{Kind: Stagger, Size: size}
		repl := append([]token{{tIdent, "GROUP"}, {tIdent, "BY"}}, body[2:r]...)
		toks = append(toks[:i], append(repl, toks[end+1:]...)...)
	}
	return toks, nil
}

// timeWindowCall reads STEP(ts BY INTERVAL ...) or FLOOR(ts TO UNIT)
// starting at i; n is its length in tokens (0: not one).
func timeWindowCall(toks []token, i int) (w Window, n int, err error) {
	if i+1 >= len(toks) || !toks[i+1].punct("(") || !(toks[i].is("STEP") || toks[i].is("FLOOR")) {
		return w, 0, nil
	}
	end := closing(toks, i+1)
	if end < 0 {
		return w, 0, fmt.Errorf("%s( is not closed", toks[i].text)
	}
	body := toks[i+2 : end]
	sep := "BY"
	if toks[i].is("FLOOR") {
		sep = "TO"
	}
	at := -1
	for j, t := range body {
		if t.is(sep) {
			at = j
			break
		}
	}
	if at < 0 {
		if sep == "TO" {
			return w, 0, nil // FLOOR(x): the numeric function
		}
		return w, 0, fmt.Errorf("STEP wants (time BY INTERVAL 'n' UNIT)")
	}
	col, err := timeColumn(body[:at])
	if err != nil {
		return w, 0, err
	}
	w = Window{Kind: Tumbling, TimeColumn: col}
	if sep == "BY" {
		w.Size, err = interval(body[at+1:])
	} else {
		if len(body) != at+2 {
			return w, 0, fmt.Errorf("FLOOR wants (time TO UNIT)")
		}
		w.Size, err = timeUnit(body[at+1].text)
	}
	if err != nil {
		return w, 0, err
	}
	return w, end - i + 1, nil
}

// rewriteGroupWindow takes STEP(...) and FLOOR(... TO ...) out of GROUP BY
// as the query's tumbling window.
func rewriteGroupWindow(q *Query, toks []token) ([]token, error) {
	g := -1
	depth := 0
	for i, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case depth == 0 && t.is("GROUP") && i+1 < len(toks) && toks[i+1].is("BY"):
			g = i
		}
	}
	if g < 0 {
		return toks, nil
	}
	end := len(toks)
	depth = 0
	for i := g + 2; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case depth == 0 && (t.is("HAVING") || t.is("ORDER") || t.is("LIMIT") || t.is("WINDOW")):
			end = i
		}
		if end != len(toks) {
			break
		}
	}
	var kept [][]token
	for _, item := range splitArgs(toks[g+2 : end]) {
		w, n, err := timeWindowCall(item, 0)
		if err != nil {
			return nil, err
		}
		if n == 0 || n != len(item) {
			kept = append(kept, item)
			continue
		}
		if q.Window.Kind != NoWindow && q.Window != w {
			return nil, fmt.Errorf("a query may have one window")
		}
		q.Window = w
	}
	out := append([]token(nil), toks[:g]...)
	if len(kept) > 0 {
		out = append(out, token{tIdent, "GROUP"}, token{tIdent, "BY"})
		for i, k := range kept {
			if i > 0 {
				out = append(out, token{tPunct, ","})
			}
			out = append(out, k...)
		}
	}
	return append(out, toks[end:]...), nil
}

// rewriteTimeFuncs turns STEP(...) and FLOOR(... TO ...) outside GROUP BY
// into the window's start (when they name the query's window) or the
// scalar floor_to(ts, 'UNIT').
func rewriteTimeFuncs(q *Query, toks []token) ([]token, error) {
	for i := 0; i < len(toks); i++ {
		w, n, err := timeWindowCall(toks, i)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		var repl []token
		if q.Window.Kind == Tumbling && w == q.Window {
			repl = []token{{tIdent, "window_start"}}
		} else if toks[i].is("FLOOR") || toks[i].is("STEP") {
			body := toks[i+2 : i+n-1]
			sep := 0
			for j, t := range body {
				if t.is("BY") || t.is("TO") {
					sep = j
					break
				}
			}
			repl = append([]token{{tIdent, "floor_to"}, {tPunct, "("}}, body[:sep]...)
			repl = append(repl, token{tPunct, ","}, token{tNumber, strconv.FormatInt(w.Size.Milliseconds(), 10)}, token{tPunct, ")"})
		}
		toks = append(toks[:i], append(repl, toks[i+n:]...)...)
	}
	return toks, nil
}

package analytics

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The expression language translate writes and program runs: SQL's
// operators are calls to the functions of functions.go, so the language
// itself needs little more than calls, names and literals:
//
//	expr    = or [ "?" expr ":" expr ]
//	or      = and { "||" and }
//	and     = eq { "&&" eq }
//	eq      = unary [ ("==" | "!=") unary ]
//	unary   = "!" unary | primary
//	primary = name | name "(" [ list ] ")" | "[" [ list ] "]"
//	        | string | integer | "(" expr ")"
//	list    = expr { "," expr }
//
// A name is a variable of the environment (a missing one is nil) or one
// of nil, true and false; a string is Go-quoted. "!", "&&", "||" and the
// condition of "?" take booleans only, as the calls that produce their
// operands return. Compiling turns the text into a tree of closures, so
// a row costs the calls and no parsing.

// program is a compiled expression.
type program struct {
	eval evalFn
}

type evalFn func(env map[string]any) (any, error)

// run evaluates prog over env. A panic in a function (a value of a type
// it did not expect) is the row's error, not the server's.
func run(prog *program, env map[string]any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return prog.eval(env)
}

// compileExpr compiles src, calling the functions in funcs.
func compileExpr(src string, funcs map[string]func(...any) (any, error)) (*program, error) {
	p := &exprParser{src: src, funcs: funcs}
	p.next()
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.tok != etEOF {
		return nil, p.errorf("unexpected %s", p.describe())
	}
	return &program{eval: e}, nil
}

type exprTok int

const (
	etEOF exprTok = iota
	etName
	etString
	etInt
	etPunct
	etBad
)

type exprParser struct {
	src   string
	pos   int // where the next token starts
	at    int // where the current token starts
	tok   exprTok
	text  string
	funcs map[string]func(...any) (any, error)
	depth int
}

func (p *exprParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s (at offset %d)", fmt.Sprintf(format, args...), p.at)
}

func (p *exprParser) describe() string {
	switch p.tok {
	case etEOF:
		return "end of expression"
	case etBad:
		return fmt.Sprintf("character %q", p.text)
	}
	return strconv.Quote(p.text)
}

func (p *exprParser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
	p.at = p.pos
	if p.pos >= len(p.src) {
		p.tok, p.text = etEOF, ""
		return
	}
	c := p.src[p.pos]
	switch {
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		end := p.pos + 1
		for end < len(p.src) && (p.src[end] == '_' || isAlnum(p.src[end])) {
			end++
		}
		p.tok, p.text, p.pos = etName, p.src[p.pos:end], end
	case c >= '0' && c <= '9':
		end := p.pos + 1
		for end < len(p.src) && p.src[end] >= '0' && p.src[end] <= '9' {
			end++
		}
		p.tok, p.text, p.pos = etInt, p.src[p.pos:end], end
	case c == '"':
		q, err := strconv.QuotedPrefix(p.src[p.pos:])
		if err != nil {
			p.tok, p.text = etBad, p.src[p.pos:p.pos+1]
			return
		}
		p.tok, p.text = etString, q
		p.pos += len(q)
	default:
		if p.pos+1 < len(p.src) {
			switch two := p.src[p.pos : p.pos+2]; two {
			case "==", "!=", "&&", "||":
				p.tok, p.text = etPunct, two
				p.pos += 2
				return
			}
		}
		if strings.IndexByte("()[],?:!", c) >= 0 {
			p.tok, p.text = etPunct, p.src[p.pos:p.pos+1]
			p.pos++
			return
		}
		p.tok, p.text = etBad, p.src[p.pos:p.pos+1]
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (p *exprParser) punct(s string) bool { return p.tok == etPunct && p.text == s }

func (p *exprParser) expect(s string) error {
	if !p.punct(s) {
		return p.errorf("expected %q, found %s", s, p.describe())
	}
	p.next()
	return nil
}

// maxExprDepth bounds nesting, so hostile SQL cannot exhaust the stack.
const maxExprDepth = 1000

func (p *exprParser) expr() (evalFn, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, p.errorf("expression nested too deeply")
	}
	cond, err := p.or()
	if err != nil || !p.punct("?") {
		return cond, err
	}
	p.next()
	yes, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	no, err := p.expr()
	if err != nil {
		return nil, err
	}
	return func(env map[string]any) (any, error) {
		c, err := boolOperand(cond, env, "?")
		if err != nil {
			return nil, err
		}
		if c {
			return yes(env)
		}
		return no(env)
	}, nil
}

func (p *exprParser) or() (evalFn, error) {
	l, err := p.and()
	for err == nil && p.punct("||") {
		p.next()
		var r evalFn
		if r, err = p.and(); err == nil {
			l = logical(l, r, true)
		}
	}
	return l, err
}

func (p *exprParser) and() (evalFn, error) {
	l, err := p.eq()
	for err == nil && p.punct("&&") {
		p.next()
		var r evalFn
		if r, err = p.eq(); err == nil {
			l = logical(l, r, false)
		}
	}
	return l, err
}

// logical is l || r (or) or l && r, evaluating r only if l does not
// decide.
func logical(l, r evalFn, or bool) evalFn {
	op := "&&"
	if or {
		op = "||"
	}
	return func(env map[string]any) (any, error) {
		a, err := boolOperand(l, env, op)
		if err != nil {
			return nil, err
		}
		if a == or {
			return a, nil
		}
		return boolOperand(r, env, op)
	}
}

func boolOperand(e evalFn, env map[string]any, op string) (bool, error) {
	v, err := e(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("invalid operation: %s takes a boolean, not %T", op, v)
	}
	return b, nil
}

func (p *exprParser) eq() (evalFn, error) {
	l, err := p.unary()
	if err != nil || !(p.punct("==") || p.punct("!=")) {
		return l, err
	}
	negate := p.text == "!="
	p.next()
	r, err := p.unary()
	if err != nil {
		return nil, err
	}
	return func(env map[string]any) (any, error) {
		a, err := l(env)
		if err != nil {
			return nil, err
		}
		b, err := r(env)
		if err != nil {
			return nil, err
		}
		return equal(a, b) != negate, nil
	}, nil
}

func (p *exprParser) unary() (evalFn, error) {
	if !p.punct("!") {
		return p.primary()
	}
	p.next()
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, p.errorf("expression nested too deeply")
	}
	e, err := p.unary()
	if err != nil {
		return nil, err
	}
	return func(env map[string]any) (any, error) {
		b, err := boolOperand(e, env, "!")
		return !b, err
	}, nil
}

func (p *exprParser) primary() (evalFn, error) {
	switch p.tok {
	case etString:
		s, err := strconv.Unquote(p.text)
		if err != nil {
			return nil, p.errorf("string %s does not parse", p.text)
		}
		p.next()
		return constFn(s), nil
	case etInt:
		i, err := strconv.Atoi(p.text)
		if err != nil {
			return nil, p.errorf("integer %s is out of range", p.text)
		}
		p.next()
		return constFn(i), nil
	case etName:
		name := p.text
		p.next()
		if p.punct("(") {
			return p.call(name)
		}
		switch name {
		case "nil":
			return constFn(nil), nil
		case "true":
			return constFn(true), nil
		case "false":
			return constFn(false), nil
		}
		return func(env map[string]any) (any, error) { return env[name], nil }, nil
	case etPunct:
		switch p.text {
		case "(":
			p.next()
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		case "[":
			p.next()
			items, err := p.list("]")
			if err != nil {
				return nil, err
			}
			return func(env map[string]any) (any, error) { return evalAll(items, env) }, nil
		}
	}
	return nil, p.errorf("unexpected %s", p.describe())
}

func (p *exprParser) call(name string) (evalFn, error) {
	fn, ok := p.funcs[name]
	if !ok {
		return nil, p.errorf("unknown function %s", name)
	}
	p.next() // "("
	args, err := p.list(")")
	if err != nil {
		return nil, err
	}
	return func(env map[string]any) (any, error) {
		vals, err := evalAll(args, env)
		if err != nil {
			return nil, err
		}
		return fn(vals...)
	}, nil
}

// list reads expressions separated by commas up to and including end.
func (p *exprParser) list(end string) ([]evalFn, error) {
	var items []evalFn
	for !p.punct(end) {
		if len(items) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	p.next()
	return items, nil
}

func evalAll(items []evalFn, env map[string]any) ([]any, error) {
	vals := make([]any, len(items))
	for i, e := range items {
		v, err := e(env)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

func constFn(v any) evalFn { return func(map[string]any) (any, error) { return v, nil } }

// equal is the language's ==: nil equals only nil, numbers compare by
// value whatever their Go type, timestamps by instant, and other values
// of one comparable type with Go's ==.
func equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if x, ok := integer(a); ok {
		if y, ok := integer(b); ok {
			return x == y
		}
	}
	if x, ok := numeric(a); ok {
		y, ok := numeric(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return false
}

func numeric(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

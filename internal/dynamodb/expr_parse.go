package dynamodb

import (
	"sort"
	"strconv"
	"strings"
)

// pathElem is one step of a document path: an attribute or map key, or a
// list index.
type pathElem struct {
	name    string
	index   int
	isIndex bool
}

type docPath []pathElem

func (p docPath) String() string {
	var parts []string
	for _, e := range p {
		if e.isIndex {
			parts = append(parts, "["+strconv.Itoa(e.index)+"]")
		} else {
			parts = append(parts, e.name)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// exprContext resolves placeholders for every expression of one request
// and remembers which were used.
type exprContext struct {
	names      map[string]string
	values     map[string]av
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newExprContext(names map[string]string, values map[string]av) *exprContext {
	return &exprContext{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

// checkUnused reports placeholders the request defined but no expression
// used, as DynamoDB does once every expression is parsed.
func (c *exprContext) checkUnused() error {
	var names, values []string
	for k := range c.names {
		if !c.usedNames[k] {
			names = append(names, k)
		}
	}
	for k := range c.values {
		if !c.usedValues[k] {
			values = append(values, k)
		}
	}
	sort.Strings(names)
	sort.Strings(values)
	if len(names) > 0 {
		return validationError("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(names, ", "))
	}
	if len(values) > 0 {
		return validationError("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(values, ", "))
	}
	return nil
}

type parser struct {
	kind string // e.g. "ConditionExpression"
	src  string
	toks []token
	pos  int
	ctx  *exprContext
	// nesting limits recursion on hostile input.
	depth int
}

const maxExprDepth = 200

func newParser(kind, src string, ctx *exprContext) (*parser, error) {
	if strings.TrimSpace(src) == "" {
		return nil, validationError("Invalid %s: The expression can not be empty;", kind)
	}
	if len(src) > 4096 {
		return nil, validationError("Invalid %s: Expression size has exceeded the maximum allowed size; expression size: %d", kind, len(src))
	}
	toks, err := lex(kind, src)
	if err != nil {
		return nil, err
	}
	return &parser{kind: kind, src: src, toks: toks, ctx: ctx}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) syntaxError() error {
	return syntaxErrorAt(p.kind, p.src, p.toks[:p.pos], p.toks[p.pos])
}

func (p *parser) syntaxErrorFull() error {
	bad := p.toks[p.pos]
	err := syntaxErrorAt(p.kind, p.src, p.toks, bad)
	return err
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tokPunct && t.text == s
}

func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tokName && strings.EqualFold(t.text, kw)
}

func (p *parser) expectPunct(s string) error {
	if !p.isPunct(s) {
		return p.syntaxErrorFull()
	}
	p.next()
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return validationError("Invalid %s: The expression has too many nested levels", p.kind)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// keywords that cannot stand for attribute names.
var exprKeywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "BETWEEN": true, "IN": true,
	"SET": true, "REMOVE": true, "ADD": true, "DELETE": true,
}

// parsePath reads a document path: name or #name, then .name, .#name or
// [n] steps.
func (p *parser) parsePath() (docPath, error) {
	var path docPath
	first, err := p.pathName()
	if err != nil {
		return nil, err
	}
	path = append(path, pathElem{name: first})
	for {
		switch {
		case p.isPunct("."):
			p.next()
			n, err := p.pathName()
			if err != nil {
				return nil, err
			}
			path = append(path, pathElem{name: n})
		case p.isPunct("["):
			p.next()
			t := p.peek()
			if t.kind != tokNumber {
				return nil, p.syntaxErrorFull()
			}
			p.next()
			idx, err := strconv.Atoi(t.text)
			if err != nil || idx > 1<<24 {
				return nil, validationError("Invalid %s: List index is not within the allowable range; index: %s", p.kind, t.text)
			}
			if err := p.expectPunct("]"); err != nil {
				return nil, err
			}
			path = append(path, pathElem{index: idx, isIndex: true})
		default:
			if len(path) > 32 {
				return nil, validationError("Invalid %s: The document path has too many nesting levels; nesting levels: %d", p.kind, len(path))
			}
			return path, nil
		}
	}
}

func (p *parser) pathName() (string, error) {
	t := p.peek()
	switch t.kind {
	case tokName:
		if exprKeywords[strings.ToUpper(t.text)] {
			return "", p.syntaxErrorFull()
		}
		if reservedWords[strings.ToUpper(t.text)] {
			return "", validationError("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", p.kind, t.text)
		}
		p.next()
		return t.text, nil
	case tokNamePH:
		p.next()
		name, ok := p.ctx.names[t.text]
		if !ok {
			return "", validationError("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", p.kind, t.text)
		}
		p.ctx.usedNames[t.text] = true
		return name, nil
	}
	return "", p.syntaxErrorFull()
}

func (p *parser) valuePH() (valueOperand, error) {
	t := p.next()
	v, ok := p.ctx.values[t.text]
	if !ok {
		return valueOperand{}, validationError("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", p.kind, t.text)
	}
	p.ctx.usedValues[t.text] = true
	return valueOperand{v: v, ph: t.text}, nil
}

// ---- conditions ----

func parseCondition(kind, src string, ctx *exprContext) (cond, error) {
	p, err := newParser(kind, src, ctx)
	if err != nil {
		return nil, err
	}
	c, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tokEOF {
		return nil, p.syntaxErrorFull()
	}
	return c, nil
}

func (p *parser) orExpr() (cond, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	left, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("OR") {
		p.next()
		right, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		left = orCond{left, right}
	}
	return left, nil
}

func (p *parser) andExpr() (cond, error) {
	left, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("AND") {
		p.next()
		right, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		left = andCond{left, right}
	}
	return left, nil
}

func (p *parser) notExpr() (cond, error) {
	if p.isKeyword("NOT") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		c, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	return p.primary()
}

var conditionFuncs = map[string]bool{
	"attribute_exists": true, "attribute_not_exists": true, "attribute_type": true,
	"begins_with": true, "contains": true,
}

func (p *parser) primary() (cond, error) {
	if p.isPunct("(") {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return c, nil
	}
	t := p.peek()
	if t.kind == tokName && p.toks[p.pos+1].kind == tokPunct && p.toks[p.pos+1].text == "(" {
		if conditionFuncs[t.text] {
			return p.condFunction()
		}
		if t.text != "size" {
			if isUpdateFunc(t.text) {
				return nil, validationError("Invalid %s: The function is not allowed to be used this way in an expression; function: %s", p.kind, t.text)
			}
			return nil, validationError("Invalid %s: Invalid function name; function: %s", p.kind, t.text)
		}
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.peek().kind == tokPunct && isComparator(p.peek().text):
		op := p.next().text
		right, err := p.operand()
		if err != nil {
			return nil, err
		}
		return cmpCond{op: op, a: left, b: right}, nil
	case p.isKeyword("BETWEEN"):
		p.next()
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.isKeyword("AND") {
			return nil, p.syntaxErrorFull()
		}
		p.next()
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		if lv, ok := lo.(valueOperand); ok {
			if hv, ok := hi.(valueOperand); ok {
				if c, ok := compareValues(&lv.v, &hv.v); ok && c > 0 {
					return nil, validationError("Invalid %s: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s}, upper bound operand: AttributeValue: {%s}", p.kind, describeValue(&lv.v), describeValue(&hv.v))
				}
			}
		}
		return betweenCond{v: left, lo: lo, hi: hi}, nil
	case p.isKeyword("IN"):
		p.next()
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		var list []operand
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			list = append(list, o)
			if p.isPunct(",") {
				p.next()
				continue
			}
			break
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		if len(list) > 100 {
			return nil, validationError("Invalid %s: The IN operator is provided with too many operands; number of operands: %d", p.kind, len(list))
		}
		return inCond{v: left, list: list}, nil
	}
	return nil, p.syntaxErrorFull()
}

func isComparator(s string) bool {
	switch s {
	case "=", "<>", "<", "<=", ">", ">=":
		return true
	}
	return false
}

func isUpdateFunc(s string) bool { return s == "if_not_exists" || s == "list_append" }

func describeValue(v *av) string {
	t := typeOf(v)
	switch t {
	case typeS:
		return "S:" + *v.S
	case typeN:
		return "N:" + *v.N
	}
	return t
}

func (p *parser) condFunction() (cond, error) {
	name := p.next().text
	p.next() // (
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	fc := funcCond{name: name, path: path}
	switch name {
	case "attribute_exists", "attribute_not_exists":
	default:
		if err := p.expectPunct(","); err != nil {
			return nil, err
		}
		arg, err := p.operand()
		if err != nil {
			return nil, err
		}
		fc.arg = arg
		if v, ok := arg.(valueOperand); ok {
			if err := p.checkFuncArg(name, &v.v); err != nil {
				return nil, err
			}
		}
	}
	if err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	return fc, nil
}

var validTypeNames = map[string]bool{"S": true, "SS": true, "N": true, "NS": true, "B": true, "BS": true, "BOOL": true, "NULL": true, "L": true, "M": true}

func (p *parser) checkFuncArg(name string, v *av) error {
	t := typeOf(v)
	switch name {
	case "attribute_type":
		if t != typeS {
			return validationError("Invalid %s: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: %s", p.kind, operandTypeName(t))
		}
		if !validTypeNames[*v.S] {
			return validationError("Invalid %s: Invalid attribute type name found; type: %s, valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }", p.kind, *v.S)
		}
	case "begins_with":
		if t != typeS && t != typeB {
			return validationError("Invalid %s: Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", p.kind, operandTypeName(t))
		}
	}
	return nil
}

// operand reads a path, a value placeholder or size(path).
func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch t.kind {
	case tokValuePH:
		return p.valuePH()
	case tokName, tokNamePH:
		if t.kind == tokName && p.toks[p.pos+1].kind == tokPunct && p.toks[p.pos+1].text == "(" {
			switch {
			case t.text == "size":
				p.next()
				p.next()
				path, err := p.parsePath()
				if err != nil {
					return nil, err
				}
				if err := p.expectPunct(")"); err != nil {
					return nil, err
				}
				return sizeOperand{path: path}, nil
			case conditionFuncs[t.text] || isUpdateFunc(t.text):
				return nil, validationError("Invalid %s: The function is not allowed to be used this way in an expression; function: %s", p.kind, t.text)
			default:
				return nil, validationError("Invalid %s: Invalid function name; function: %s", p.kind, t.text)
			}
		}
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		return pathOperand{path: path}, nil
	}
	return nil, p.syntaxErrorFull()
}

// ---- update expressions ----

type setAction struct {
	path  docPath
	value operand // pathOperand, valueOperand, arith, ifNotExists, listAppend
}

type addAction struct {
	path  docPath
	value av
}

type update struct {
	set    []setAction
	remove []docPath
	add    []addAction
	del    []addAction
}

func parseUpdate(src string, ctx *exprContext) (*update, error) {
	const kind = "UpdateExpression"
	p, err := newParser(kind, src, ctx)
	if err != nil {
		return nil, err
	}
	u := &update{}
	seen := map[string]bool{}
	for p.peek().kind != tokEOF {
		t := p.peek()
		if t.kind != tokName {
			return nil, p.syntaxErrorFull()
		}
		clause := strings.ToUpper(t.text)
		switch clause {
		case "SET", "REMOVE", "ADD", "DELETE":
		default:
			return nil, p.syntaxErrorFull()
		}
		if seen[clause] {
			return nil, validationError("Invalid UpdateExpression: The %q section can only be used once in an update expression;", clause)
		}
		seen[clause] = true
		p.next()
		for {
			if err := p.updateAction(clause, u); err != nil {
				return nil, err
			}
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	if err := u.checkOverlap(); err != nil {
		return nil, err
	}
	return u, nil
}

func (p *parser) updateAction(clause string, u *update) error {
	path, err := p.parsePath()
	if err != nil {
		return err
	}
	switch clause {
	case "SET":
		if err := p.expectPunct("="); err != nil {
			return err
		}
		v, err := p.setValue()
		if err != nil {
			return err
		}
		u.set = append(u.set, setAction{path: path, value: v})
	case "REMOVE":
		u.remove = append(u.remove, path)
	case "ADD", "DELETE":
		if p.peek().kind != tokValuePH {
			return p.syntaxErrorFull()
		}
		v, err := p.valuePH()
		if err != nil {
			return err
		}
		t := typeOf(&v.v)
		ok := t == typeSS || t == typeNS || t == typeBS || clause == "ADD" && t == typeN
		if !ok {
			return validationError("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: %s, operand type: %s, typeSet: ALLOWED_FOR_%s_OPERAND", clause, operandTypeName(t), clause)
		}
		if clause == "ADD" {
			u.add = append(u.add, addAction{path: path, value: v.v})
		} else {
			u.del = append(u.del, addAction{path: path, value: v.v})
		}
	}
	return nil
}

func (p *parser) setValue() (operand, error) {
	a, err := p.setOperand()
	if err != nil {
		return nil, err
	}
	if p.isPunct("+") || p.isPunct("-") {
		op := p.next().text
		b, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		for _, o := range []operand{a, b} {
			if v, ok := o.(valueOperand); ok && typeOf(&v.v) != typeN {
				return nil, validationError("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: %s, operand type: %s", op, operandTypeName(typeOf(&v.v)))
			}
		}
		return arith{op: op[0], a: a, b: b}, nil
	}
	return a, nil
}

func (p *parser) setOperand() (operand, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	if t.kind == tokName && p.toks[p.pos+1].kind == tokPunct && p.toks[p.pos+1].text == "(" {
		switch t.text {
		case "if_not_exists":
			p.next()
			p.next()
			path, err := p.parsePath()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(","); err != nil {
				return nil, err
			}
			def, err := p.setOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return ifNotExists{path: path, def: def}, nil
		case "list_append":
			p.next()
			p.next()
			a, err := p.setOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(","); err != nil {
				return nil, err
			}
			b, err := p.setOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			for _, o := range []operand{a, b} {
				if v, ok := o.(valueOperand); ok && typeOf(&v.v) != typeL {
					return nil, validationError("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: %s", operandTypeName(typeOf(&v.v)))
				}
			}
			return listAppend{a: a, b: b}, nil
		case "size":
			return nil, validationError("Invalid UpdateExpression: The function is not allowed in an update expression; function: size")
		default:
			if conditionFuncs[t.text] {
				return nil, validationError("Invalid UpdateExpression: The function is not allowed in an update expression; function: %s", t.text)
			}
			return nil, validationError("Invalid UpdateExpression: Invalid function name; function: %s", t.text)
		}
	}
	switch t.kind {
	case tokValuePH:
		return p.valuePH()
	case tokName, tokNamePH:
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		return pathOperand{path: path}, nil
	}
	return nil, p.syntaxErrorFull()
}

// targets lists every path the update writes, in clause order.
func (u *update) targets() []docPath {
	var out []docPath
	for _, a := range u.set {
		out = append(out, a.path)
	}
	out = append(out, u.remove...)
	for _, a := range u.add {
		out = append(out, a.path)
	}
	for _, a := range u.del {
		out = append(out, a.path)
	}
	return out
}

func (u *update) checkOverlap() error {
	ts := u.targets()
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if overlaps(ts[i], ts[j]) {
				return validationError("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", ts[i], ts[j])
			}
		}
	}
	return nil
}

func overlaps(a, b docPath) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---- projections and key conditions ----

func parseProjection(src string, ctx *exprContext) ([]docPath, error) {
	p, err := newParser("ProjectionExpression", src, ctx)
	if err != nil {
		return nil, err
	}
	var paths []docPath
	for {
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		paths = append(paths, path)
		if p.isPunct(",") {
			p.next()
			continue
		}
		if p.peek().kind != tokEOF {
			return nil, p.syntaxErrorFull()
		}
		for i := range paths {
			for j := i + 1; j < len(paths); j++ {
				if overlaps(paths[i], paths[j]) {
					return nil, validationError("Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", paths[i], paths[j])
				}
			}
		}
		return paths, nil
	}
}

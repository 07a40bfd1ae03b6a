package dynamodb

import (
	"bytes"
	"strconv"
	"strings"
)

// operand is a value in an expression.
type operand interface {
	// eval returns the operand's value in it, or ok=false when it refers
	// to an attribute the item does not have.
	eval(it item) (v av, ok bool, err error)
}

type pathOperand struct{ path docPath }
type valueOperand struct {
	v  av
	ph string
}
type sizeOperand struct{ path docPath }
type ifNotExists struct {
	path docPath
	def  operand
}
type listAppend struct{ a, b operand }
type arith struct {
	op   byte
	a, b operand
}

func (o pathOperand) eval(it item) (av, bool, error) {
	v, ok := resolve(it, o.path)
	return v, ok, nil
}

func (o valueOperand) eval(item) (av, bool, error) { return o.v, true, nil }

func (o sizeOperand) eval(it item) (av, bool, error) {
	v, ok := resolve(it, o.path)
	if !ok {
		return av{}, false, nil
	}
	n, ok := valueSize(&v)
	if !ok {
		return av{}, false, nil
	}
	return av{N: strPtr(strconv.Itoa(n))}, true, nil
}

func (o ifNotExists) eval(it item) (av, bool, error) {
	if v, ok := resolve(it, o.path); ok {
		return v, true, nil
	}
	return o.def.eval(it)
}

var (
	errMissingOperand = validationError("The provided expression refers to an attribute that does not exist in the item")
	errOperandType    = validationError("An operand in the update expression has an incorrect data type")
)

func (o listAppend) eval(it item) (av, bool, error) {
	a, aok, err := o.a.eval(it)
	if err != nil {
		return av{}, false, err
	}
	b, bok, err := o.b.eval(it)
	if err != nil {
		return av{}, false, err
	}
	if !aok || !bok {
		return av{}, false, errMissingOperand
	}
	if typeOf(&a) != typeL || typeOf(&b) != typeL {
		return av{}, false, errOperandType
	}
	l := make([]av, 0, len(a.L)+len(b.L))
	l = append(l, a.L...)
	l = append(l, b.L...)
	return av{L: l}, true, nil
}

func (o arith) eval(it item) (av, bool, error) {
	a, aok, err := o.a.eval(it)
	if err != nil {
		return av{}, false, err
	}
	b, bok, err := o.b.eval(it)
	if err != nil {
		return av{}, false, err
	}
	if !aok || !bok {
		return av{}, false, errMissingOperand
	}
	if typeOf(&a) != typeN || typeOf(&b) != typeN {
		return av{}, false, errOperandType
	}
	x, y := mustNumber(&a), mustNumber(&b)
	var r number
	if o.op == '+' {
		r, err = x.add(y)
	} else {
		r, err = x.sub(y)
	}
	if err != nil {
		return av{}, false, numberError(err)
	}
	return av{N: strPtr(r.String())}, true, nil
}

// resolve follows a document path into an item.
func resolve(it item, path docPath) (av, bool) {
	if len(path) == 0 || path[0].isIndex {
		return av{}, false
	}
	v, ok := it[path[0].name]
	if !ok {
		return av{}, false
	}
	for _, e := range path[1:] {
		switch {
		case e.isIndex:
			if v.L == nil || e.index >= len(v.L) {
				return av{}, false
			}
			v = v.L[e.index]
		default:
			if v.M == nil {
				return av{}, false
			}
			v, ok = v.M[e.name]
			if !ok {
				return av{}, false
			}
		}
	}
	return v, true
}

// ---- conditions ----

type cond interface {
	holds(it item) (bool, error)
}

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ c cond }
type cmpCond struct {
	op   string
	a, b operand
}
type betweenCond struct{ v, lo, hi operand }
type inCond struct {
	v    operand
	list []operand
}
type funcCond struct {
	name string
	path docPath
	arg  operand
}

// constCond is a condition with a fixed result (legacy conditions on
// nothing).
type constCond bool

func (c constCond) holds(item) (bool, error) { return bool(c), nil }

func (c andCond) holds(it item) (bool, error) {
	a, err := c.a.holds(it)
	if err != nil || !a {
		return false, err
	}
	return c.b.holds(it)
}

func (c orCond) holds(it item) (bool, error) {
	a, err := c.a.holds(it)
	if err != nil || a {
		return a, err
	}
	return c.b.holds(it)
}

func (c notCond) holds(it item) (bool, error) {
	v, err := c.c.holds(it)
	return !v, err
}

func (c cmpCond) holds(it item) (bool, error) {
	a, aok, err := c.a.eval(it)
	if err != nil {
		return false, err
	}
	b, bok, err := c.b.eval(it)
	if err != nil {
		return false, err
	}
	if !aok || !bok {
		// A missing attribute equals nothing and differs from everything.
		return c.op == "<>", nil
	}
	switch c.op {
	case "=":
		return equalValues(&a, &b), nil
	case "<>":
		return !equalValues(&a, &b), nil
	}
	r, ok := compareValues(&a, &b)
	if !ok {
		return false, nil
	}
	switch c.op {
	case "<":
		return r < 0, nil
	case "<=":
		return r <= 0, nil
	case ">":
		return r > 0, nil
	case ">=":
		return r >= 0, nil
	}
	return false, nil
}

func (c betweenCond) holds(it item) (bool, error) {
	v, vok, err := c.v.eval(it)
	if err != nil {
		return false, err
	}
	lo, lok, err := c.lo.eval(it)
	if err != nil {
		return false, err
	}
	hi, hok, err := c.hi.eval(it)
	if err != nil {
		return false, err
	}
	if !vok || !lok || !hok {
		return false, nil
	}
	a, ok1 := compareValues(&v, &lo)
	b, ok2 := compareValues(&v, &hi)
	return ok1 && ok2 && a >= 0 && b <= 0, nil
}

func (c inCond) holds(it item) (bool, error) {
	v, ok, err := c.v.eval(it)
	if err != nil || !ok {
		return false, err
	}
	for _, o := range c.list {
		w, ok, err := o.eval(it)
		if err != nil {
			return false, err
		}
		if ok && equalValues(&v, &w) {
			return true, nil
		}
	}
	return false, nil
}

func (c funcCond) holds(it item) (bool, error) {
	v, exists := resolve(it, c.path)
	switch c.name {
	case "attribute_exists":
		return exists, nil
	case "attribute_not_exists":
		return !exists, nil
	}
	if !exists {
		return false, nil
	}
	arg, ok, err := c.arg.eval(it)
	if err != nil || !ok {
		return false, err
	}
	switch c.name {
	case "attribute_type":
		return typeOf(&arg) == typeS && typeOf(&v) == *arg.S, nil
	case "begins_with":
		switch {
		case typeOf(&v) == typeS && typeOf(&arg) == typeS:
			return strings.HasPrefix(*v.S, *arg.S), nil
		case typeOf(&v) == typeB && typeOf(&arg) == typeB:
			return bytes.HasPrefix(v.B, arg.B), nil
		}
		return false, nil
	case "contains":
		return containsValue(&v, &arg), nil
	}
	return false, nil
}

// containsValue is contains(): a substring of a string or binary, or an
// element of a set or list.
func containsValue(v, arg *av) bool {
	switch typeOf(v) {
	case typeS:
		return typeOf(arg) == typeS && strings.Contains(*v.S, *arg.S)
	case typeB:
		return typeOf(arg) == typeB && bytes.Contains(v.B, arg.B)
	case typeSS:
		if typeOf(arg) != typeS {
			return false
		}
		for _, s := range v.SS {
			if s == *arg.S {
				return true
			}
		}
	case typeNS:
		if typeOf(arg) != typeN {
			return false
		}
		for _, s := range v.NS {
			if equalValues(&av{N: &s}, arg) {
				return true
			}
		}
	case typeBS:
		if typeOf(arg) != typeB {
			return false
		}
		for _, b := range v.BS {
			if bytes.Equal(b, arg.B) {
				return true
			}
		}
	case typeL:
		for i := range v.L {
			if equalValues(&v.L[i], arg) {
				return true
			}
		}
	}
	return false
}

// ---- updates ----

var errInvalidPath = validationError("The document path provided in the update expression is invalid for update")

// apply runs an update expression against a copy of the item (nil for a
// missing item) and returns the new item. Every SET value is computed from
// the item as it was before the update, as DynamoDB does.
func (u *update) apply(old item) (item, error) {
	it := cloneItem(old)
	if it == nil {
		it = item{}
	}
	type pending struct {
		path docPath
		v    av
	}
	var sets []pending
	for _, a := range u.set {
		v, ok, err := a.value.eval(old)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errMissingOperand
		}
		sets = append(sets, pending{a.path, cloneValue(v)})
	}
	for _, s := range sets {
		if err := setPath(it, s.path, s.v); err != nil {
			return nil, err
		}
	}
	// Removals of list elements run from the highest index down, so that
	// earlier removals do not shift later ones.
	removes := append([]docPath(nil), u.remove...)
	sortRemovals(removes)
	for _, p := range removes {
		removePath(it, p)
	}
	for _, a := range u.add {
		cur, exists := resolve(it, a.path)
		var nv av
		switch {
		case !exists:
			nv = cloneValue(a.value)
		default:
			var err error
			nv, err = addValues(&cur, &a.value)
			if err != nil {
				return nil, err
			}
		}
		if err := setPath(it, a.path, nv); err != nil {
			return nil, err
		}
	}
	for _, a := range u.del {
		cur, exists := resolve(it, a.path)
		if !exists {
			continue
		}
		nv, empty, err := deleteFromSet(&cur, &a.value)
		if err != nil {
			return nil, err
		}
		if empty {
			removePath(it, a.path)
			continue
		}
		if err := setPath(it, a.path, nv); err != nil {
			return nil, err
		}
	}
	return it, nil
}

// addValues is ADD on an existing value: numeric addition or set union.
func addValues(cur, v *av) (av, error) {
	tc, tv := typeOf(cur), typeOf(v)
	if tc != tv {
		return av{}, errOperandType
	}
	switch tc {
	case typeN:
		r, err := mustNumber(cur).add(mustNumber(v))
		if err != nil {
			return av{}, numberError(err)
		}
		return av{N: strPtr(r.String())}, nil
	case typeSS:
		return av{SS: unionStrings(cur.SS, v.SS, nil)}, nil
	case typeNS:
		return av{NS: unionStrings(cur.NS, v.NS, canonNumber)}, nil
	case typeBS:
		return av{BS: stringsToBytes(unionStrings(bytesToStrings(cur.BS), bytesToStrings(v.BS), nil))}, nil
	}
	return av{}, errOperandType
}

func canonNumber(s string) string {
	if n, err := parseNumber(s); err == nil {
		return n.String()
	}
	return s
}

func unionStrings(a, b []string, canon func(string) string) []string {
	if canon == nil {
		canon = func(s string) string { return s }
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		c := canon(s)
		if !seen[c] {
			seen[c] = true
			out = append(out, s)
		}
	}
	return out
}

func stringsToBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// deleteFromSet is DELETE: set difference; empty reports that nothing is
// left (the attribute is then removed).
func deleteFromSet(cur, v *av) (av, bool, error) {
	tc, tv := typeOf(cur), typeOf(v)
	if tc != tv {
		return av{}, false, errOperandType
	}
	minus := func(a, b []string, canon func(string) string) []string {
		drop := map[string]bool{}
		for _, s := range b {
			drop[canon(s)] = true
		}
		var out []string
		for _, s := range a {
			if !drop[canon(s)] {
				out = append(out, s)
			}
		}
		return out
	}
	id := func(s string) string { return s }
	var out av
	switch tc {
	case typeSS:
		out = av{SS: minus(cur.SS, v.SS, id)}
		return out, len(out.SS) == 0, nil
	case typeNS:
		out = av{NS: minus(cur.NS, v.NS, canonNumber)}
		return out, len(out.NS) == 0, nil
	case typeBS:
		bs := stringsToBytes(minus(bytesToStrings(cur.BS), bytesToStrings(v.BS), id))
		return av{BS: bs}, len(bs) == 0, nil
	}
	return av{}, false, errOperandType
}

// setPath writes v at path; the parent of the last step must exist. An
// index past the end of a list appends.
func setPath(it item, path docPath, v av) error {
	if len(path) == 1 {
		it[path[0].name] = v
		return nil
	}
	root, ok := it[path[0].name]
	if !ok {
		return errInvalidPath
	}
	nv, err := setIn(root, path[1:], v)
	if err != nil {
		return err
	}
	it[path[0].name] = nv
	return nil
}

func setIn(cur av, path docPath, v av) (av, error) {
	e := path[0]
	if e.isIndex {
		if cur.L == nil {
			return av{}, errInvalidPath
		}
		l := append([]av(nil), cur.L...)
		if len(path) == 1 {
			if e.index >= len(l) {
				l = append(l, v)
			} else {
				l[e.index] = v
			}
			return av{L: l}, nil
		}
		if e.index >= len(l) {
			return av{}, errInvalidPath
		}
		nv, err := setIn(l[e.index], path[1:], v)
		if err != nil {
			return av{}, err
		}
		l[e.index] = nv
		return av{L: l}, nil
	}
	if cur.M == nil {
		return av{}, errInvalidPath
	}
	m := make(map[string]av, len(cur.M)+1)
	for k, x := range cur.M {
		m[k] = x
	}
	if len(path) == 1 {
		m[e.name] = v
		return av{M: m}, nil
	}
	child, ok := m[e.name]
	if !ok {
		return av{}, errInvalidPath
	}
	nv, err := setIn(child, path[1:], v)
	if err != nil {
		return av{}, err
	}
	m[e.name] = nv
	return av{M: m}, nil
}

// removePath deletes the value at path if it is there.
func removePath(it item, path docPath) {
	if len(path) == 1 {
		delete(it, path[0].name)
		return
	}
	root, ok := it[path[0].name]
	if !ok {
		return
	}
	if nv, changed := removeIn(root, path[1:]); changed {
		it[path[0].name] = nv
	}
}

func removeIn(cur av, path docPath) (av, bool) {
	e := path[0]
	if e.isIndex {
		if cur.L == nil || e.index >= len(cur.L) {
			return cur, false
		}
		l := append([]av(nil), cur.L...)
		if len(path) == 1 {
			l = append(l[:e.index], l[e.index+1:]...)
			return av{L: l}, true
		}
		nv, changed := removeIn(l[e.index], path[1:])
		l[e.index] = nv
		return av{L: l}, changed
	}
	if cur.M == nil {
		return cur, false
	}
	child, ok := cur.M[e.name]
	if !ok {
		return cur, false
	}
	m := make(map[string]av, len(cur.M))
	for k, x := range cur.M {
		m[k] = x
	}
	if len(path) == 1 {
		delete(m, e.name)
		return av{M: m}, true
	}
	nv, changed := removeIn(child, path[1:])
	m[e.name] = nv
	return av{M: m}, changed
}

// sortRemovals orders paths so that, among paths into the same list,
// higher indexes come first.
func sortRemovals(ps []docPath) {
	less := func(a, b docPath) bool {
		n := min(len(a), len(b))
		for i := 0; i < n; i++ {
			if a[i] == b[i] {
				continue
			}
			if a[i].isIndex && b[i].isIndex {
				return a[i].index > b[i].index
			}
			return false
		}
		return false
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && less(ps[j], ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// project keeps only the given paths of an item, as ProjectionExpression
// does (list elements keep their relative order, compacted).
func project(it item, paths []docPath) item {
	if paths == nil {
		return it
	}
	out := item{}
	for _, p := range paths {
		v, ok := resolve(it, p)
		if !ok {
			continue
		}
		projectInto(out, it, p, v)
	}
	return out
}

func projectInto(out, src item, p docPath, v av) {
	if len(p) == 1 {
		out[p[0].name] = v
		return
	}
	cur, ok := out[p[0].name]
	srcRoot := src[p[0].name]
	nv := projectValue(cur, ok, srcRoot, p[1:], v)
	out[p[0].name] = nv
}

func projectValue(cur av, have bool, src av, p docPath, v av) av {
	e := p[0]
	if e.isIndex {
		var l []av
		if have && cur.L != nil {
			l = append([]av(nil), cur.L...)
		}
		if len(p) == 1 {
			return av{L: append(l, v)}
		}
		return av{L: append(l, projectValue(av{}, false, src.L[e.index], p[1:], v))}
	}
	m := map[string]av{}
	if have && cur.M != nil {
		for k, x := range cur.M {
			m[k] = x
		}
	}
	if len(p) == 1 {
		m[e.name] = v
		return av{M: m}
	}
	child, ok := m[e.name]
	m[e.name] = projectValue(child, ok, src.M[e.name], p[1:], v)
	return av{M: m}
}

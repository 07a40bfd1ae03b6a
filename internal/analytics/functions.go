package analytics

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The functions compiled expressions call. The expression language
// (eval.go) has no operators of SQL's: SQL's NULL (any operation on NULL
// is NULL, and a NULL condition is not true) and its mixing of numbers,
// text and timestamps are here, and the translation of every SQL
// operator is a call to one of these.

func truth(v any) bool { b, _ := v.(bool); return b }

func sqlAnd(a, b any) any {
	if a == false || b == false {
		return false
	}
	if a == nil || b == nil {
		return nil
	}
	return truth(a) && truth(b)
}

func sqlOr(a, b any) any {
	if a == true || b == true {
		return true
	}
	if a == nil || b == nil {
		return nil
	}
	return truth(a) || truth(b)
}

func sqlNot(a any) any {
	if a == nil {
		return nil
	}
	return !truth(a)
}

func sqlCmp(op string, a, b any) any {
	if a == nil || b == nil {
		return nil
	}
	c, ok := compare(a, b)
	if !ok {
		return nil
	}
	switch op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	panic("unknown comparison " + op)
}

func sqlIn(a any, list []any) any {
	if a == nil {
		return nil
	}
	sawNull := false
	for _, v := range list {
		if v == nil {
			sawNull = true
			continue
		}
		if c, ok := compare(a, v); ok && c == 0 {
			return true
		}
	}
	if sawNull {
		return nil
	}
	return false
}

func sqlArith(op string, a, b any) any {
	if a == nil || b == nil {
		return nil
	}
	if t, ok := a.(time.Time); ok && (op == "+" || op == "-") {
		ms, ok := toInt(b)
		if !ok {
			return nil
		}
		if op == "-" {
			if tb, isT := b.(time.Time); isT {
				return t.Sub(tb).Milliseconds()
			}
			ms = -ms
		}
		return t.Add(time.Duration(ms) * time.Millisecond)
	}
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		switch op {
		case "+":
			return ai + bi
		case "-":
			return ai - bi
		case "*":
			return ai * bi
		case "%":
			if bi == 0 {
				return nil
			}
			return ai % bi
		case "DIV":
			if bi == 0 {
				return nil
			}
			return ai / bi
		}
	}
	fa, okA := toFloat(a)
	fb, okB := toFloat(b)
	if !okA || !okB {
		return nil
	}
	switch op {
	case "+":
		return fa + fb
	case "-":
		return fa - fb
	case "*":
		return fa * fb
	case "/":
		if fb == 0 {
			return nil
		}
		return fa / fb
	case "%":
		if fb == 0 {
			return nil
		}
		return math.Mod(fa, fb)
	case "DIV":
		if fb == 0 {
			return nil
		}
		return int64(fa / fb)
	}
	panic("unknown operator " + op)
}

func sqlNeg(a any) any {
	switch x := a.(type) {
	case int64:
		return -x
	case nil:
		return nil
	}
	if f, ok := toFloat(a); ok {
		return -f
	}
	return nil
}

var likeCache sync.Map // pattern → *regexp.Regexp

func sqlLike(a, pattern any) any {
	if a == nil || pattern == nil {
		return nil
	}
	p := formatValue(pattern)
	re, ok := likeCache.Load(p)
	if !ok {
		var b strings.Builder
		b.WriteString("(?s)^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; c {
			case '%':
				b.WriteString(".*")
			case '_':
				b.WriteString(".")
			case '\\':
				if i+1 < len(p) {
					i++
					b.WriteString(regexp.QuoteMeta(p[i : i+1]))
				}
			default:
				b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		b.WriteString("$")
		re, _ = likeCache.LoadOrStore(p, regexp.MustCompile(b.String()))
	}
	return re.(*regexp.Regexp).MatchString(formatValue(a))
}

func sqlRegexp(a, pattern any) any {
	if a == nil || pattern == nil {
		return nil
	}
	p := formatValue(pattern)
	re, ok := likeCache.Load("re:" + p)
	if !ok {
		c, err := regexp.Compile(p)
		if err != nil {
			return nil
		}
		re, _ = likeCache.LoadOrStore("re:"+p, c)
	}
	return re.(*regexp.Regexp).MatchString(formatValue(a))
}

func strArg(a any) (string, bool) {
	if a == nil {
		return "", false
	}
	return formatValue(a), true
}

func numFunc(f func(float64) float64) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		if args[0] == nil {
			return nil, nil
		}
		if i, ok := args[0].(int64); ok {
			return int64(f(float64(i))), nil
		}
		x, ok := toFloat(args[0])
		if !ok {
			return nil, nil
		}
		return f(x), nil
	}
}

// scalarFunctions are the SQL functions queries may call, by lower-case
// name, with their argument counts (max -1: any number).
var scalarFunctions = map[string]struct {
	min, max int
	fn       func(args ...any) (any, error)
}{
	"upper": {1, 1, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		if !ok {
			return nil, nil
		}
		return strings.ToUpper(s), nil
	}},
	"lower": {1, 1, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		if !ok {
			return nil, nil
		}
		return strings.ToLower(s), nil
	}},
	"char_length": {1, 1, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		if !ok {
			return nil, nil
		}
		return int64(len([]rune(s))), nil
	}},
	"concat": {1, -1, func(a ...any) (any, error) {
		var b strings.Builder
		for _, v := range a {
			if v == nil {
				return nil, nil
			}
			b.WriteString(formatValue(v))
		}
		return b.String(), nil
	}},
	"substring": {2, 3, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		from, okF := toInt(a[1])
		if !ok || !okF {
			return nil, nil
		}
		r := []rune(s)
		start := int(from) - 1 // SQL counts from 1
		if start < 0 {
			start = 0
		}
		if start > len(r) {
			return "", nil
		}
		end := len(r)
		if len(a) == 3 {
			n, ok := toInt(a[2])
			if !ok {
				return nil, nil
			}
			end = min(len(r), start+max(0, int(n)))
		}
		return string(r[start:end]), nil
	}},
	"trim": {1, 1, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		if !ok {
			return nil, nil
		}
		return strings.TrimSpace(s), nil
	}},
	"ltrim": {1, 1, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		if !ok {
			return nil, nil
		}
		return strings.TrimLeft(s, " \t\r\n"), nil
	}},
	"rtrim": {1, 1, func(a ...any) (any, error) {
		s, ok := strArg(a[0])
		if !ok {
			return nil, nil
		}
		return strings.TrimRight(s, " \t\r\n"), nil
	}},
	"abs":   {1, 1, numFunc(math.Abs)},
	"floor": {1, 1, numFunc(math.Floor)},
	"ceil":  {1, 1, numFunc(math.Ceil)},
	"sqrt":  {1, 1, numFunc(math.Sqrt)},
	"ln":    {1, 1, numFunc(math.Log)},
	"exp":   {1, 1, numFunc(math.Exp)},
	"round": {1, 2, func(a ...any) (any, error) {
		if a[0] == nil {
			return nil, nil
		}
		if i, ok := a[0].(int64); ok && len(a) == 1 {
			return i, nil
		}
		x, ok := toFloat(a[0])
		if !ok {
			return nil, nil
		}
		places := int64(0)
		if len(a) == 2 {
			places, _ = toInt(a[1])
		}
		p := math.Pow(10, float64(places))
		return math.Round(x*p) / p, nil
	}},
	"power": {2, 2, func(a ...any) (any, error) {
		x, ok1 := toFloat(a[0])
		y, ok2 := toFloat(a[1])
		if a[0] == nil || a[1] == nil || !ok1 || !ok2 {
			return nil, nil
		}
		return math.Pow(x, y), nil
	}},
	"mod": {2, 2, func(a ...any) (any, error) { return sqlArith("%", a[0], a[1]), nil }},
	"coalesce": {1, -1, func(a ...any) (any, error) {
		for _, v := range a {
			if v != nil {
				return v, nil
			}
		}
		return nil, nil
	}},
	"nullif": {2, 2, func(a ...any) (any, error) {
		if truth(sqlCmp("=", a[0], a[1])) {
			return nil, nil
		}
		return a[0], nil
	}},
	"greatest": {1, -1, func(a ...any) (any, error) { return extreme(a, 1), nil }},
	"least":    {1, -1, func(a ...any) (any, error) { return extreme(a, -1), nil }},
	// floor_to(ts, ms) is FLOOR(ts TO unit) and STEP(ts BY interval)
	// outside a GROUP BY: the timestamp rounded down to a multiple of ms.
	"floor_to": {2, 2, func(a ...any) (any, error) {
		t, ok := toTime(a[0])
		ms, okM := toInt(a[1])
		if a[0] == nil || !ok || !okM || ms <= 0 {
			return nil, nil
		}
		m := t.UnixMilli()
		return time.UnixMilli(m - mod(m, ms)).UTC(), nil
	}},
	"unix_millis": {1, 1, func(a ...any) (any, error) {
		t, ok := toTime(a[0])
		if a[0] == nil || !ok {
			return nil, nil
		}
		return t.UnixMilli(), nil
	}},
}

func init() {
	alias := map[string]string{
		"ucase": "upper", "lcase": "lower", "length": "char_length", "character_length": "char_length",
		"substr": "substring", "ceiling": "ceil", "ifnull": "coalesce", "pow": "power",
	}
	for a, f := range alias {
		scalarFunctions[a] = scalarFunctions[f]
	}
}

func extreme(a []any, sign int) any {
	var best any
	for _, v := range a {
		if v == nil {
			return nil
		}
		if best == nil {
			best = v
			continue
		}
		if c, ok := compare(v, best); ok && c*sign > 0 {
			best = v
		}
	}
	return best
}

// mod is the floor modulus (a result in [0, m) for negative a too).
func mod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// exprFuncs are the functions every compiled expression may call.
var exprFuncs = sync.OnceValue(makeExprFuncs)

func makeExprFuncs() map[string]func(...any) (any, error) {
	funcs := map[string]func(...any) (any, error){
		"sqlAnd":    func(a ...any) (any, error) { return sqlAnd(a[0], a[1]), nil },
		"sqlOr":     func(a ...any) (any, error) { return sqlOr(a[0], a[1]), nil },
		"sqlNot":    func(a ...any) (any, error) { return sqlNot(a[0]), nil },
		"sqlTrue":   func(a ...any) (any, error) { return truth(a[0]), nil },
		"sqlCmp":    func(a ...any) (any, error) { return sqlCmp(a[0].(string), a[1], a[2]), nil },
		"sqlArith":  func(a ...any) (any, error) { return sqlArith(a[0].(string), a[1], a[2]), nil },
		"sqlNeg":    func(a ...any) (any, error) { return sqlNeg(a[0]), nil },
		"sqlIn":     func(a ...any) (any, error) { return sqlIn(a[0], a[1].([]any)), nil },
		"sqlLike":   func(a ...any) (any, error) { return sqlLike(a[0], a[1]), nil },
		"sqlRegexp": func(a ...any) (any, error) { return sqlRegexp(a[0], a[1]), nil },
		"sqlIsNull": func(a ...any) (any, error) { return a[0] == nil, nil },
		"sqlCast":   func(a ...any) (any, error) { return castTo(a[0], a[1].(string)), nil },
	}
	for name, f := range scalarFunctions {
		fn, lo, hi, n := f.fn, f.min, f.max, name
		funcs["fn_"+name] = func(args ...any) (any, error) {
			if len(args) < lo || (hi >= 0 && len(args) > hi) {
				return nil, fmt.Errorf("%s takes %d to %d arguments", strings.ToUpper(n), lo, hi)
			}
			return fn(args...)
		}
	}
	return funcs
}

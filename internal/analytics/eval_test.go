package analytics

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExprLanguage(t *testing.T) {
	ts := time.UnixMilli(1700000000000).UTC()
	env := map[string]any{"i": int64(3), "f": 2.5, "s": "x", "b": true, "n": nil, "t": ts, "t2": ts.In(time.FixedZone("X", 3600))}
	for _, c := range []struct {
		src  string
		want any
	}{
		{`nil`, nil},
		{`true`, true},
		{`false`, false},
		{`i`, int64(3)},
		{`missing`, nil},
		{`"a\"b\n"`, "a\"b\n"},
		{`7`, 7},
		{`[i, "y", nil]`, []any{int64(3), "y", nil}},
		{`[]`, []any{}},
		{`sqlArith("+", i, i)`, int64(6)},
		{`sqlArith("-", t, 1)`, ts.Add(-time.Millisecond)},
		{`sqlIn(s, ["a", "x"])`, true},
		{`sqlIn(s, [])`, false},
		{`!sqlIsNull(n)`, false},
		{`!!sqlIsNull(n)`, true},
		{`(b == true)`, true},
		{`(s == true)`, false},
		{`(n != true)`, true},
		{`(b != false)`, true},
		{`(i == nil && n == nil)`, false},
		{`((n == nil && n == nil) || sqlTrue(sqlCmp("=", i, f)))`, true},
		{`(i == 3)`, true},
		{`(f == 2)`, false},
		{`(t == t2)`, true},
		{`(s == "x")`, true},
		{`(sqlTrue(b) ? "yes" : "no")`, "yes"},
		{`(sqlTrue(n) ? "yes" : (sqlTrue(b) ? "second" : nil))`, "second"},
		{`sqlTrue(n) ? 1 : 2`, 2},
		{`false && sqlCmp(s, i, i)`, false}, // the right side is not run
		{`true || sqlCmp(s, i, i)`, true},
		{`false || true && false`, false},
		{`fn_upper(s)`, "X"},
		{` sqlNot( sqlLike(s , "x%") ) `, false},
	} {
		prog, err := compileExpr(c.src, exprFuncs())
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		got, err := run(prog, env)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
		}
	}
}

func TestExprLanguageErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{``, "unexpected end of expression"},
		{`nope(1)`, "unknown function nope"},
		{`sqlNot(1`, `expected ","`},
		{`(true`, `expected ")"`},
		{`true ? 1`, `expected ":"`},
		{`a b`, `unexpected "b"`},
		{`a = b`, `character "="`},
		{`"open`, `character "\""`},
		{`99999999999999999999`, "out of range"},
		{strings.Repeat("(", 2000) + "1" + strings.Repeat(")", 2000), "nested too deeply"},
		{strings.Repeat("!", 2000) + "true", "nested too deeply"},
	} {
		_, err := compileExpr(c.src, exprFuncs())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.src, err, c.want)
		}
	}
	env := map[string]any{"s": "x"}
	for _, c := range []struct{ src, want string }{
		{`!s`, "! takes a boolean, not string"},
		{`s && true`, "&& takes a boolean"},
		{`false || s`, "|| takes a boolean"},
		{`s ? 1 : 2`, "? takes a boolean"},
		{`sqlCmp(1, s, s)`, "interface conversion"}, // a function's panic is the row's error
	} {
		prog, err := compileExpr(c.src, exprFuncs())
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if _, err := run(prog, env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.src, err, c.want)
		}
	}
	boom := errors.New("boom")
	prog, err := compileExpr(`f(g())`, map[string]func(...any) (any, error){
		"f": func(...any) (any, error) { t.Error("f ran after its argument failed"); return nil, nil },
		"g": func(...any) (any, error) { return nil, boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(prog, nil); !errors.Is(err, boom) {
		t.Errorf("error %v, want the function's", err)
	}
}

// FuzzExprLanguage: any text either compiles or is refused with an error,
// and a compiled program runs to a value or an error; nothing panics.
func FuzzExprLanguage(f *testing.F) {
	for _, s := range []string{
		`sqlAnd(sqlCmp(">=", c0, k0), sqlCmp("<=", c0, k1))`,
		`((c0 == nil && c1 == nil) || sqlTrue(sqlCmp("=", c0, c1)))`,
		`(sqlTrue(sqlCmp("=", c0, k0)) ? k1 : (sqlTrue(c1) ? k2 : nil))`,
		`sqlNot(sqlIn(c0, [k0, k1, nil]))`,
		`!sqlIsNull(fn_upper(c0))`,
		`sqlArith("-", we, 1)`,
		`(c0 != false)`,
		`sqlCast(c0, "VARCHAR(8)")`,
	} {
		f.Add(s)
	}
	env := map[string]any{"c0": "abc", "c1": int64(4), "k0": 1.5, "k1": true, "k2": nil, "we": time.UnixMilli(0)}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := compileExpr(src, exprFuncs())
		if err != nil {
			return
		}
		_, _ = run(prog, env)
	})
}

package dynamodb

import (
	"math/rand"
	"sort"
	"strings"
	"testing"
)

func TestNumberNormalizeAndCompare(t *testing.T) {
	cases := map[string]string{
		"1.50": "1.5", "01": "1", "-0": "0", "1e2": "100", "1E-5": "0.00001", "+3.000": "3",
		"-12.3400e1": "-123.4", "0.000": "0", "99999999999999999999999999999999999999": "99999999999999999999999999999999999999",
	}
	for in, want := range cases {
		n, err := parseNumber(in)
		if err != nil {
			t.Errorf("parseNumber(%q): %v", in, err)
			continue
		}
		if n.String() != want {
			t.Errorf("parseNumber(%q) = %s, want %s", in, n, want)
		}
	}
	for _, bad := range []string{"", "abc", "1..2", "1e", "--1", "1e+", "0x10", ".", "1 2"} {
		if _, err := parseNumber(bad); err == nil {
			t.Errorf("parseNumber(%q) accepted", bad)
		}
	}
	if _, err := parseNumber("1234567890123456789012345678901234567890"); err != errNumberPrecision {
		t.Errorf("40 digits: %v", err)
	}
	if _, err := parseNumber("1e126"); err != errNumberOverflow {
		t.Errorf("1e126: %v", err)
	}
	if _, err := parseNumber("1e-131"); err != errNumberUnderflow {
		t.Errorf("1e-131: %v", err)
	}
	a, _ := parseNumber("0.1")
	b, _ := parseNumber("0.2")
	sum, _ := a.add(b)
	if sum.String() != "0.3" {
		t.Errorf("0.1+0.2 = %s", sum)
	}
}

// TestNumberSortKeyOrder checks that the catalog encoding of numbers sorts
// exactly as the numbers do.
func TestNumberSortKeyOrder(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	var nums []number
	for _, s := range []string{"0", "-1", "1", "-0.5", "0.5", "10", "-10", "9.99", "-9.99", "1e125", "-1e125", "1e-130", "-1e-130", "12", "120", "1.2"} {
		n, _ := parseNumber(s)
		nums = append(nums, n)
	}
	digits := "0123456789"
	for i := 0; i < 500; i++ {
		var b strings.Builder
		if r.Intn(2) == 0 {
			b.WriteByte('-')
		}
		for j := 0; j < 1+r.Intn(6); j++ {
			b.WriteByte(digits[r.Intn(10)])
		}
		b.WriteByte('.')
		b.WriteByte(digits[r.Intn(10)])
		b.WriteString("e")
		b.WriteString(string(rune('0' + r.Intn(10))))
		n, err := parseNumber(b.String())
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i].cmp(nums[j]) < 0 })
	for i := 1; i < len(nums); i++ {
		a, b := nums[i-1].sortKey()+"/", nums[i].sortKey()+"/"
		switch c := nums[i-1].cmp(nums[i]); {
		case c < 0 && a >= b:
			t.Fatalf("%s < %s but keys %q >= %q", nums[i-1], nums[i], a, b)
		case c == 0 && a != b:
			t.Fatalf("%s == %s but keys differ", nums[i-1], nums[i])
		}
	}
}

func ctxWith(values map[string]av, names map[string]string) *exprContext {
	return newExprContext(names, values)
}

func TestConditionEvaluation(t *testing.T) {
	n := func(s string) av { return av{N: &s} }
	s := func(v string) av { return av{S: &v} }
	it := item{
		"a":    n("5"),
		"s":    s("hello"),
		"set":  av{SS: []string{"x", "y"}},
		"m":    av{M: map[string]av{"l": {L: []av{n("1"), s("two")}}}},
		"#odd": s("z"),
	}
	values := map[string]av{":five": n("5.0"), ":h": s("he"), ":x": s("x"), ":one": n("1"), ":ten": n("10"), ":two": s("two"), ":t": s("SS")}
	cases := map[string]bool{
		"a = :five":                             true,
		"a <> :five":                            false,
		"a < :ten AND a > :one":                 true,
		"a BETWEEN :one AND :ten":               true,
		"begins_with(s, :h)":                    true,
		"contains(#set, :x)":                    true,
		"contains(s, :h)":                       true,
		"m.l[1] = :two":                         true,
		"m.l[5] = :two":                         false,
		"size(m.l) = :two OR size(#set) < :ten": true,
		"NOT (a = :five)":                       false,
		"attribute_exists(m.l[0])":              true,
		"attribute_not_exists(nope)":            true,
		"nope <> :one":                          true,
		"nope = :one":                           false,
		"attribute_type(#set, :t)":              true,
		"a IN (:one, :five)":                    true,
		"(a = :one OR a = :ten) AND a = :five":  false,
		"a = :one OR a = :ten AND a = :five":    false,
		"a = :five OR a = :ten AND a = :one":    true,
	}
	for expr, want := range cases {
		c, err := parseCondition("ConditionExpression", expr, ctxWith(values, map[string]string{"#set": "set"}))
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		got, err := c.holds(it)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", expr, got, err, want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	values := map[string]av{":v": {S: strPtr("x")}}
	cases := map[string]string{
		"a = ":                  `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "`,
		"a = :v AND":            `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "AND"`,
		"a == :v":               `Invalid ConditionExpression: Syntax error; token: "=", near: "== :v"`,
		"a = :nope":             "An expression attribute value used in expression is not defined; attribute value: :nope",
		"#n = :v":               "An expression attribute name used in the document path is not defined; attribute name: #n",
		"name = :v":             "Attribute name is a reserved keyword; reserved keyword: name",
		"bogus(a)":              "Invalid function name; function: bogus",
		"a = :v ;":              "Invalid character encountered; character: ;",
		"":                      "Invalid ConditionExpression: The expression can not be empty;",
		"attribute_type(a, :v)": "Invalid attribute type name found; type: x",
	}
	for expr, want := range cases {
		_, err := parseCondition("ConditionExpression", expr, ctxWith(values, nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", expr, err, want)
		}
	}
	upd := map[string]string{
		"SET a = :v, a = :v":             "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]",
		"SET a = :v REMOVE b SET c = :v": `The "SET" section can only be used once in an update expression;`,
		"DELETE a :v":                    "Incorrect operand type for operator or function; operator: DELETE, operand type: STRING",
		"SET a = size(b)":                "The function is not allowed in an update expression; function: size",
		"SET a[x] = :v":                  `Syntax error; token: "x", near: "[x]"`,
	}
	for expr, want := range upd {
		_, err := parseUpdate(expr, ctxWith(values, nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", expr, err, want)
		}
	}
	ctx := ctxWith(map[string]av{":v": {S: strPtr("x")}, ":w": {S: strPtr("y")}}, map[string]string{"#a": "a", "#b": "b"})
	if _, err := parseCondition("ConditionExpression", "#a = :v", ctx); err != nil {
		t.Fatal(err)
	}
	if err := ctx.checkUnused(); err == nil || !strings.Contains(err.Error(), "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}") {
		t.Errorf("unused names: %v", err)
	}
}

func TestUpdateApply(t *testing.T) {
	n := func(s string) av { return av{N: &s} }
	old := item{"k": {S: strPtr("k")}, "c": n("1"), "l": {L: []av{n("1"), n("2"), n("3")}}, "s": {NS: []string{"1", "2"}}}
	values := map[string]av{":one": n("1"), ":l": {L: []av{n("4")}}, ":s": {NS: []string{"2", "3"}}, ":d": {NS: []string{"1", "3"}}}
	u, err := parseUpdate("SET c = c + :one, l = list_append(:l, l), nw = if_not_exists(nw, c) REMOVE l[0] ADD s :s", ctxWith(values, nil))
	if err == nil {
		t.Fatalf("overlapping l and l[0] accepted: %v", u)
	}
	u, err = parseUpdate("SET c = c + :one, nw = if_not_exists(nw, c), l[7] = :one REMOVE l[0], l[1] ADD s :s", ctxWith(values, nil))
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.apply(old)
	if err != nil {
		t.Fatal(err)
	}
	if *got["c"].N != "2" || *got["nw"].N != "1" {
		t.Errorf("c=%s nw=%s", *got["c"].N, *got["nw"].N)
	}
	var ls []string
	for _, v := range got["l"].L {
		ls = append(ls, *v.N)
	}
	if strings.Join(ls, ",") != "3,1" {
		t.Errorf("l = %v", ls)
	}
	if strings.Join(got["s"].NS, ",") != "1,2,3" {
		t.Errorf("s = %v", got["s"].NS)
	}
	if *old["c"].N != "1" || len(old["l"].L) != 3 {
		t.Errorf("apply changed the old item")
	}
	u, _ = parseUpdate("DELETE s :d", ctxWith(map[string]av{":d": values[":d"]}, nil))
	got, _ = u.apply(item{"s": {NS: []string{"1", "3"}}})
	if _, ok := got["s"]; ok {
		t.Errorf("emptied set not removed: %v", got["s"])
	}
}

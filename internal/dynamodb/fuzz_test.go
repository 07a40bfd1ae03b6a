package dynamodb

import (
	"testing"
)

// FuzzExpressions feeds arbitrary text to every expression parser: they
// must return a result or a ValidationException, never panic, and a parsed
// condition must evaluate without panicking.
func FuzzExpressions(f *testing.F) {
	for _, s := range []string{
		"a = :v", "attribute_not_exists(leaseKey)", "#n.b[1] BETWEEN :v AND :w",
		"NOT (a IN (:v, :w)) OR size(b) > :v", "begins_with(a, :v) AND contains(b, :w)",
		"SET a = a + :v, b = list_append(b, :w) REMOVE c[0] ADD d :v DELETE e :w",
		"SET a = if_not_exists(a, :v)", "a.b[", "((((a = :v", "SET", ":v", "#n",
	} {
		f.Add(s)
	}
	n := "1"
	values := map[string]av{":v": {N: &n}, ":w": {L: []av{{N: &n}}}}
	names := map[string]string{"#n": "name"}
	it := item{"a": {N: &n}, "b": {L: []av{{N: &n}}}, "name": {M: map[string]av{"b": {L: []av{{N: &n}, {N: &n}}}}}}
	f.Fuzz(func(t *testing.T, src string) {
		if c, err := parseCondition("ConditionExpression", src, newExprContext(names, values)); err == nil {
			c.holds(it)
		} else if _, ok := err.(interface{ Error() string }); !ok {
			t.Fatal(err)
		}
		if u, err := parseUpdate(src, newExprContext(names, values)); err == nil {
			u.apply(it)
		}
		parseProjection(src, newExprContext(names, values))
	})
}

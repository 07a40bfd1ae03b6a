package iam

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Condition is one key of one operator of a Condition element, e.g.
// "StringEquals": {"aws:username": ["alice", "bob"]}.
type Condition struct {
	// Operator is the operator as written, e.g.
	// "ForAnyValue:StringLikeIfExists".
	Operator string
	Key      string
	Values   []string

	base     string // e.g. StringLike
	ifExists bool
	set      setQualifier
}

type setQualifier int

const (
	setNone setQualifier = iota
	setForAnyValue
	setForAllValues
)

// operators maps each base operator to whether it is a negated form, whose
// result for a key absent from the request is true.
var operators = map[string]bool{
	"StringEquals": false, "StringNotEquals": true,
	"StringEqualsIgnoreCase": false, "StringNotEqualsIgnoreCase": true,
	"StringLike": false, "StringNotLike": true,
	"NumericEquals": false, "NumericNotEquals": true,
	"NumericLessThan": false, "NumericLessThanEquals": false,
	"NumericGreaterThan": false, "NumericGreaterThanEquals": false,
	"DateEquals": false, "DateNotEquals": true,
	"DateLessThan": false, "DateLessThanEquals": false,
	"DateGreaterThan": false, "DateGreaterThanEquals": false,
	"Bool":         false,
	"BinaryEquals": false,
	"IpAddress":    false, "NotIpAddress": true,
	"ArnEquals": false, "ArnNotEquals": true,
	"ArnLike": false, "ArnNotLike": true,
	"Null": false,
}

func parseConditions(raw json.RawMessage, where string) ([]Condition, error) {
	var ops map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, parseErr("Condition of %s must be an object of operators, each an object of condition keys.", where)
	}
	var out []Condition
	for op, keys := range ops {
		c := Condition{Operator: op}
		name := op
		if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
			c.set, name = setForAnyValue, rest
		} else if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
			c.set, name = setForAllValues, rest
		}
		if rest, ok := strings.CutSuffix(name, "IfExists"); ok && name != "Null" {
			c.ifExists, name = true, rest
		}
		if _, ok := operators[name]; !ok {
			return nil, parseErr("Condition of %s has an unknown operator %q.", where, op)
		}
		if name == "Null" && (c.ifExists || c.set != setNone) {
			return nil, parseErr("Condition operator %q of %s is not valid: Null takes no qualifiers.", op, where)
		}
		c.base = name
		if len(keys) == 0 {
			return nil, parseErr("Condition operator %s of %s names no condition key.", op, where)
		}
		for key, v := range keys {
			vals, err := conditionValues(v)
			if err != nil {
				return nil, parseErr("Condition %s %q of %s: %v", op, key, where, err)
			}
			cc := c
			cc.Key, cc.Values = key, vals
			if err := cc.check(); err != nil {
				return nil, parseErr("Condition %s %q of %s: %v", op, key, where, err)
			}
			out = append(out, cc)
		}
	}
	// Stable order for explanations.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// conditionValues reads a string, number or boolean, or a list of them,
// as strings.
func conditionValues(v json.RawMessage) ([]string, error) {
	var list []any
	if json.Unmarshal(v, &list) != nil {
		var one any
		if err := json.Unmarshal(v, &one); err != nil {
			return nil, err
		}
		list = []any{one}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("needs at least one value")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case bool:
			out = append(out, strconv.FormatBool(x))
		case float64:
			out = append(out, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			return nil, fmt.Errorf("values must be strings, numbers or booleans")
		}
	}
	return out, nil
}

// check validates the policy's values for the operator.
func (c *Condition) check() error {
	for _, v := range c.Values {
		var err error
		switch {
		case strings.HasPrefix(c.base, "Numeric"):
			_, err = parseNumber(v)
		case strings.HasPrefix(c.base, "Date"):
			_, err = parseDate(v)
		case c.base == "Bool", c.base == "Null":
			_, err = strconv.ParseBool(v)
		case c.base == "IpAddress", c.base == "NotIpAddress":
			_, err = parsePrefix(v)
		case c.base == "BinaryEquals":
			_, err = base64.StdEncoding.DecodeString(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseNumber(s string) (*big.Float, error) {
	f, ok := new(big.Float).SetString(strings.TrimSpace(s))
	if !ok {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// parseDate reads an ISO 8601 date or date-time, or epoch seconds.
func parseDate(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02", "20060102T150405Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (ISO 8601, e.g. 2024-01-31T00:00:00Z, or epoch seconds)", s)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// eval evaluates the condition against the request context. vars expands
// policy variables in the policy's values.
func (c *Condition) eval(ctx map[string][]string) bool {
	reqVals, present := lookupKey(ctx, c.Key)
	if c.base == "Null" {
		want, _ := strconv.ParseBool(c.Values[0])
		return want == !present
	}
	negated := operators[c.base]
	if !present {
		switch {
		case c.ifExists:
			return true
		case c.set == setForAllValues:
			return true
		case c.set == setForAnyValue:
			return false
		default:
			return negated
		}
	}
	values := make([]string, len(c.Values))
	for i, v := range c.Values {
		values[i] = expandVars(v, ctx)
	}
	// matches reports whether one request value matches any policy value
	// under the positive form of the operator.
	matches := func(rv string) bool {
		for _, pv := range values {
			if c.matchOne(pv, rv) {
				return true
			}
		}
		return false
	}
	test := func(rv string) bool { return matches(rv) != negated }
	switch c.set {
	case setForAllValues:
		for _, rv := range reqVals {
			if !test(rv) {
				return false
			}
		}
		return true
	case setForAnyValue:
		for _, rv := range reqVals {
			if test(rv) {
				return true
			}
		}
		return false
	default:
		any := false
		for _, rv := range reqVals {
			if matches(rv) {
				any = true
				break
			}
		}
		return any != negated
	}
}

// matchOne applies the positive form of the operator to one policy value
// and one request value.
func (c *Condition) matchOne(pv, rv string) bool {
	switch c.base {
	case "StringEquals", "StringNotEquals":
		return pv == rv
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold(pv, rv)
	case "StringLike", "StringNotLike":
		return globMatch(pv, rv)
	case "Bool":
		a, err1 := strconv.ParseBool(pv)
		b, err2 := strconv.ParseBool(rv)
		return err1 == nil && err2 == nil && a == b
	case "BinaryEquals":
		return pv == rv
	case "IpAddress", "NotIpAddress":
		p, err := parsePrefix(pv)
		if err != nil {
			return false
		}
		a, err := netip.ParseAddr(rv)
		return err == nil && p.Contains(a.Unmap())
	case "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike":
		return arnLike(pv, rv)
	}
	if strings.HasPrefix(c.base, "Numeric") {
		p, err1 := parseNumber(pv)
		r, err2 := parseNumber(rv)
		if err1 != nil || err2 != nil {
			return false
		}
		return compare(c.base, "Numeric", r.Cmp(p))
	}
	if strings.HasPrefix(c.base, "Date") {
		p, err1 := parseDate(pv)
		r, err2 := parseDate(rv)
		if err1 != nil || err2 != nil {
			return false
		}
		return compare(c.base, "Date", r.Compare(p))
	}
	return false
}

// compare turns a comparison of request value to policy value (-1, 0, 1)
// into the result of a Numeric* or Date* operator.
func compare(op, family string, cmp int) bool {
	switch strings.TrimPrefix(op, family) {
	case "Equals", "NotEquals":
		return cmp == 0
	case "LessThan":
		return cmp < 0
	case "LessThanEquals":
		return cmp <= 0
	case "GreaterThan":
		return cmp > 0
	case "GreaterThanEquals":
		return cmp >= 0
	}
	return false
}

// lookupKey finds a condition key; key names are case-insensitive.
func lookupKey(ctx map[string][]string, key string) ([]string, bool) {
	v, ok := ctx[strings.ToLower(key)]
	return v, ok
}

// expandVars replaces policy variables such as ${aws:username} with their
// single value from the request context; ${*}, ${?} and ${$} stand for the
// literal characters. An unknown variable is left as written, so it
// matches nothing by accident.
func expandVars(s string, ctx map[string][]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			if v, ok := lookupKey(ctx, name); ok && len(v) == 1 {
				b.WriteString(v[0])
			} else {
				b.WriteString(s[i : i+j+1])
			}
		}
		s = s[i+j+1:]
	}
}

package lambda

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// An event filter is one FilterCriteria pattern, in EventBridge's pattern
// syntax, as Lambda applies it to Kinesis records: the record's metadata
// (partitionKey, sequenceNumber, ...) at the top level and its data, when
// it is JSON, under "data".
//
// A pattern is a JSON object. A key whose value is an object matches the
// event's object of that name, recursively; a key whose value is an array
// lists conditions of which one must hold (OR); all keys must match (AND).
// A condition is a literal (a string, a number, matched by its text, as
// Lambda matches numbers: 300 is not 300.0, true, false or null), or an
// object: {"prefix": s}, {"suffix": s}, {"equals-ignore-case": s},
// {"anything-but": literal | [literals] | {"prefix": s}},
// {"numeric": [op, n, (op, n)]} with op one of = < <= > >=, or
// {"exists": bool}. An event value that is an array matches when one of
// its elements does.
type eventFilter struct {
	root map[string]any
	// data: the pattern looks into the record's data, so a record whose
	// data is not JSON cannot match.
	data bool
}

// errBadPattern is Lambda's answer to a pattern it cannot use.
func errBadPattern(detail string) error {
	return errInvalid("Invalid filter pattern definition. %s", detail)
}

// parseFilter checks and compiles one pattern.
func parseFilter(pattern string) (*eventFilter, error) {
	v, err := decodeJSONNumbers([]byte(pattern))
	if err != nil {
		return nil, errBadPattern("The pattern is not JSON.")
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errBadPattern("The pattern must be a JSON object.")
	}
	if err := checkPattern(root, ""); err != nil {
		return nil, err
	}
	_, data := root["data"]
	return &eventFilter{root: root, data: data}, nil
}

func decodeJSONNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func checkPattern(obj map[string]any, path string) error {
	if len(obj) == 0 && path != "" {
		return errBadPattern(fmt.Sprintf("The object at %q is empty.", path))
	}
	for k, v := range obj {
		p := strings.TrimPrefix(path+"."+k, ".")
		switch v := v.(type) {
		case map[string]any:
			if err := checkPattern(v, p); err != nil {
				return err
			}
		case []any:
			if len(v) == 0 {
				return errBadPattern(fmt.Sprintf("The list at %q is empty.", p))
			}
			for _, c := range v {
				if err := checkCondition(c, p); err != nil {
					return err
				}
			}
		default:
			return errBadPattern(fmt.Sprintf("The value at %q must be an object or a list of conditions.", p))
		}
	}
	return nil
}

func checkCondition(c any, p string) error {
	op, ok := c.(map[string]any)
	if !ok {
		if _, nested := c.([]any); nested {
			return errBadPattern(fmt.Sprintf("A condition at %q is a list.", p))
		}
		return nil // a literal
	}
	if len(op) != 1 {
		return errBadPattern(fmt.Sprintf("A condition at %q must have one operator.", p))
	}
	for name, arg := range op {
		switch name {
		case "prefix", "suffix", "equals-ignore-case":
			if _, ok := arg.(string); !ok {
				return errBadPattern(fmt.Sprintf("%s at %q takes a string.", name, p))
			}
		case "exists":
			if _, ok := arg.(bool); !ok {
				return errBadPattern(fmt.Sprintf("exists at %q takes true or false.", p))
			}
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				for _, x := range a {
					if !isLiteral(x) {
						return errBadPattern(fmt.Sprintf("anything-but at %q takes literals.", p))
					}
				}
			case map[string]any:
				s, ok := a["prefix"].(string)
				if len(a) != 1 || !ok || s == "" {
					return errBadPattern(fmt.Sprintf("anything-but at %q takes a literal, a list of literals or {\"prefix\": string}.", p))
				}
			default:
				if !isLiteral(a) {
					return errBadPattern(fmt.Sprintf("anything-but at %q takes literals.", p))
				}
			}
		case "numeric":
			if err := checkNumeric(arg, p); err != nil {
				return err
			}
		default:
			return errBadPattern(fmt.Sprintf("Unrecognized operator %q at %q.", name, p))
		}
	}
	return nil
}

func isLiteral(x any) bool {
	switch x.(type) {
	case string, json.Number, bool, nil:
		return true
	}
	return false
}

var numericOps = map[string]bool{"=": true, "<": true, "<=": true, ">": true, ">=": true}

func checkNumeric(arg any, p string) error {
	a, ok := arg.([]any)
	if !ok || (len(a) != 2 && len(a) != 4) {
		return errBadPattern(fmt.Sprintf("numeric at %q takes [operator, number] or [operator, number, operator, number].", p))
	}
	for i := 0; i < len(a); i += 2 {
		op, ok := a[i].(string)
		if !ok || !numericOps[op] {
			return errBadPattern(fmt.Sprintf("numeric at %q has an unknown operator.", p))
		}
		if _, ok := a[i+1].(json.Number); !ok {
			return errBadPattern(fmt.Sprintf("numeric at %q compares with a number.", p))
		}
	}
	return nil
}

// matches reports whether the event (decoded with numbers as
// json.Number) matches the filter.
func (f *eventFilter) matches(event map[string]any) bool {
	return matchObject(f.root, event)
}

func matchObject(pattern map[string]any, event map[string]any) bool {
	for k, pv := range pattern {
		ev, present := event[k]
		switch pv := pv.(type) {
		case map[string]any:
			sub, ok := ev.(map[string]any)
			if !ok || !matchObject(pv, sub) {
				return false
			}
		case []any:
			if !matchConditions(pv, ev, present) {
				return false
			}
		}
	}
	return true
}

// matchConditions: one of the conditions holds for the value (or, for
// an array value, for one of its elements).
func matchConditions(conds []any, v any, present bool) bool {
	for _, c := range conds {
		if op, ok := c.(map[string]any); ok {
			if e, ok := op["exists"].(bool); ok {
				if e == present {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		if arr, ok := v.([]any); ok {
			for _, el := range arr {
				if matchCondition(c, el) {
					return true
				}
			}
			continue
		}
		if matchCondition(c, v) {
			return true
		}
	}
	return false
}

func matchCondition(c, v any) bool {
	op, ok := c.(map[string]any)
	if !ok {
		return literalEqual(c, v)
	}
	for name, arg := range op {
		switch name {
		case "prefix":
			s, ok := v.(string)
			return ok && strings.HasPrefix(s, arg.(string))
		case "suffix":
			s, ok := v.(string)
			return ok && strings.HasSuffix(s, arg.(string))
		case "equals-ignore-case":
			s, ok := v.(string)
			return ok && strings.EqualFold(s, arg.(string))
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				for _, x := range a {
					if literalEqual(x, v) {
						return false
					}
				}
				return true
			case map[string]any:
				s, ok := v.(string)
				return ok && !strings.HasPrefix(s, a["prefix"].(string))
			default:
				return !literalEqual(a, v)
			}
		case "numeric":
			n, ok := v.(json.Number)
			if !ok {
				return false
			}
			x, ok := new(big.Float).SetString(n.String())
			if !ok {
				return false
			}
			a := arg.([]any)
			for i := 0; i < len(a); i += 2 {
				y, _ := new(big.Float).SetString(a[i+1].(json.Number).String())
				cmp := x.Cmp(y)
				var hold bool
				switch a[i].(string) {
				case "=":
					hold = cmp == 0
				case "<":
					hold = cmp < 0
				case "<=":
					hold = cmp <= 0
				case ">":
					hold = cmp > 0
				case ">=":
					hold = cmp >= 0
				}
				if !hold {
					return false
				}
			}
			return true
		}
	}
	return false
}

// literalEqual compares a pattern literal with an event value: strings
// and booleans by value, numbers by their text, null with null.
func literalEqual(lit, v any) bool {
	switch l := lit.(type) {
	case nil:
		return v == nil
	case string:
		s, ok := v.(string)
		return ok && s == l
	case json.Number:
		n, ok := v.(json.Number)
		return ok && n == l
	case bool:
		b, ok := v.(bool)
		return ok && b == l
	}
	return false
}

// filterEvent is what a record's filters see: its Kinesis metadata and,
// when its data is JSON, the data under "data" (ok is false otherwise).
func filterEvent(it *item) (event map[string]any, dataIsJSON bool) {
	event = map[string]any{
		"kinesisSchemaVersion":        "1.0",
		"partitionKey":                it.rec.PartitionKey,
		"sequenceNumber":              it.rec.SequenceNumber,
		"approximateArrivalTimestamp": json.Number(string(appendSeconds(nil, it.rec.Arrival))),
	}
	if it.rec.EncryptionType != "" {
		event["encryptionType"] = it.rec.EncryptionType
	}
	if d, err := decodeJSONNumbers(it.rec.Data); err == nil {
		event["data"] = d
		dataIsJSON = true
	}
	return event, dataIsJSON
}

// passes reports whether a record passes a mapping's filters: one of them
// matches. A filter that looks into the data does not match a record
// whose data is not JSON.
func passes(filters []*eventFilter, it *item) bool {
	if len(filters) == 0 {
		return true
	}
	event, isJSON := filterEvent(it)
	for _, f := range filters {
		if f.data && !isJSON {
			continue
		}
		if f.matches(event) {
			return true
		}
	}
	return false
}

package dynamodb

import (
	"sort"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

// The legacy (pre-expression) parameters Expected, KeyConditions,
// QueryFilter, ScanFilter and AttributeUpdates are translated into the same
// conditions and updates the expressions produce. The KCL uses them.

// legacyComparison builds the condition of one ComparisonOperator on a
// top-level attribute.
func legacyComparison(name, op string, args []av) (cond, error) {
	path := pathOperand{path: docPath{{name: name}}}
	want := map[string]int{
		"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
		"NOT_NULL": 0, "NULL": 0, "CONTAINS": 1, "NOT_CONTAINS": 1,
		"BEGINS_WITH": 1, "BETWEEN": 2,
	}
	n, known := want[op]
	if op == "IN" {
		if len(args) == 0 {
			return nil, validationError("One or more parameter values were invalid: Invalid number of argument(s) for the IN ComparisonOperator")
		}
	} else if !known {
		return nil, validationError("One or more parameter values were invalid: Unsupported ComparisonOperator: %s", op)
	} else if len(args) != n {
		return nil, validationError("One or more parameter values were invalid: Invalid number of argument(s) for the %s ComparisonOperator", op)
	}
	vals := make([]av, len(args))
	for i, a := range args {
		v, err := normalizeValue(a)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	scalarOnly := func() error {
		for _, v := range vals {
			switch typeOf(&v) {
			case typeS, typeN, typeB:
			default:
				return validationError("One or more parameter values were invalid: ComparisonOperator %s is not valid for %s AttributeValue type", op, typeOf(&v))
			}
		}
		return nil
	}
	val := func(i int) operand { return valueOperand{v: vals[i]} }
	switch op {
	case "EQ":
		return cmpCond{op: "=", a: path, b: val(0)}, nil
	case "NE":
		return cmpCond{op: "<>", a: path, b: val(0)}, nil
	case "LE", "LT", "GE", "GT":
		if err := scalarOnly(); err != nil {
			return nil, err
		}
		sym := map[string]string{"LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}[op]
		return cmpCond{op: sym, a: path, b: val(0)}, nil
	case "NOT_NULL":
		return funcCond{name: "attribute_exists", path: path.path}, nil
	case "NULL":
		return funcCond{name: "attribute_not_exists", path: path.path}, nil
	case "CONTAINS", "NOT_CONTAINS":
		if err := scalarOnly(); err != nil {
			return nil, err
		}
		c := funcCond{name: "contains", path: path.path, arg: val(0)}
		if op == "NOT_CONTAINS" {
			return andCond{funcCond{name: "attribute_exists", path: path.path}, notCond{c}}, nil
		}
		return c, nil
	case "BEGINS_WITH":
		if t := typeOf(&vals[0]); t != typeS && t != typeB {
			return nil, validationError("One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for %s AttributeValue type", t)
		}
		return funcCond{name: "begins_with", path: path.path, arg: val(0)}, nil
	case "BETWEEN":
		if err := scalarOnly(); err != nil {
			return nil, err
		}
		if c, ok := compareValues(&vals[0], &vals[1]); !ok || c > 0 {
			return nil, validationError("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
		}
		return betweenCond{v: path, lo: val(0), hi: val(1)}, nil
	case "IN":
		if err := scalarOnly(); err != nil {
			return nil, err
		}
		var list []operand
		for i := range vals {
			list = append(list, val(i))
		}
		return inCond{v: path, list: list}, nil
	}
	return nil, validationError("One or more parameter values were invalid: Unsupported ComparisonOperator: %s", op)
}

// combine joins conditions in sorted attribute order with AND or OR.
func combine(conds []cond, op *dynamodbapi.ConditionalOperator) cond {
	if len(conds) == 0 {
		return nil
	}
	c := conds[0]
	for _, d := range conds[1:] {
		if op != nil && *op == "OR" {
			c = orCond{c, d}
		} else {
			c = andCond{c, d}
		}
	}
	return c
}

// expectedCondition translates Expected.
func expectedCondition(exp map[string]dynamodbapi.ExpectedAttributeValue, op *dynamodbapi.ConditionalOperator) (cond, error) {
	if op != nil && len(exp) == 0 {
		return nil, validationError("ConditionalOperator can only be used when Filter or Expected has two or more elements")
	}
	names := make([]string, 0, len(exp))
	for n := range exp {
		names = append(names, n)
	}
	sort.Strings(names)
	var conds []cond
	for _, n := range names {
		e := exp[n]
		var c cond
		var err error
		switch {
		case e.ComparisonOperator != nil:
			if e.Value != nil {
				return nil, validationError("One or more parameter values were invalid: Value and ComparisonOperator cannot be used together for Attribute: %s", n)
			}
			if e.Exists != nil {
				return nil, validationError("One or more parameter values were invalid: Exists and ComparisonOperator cannot be used together for Attribute: %s", n)
			}
			c, err = legacyComparison(n, string(*e.ComparisonOperator), e.AttributeValueList)
		case e.Exists != nil && !*e.Exists:
			if e.Value != nil {
				return nil, validationError("One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: %s", n)
			}
			c = funcCond{name: "attribute_not_exists", path: docPath{{name: n}}}
		case e.Value != nil:
			c, err = legacyComparison(n, "EQ", []av{*e.Value})
		default:
			return nil, validationError("One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: %s", n)
		}
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	return combine(conds, op), nil
}

// filterCondition translates QueryFilter, ScanFilter and KeyConditions.
func filterCondition(f map[string]dynamodbapi.Condition, op *dynamodbapi.ConditionalOperator) (cond, error) {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	var conds []cond
	for _, n := range names {
		c := f[n]
		if c.ComparisonOperator == nil {
			return nil, validationError("1 validation error detected: Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null")
		}
		lc, err := legacyComparison(n, string(*c.ComparisonOperator), c.AttributeValueList)
		if err != nil {
			return nil, err
		}
		conds = append(conds, lc)
	}
	return combine(conds, op), nil
}

// legacyUpdate is AttributeUpdates.
type legacyUpdate map[string]dynamodbapi.AttributeValueUpdate

func (lu legacyUpdate) check() error {
	for _, u := range lu {
		action := string(awsproto.Value(u.Action))
		if action == "" {
			action = "PUT"
		}
		if u.Value == nil {
			if action != "DELETE" {
				return validationError("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
			}
			continue
		}
		v, err := normalizeValue(*u.Value)
		if err != nil {
			return err
		}
		t := typeOf(&v)
		switch action {
		case "ADD":
			if t != typeN && t != typeSS && t != typeNS && t != typeBS && t != typeL {
				return validationError("One or more parameter values were invalid: ADD action is not supported for the type %s", t)
			}
		case "DELETE":
			if t != typeSS && t != typeNS && t != typeBS {
				return validationError("One or more parameter values were invalid: DELETE action with value is not supported for the type %s", t)
			}
		}
	}
	return nil
}

func (lu legacyUpdate) apply(old item) (item, error) {
	it := cloneItem(old)
	if it == nil {
		it = item{}
	}
	names := make([]string, 0, len(lu))
	for n := range lu {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := lu[n]
		action := string(awsproto.Value(u.Action))
		if action == "" {
			action = "PUT"
		}
		var v av
		if u.Value != nil {
			var err error
			if v, err = normalizeValue(*u.Value); err != nil {
				return nil, err
			}
		}
		cur, exists := it[n]
		switch action {
		case "PUT":
			it[n] = v
		case "DELETE":
			if u.Value == nil {
				delete(it, n)
				continue
			}
			if !exists {
				continue
			}
			nv, empty, err := deleteFromSet(&cur, &v)
			if err != nil {
				return nil, validationError("Type mismatch for attribute to update")
			}
			if empty {
				delete(it, n)
			} else {
				it[n] = nv
			}
		case "ADD":
			if !exists {
				it[n] = v
				continue
			}
			if typeOf(&cur) == typeL && typeOf(&v) == typeL {
				it[n] = av{L: append(append([]av(nil), cur.L...), v.L...)}
				continue
			}
			nv, err := addValues(&cur, &v)
			if err != nil {
				return nil, validationError("Type mismatch for attribute to update")
			}
			it[n] = nv
		}
	}
	return it, nil
}

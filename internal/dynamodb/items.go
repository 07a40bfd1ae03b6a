package dynamodb

import (
	"context"
	"sort"
	"strings"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

// exprParams are the expression parameters of one request.
type exprParams struct {
	names     map[string]string
	values    map[string]av
	exprNames []string // expression parameters present, e.g. ConditionExpression
	legacy    []string // legacy parameters present, e.g. Expected
	hasValues bool     // an expression that takes values is present
}

// context validates the placeholder maps and returns the resolver.
func (p exprParams) context() (*exprContext, error) {
	if len(p.exprNames) > 0 && len(p.legacy) > 0 {
		return nil, validationError("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {%s} Expression parameters: {%s}",
			strings.Join(p.legacy, ", "), strings.Join(p.exprNames, ", "))
	}
	if p.names != nil {
		if len(p.names) == 0 {
			return nil, validationError("ExpressionAttributeNames must not be empty")
		}
		if len(p.exprNames) == 0 {
			return nil, validationError("ExpressionAttributeNames can only be specified when using expressions")
		}
		for k := range p.names {
			if len(k) < 2 || k[0] != '#' || !allNameChars(k[1:]) {
				return nil, validationError("ExpressionAttributeNames contains invalid key: Syntax error; key: %q", k)
			}
		}
	}
	values := map[string]av{}
	if p.values != nil {
		if len(p.values) == 0 {
			return nil, validationError("ExpressionAttributeValues must not be empty")
		}
		if !p.hasValues {
			return nil, validationError("ExpressionAttributeValues can only be specified when using expressions: %s", nullExpressions(p.exprNames))
		}
		keys := make([]string, 0, len(p.values))
		for k := range p.values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(k) < 2 || k[0] != ':' || !allNameChars(k[1:]) {
				return nil, validationError("ExpressionAttributeValues contains invalid key: Syntax error; key: %q", k)
			}
			v, err := normalizeValue(p.values[k])
			if err != nil {
				msg := err.(*awsproto.Error).Message
				return nil, validationError("ExpressionAttributeValues contains invalid value: %s for key %s", msg, k)
			}
			values[k] = v
		}
	}
	return newExprContext(p.names, values), nil
}

func nullExpressions(present []string) string {
	if len(present) == 0 {
		return "ConditionExpression is null"
	}
	return strings.Join(present, " and ") + " is null"
}

func allNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// conditionParams gathers the condition parameters of a write.
func conditionParams(expr *string, expected map[string]dynamodbapi.ExpectedAttributeValue, op *dynamodbapi.ConditionalOperator,
	names map[string]string, values map[string]av, extraExpr ...string) exprParams {
	p := exprParams{names: names, values: values}
	if expr != nil {
		p.exprNames = append(p.exprNames, "ConditionExpression")
		p.hasValues = true
	}
	p.exprNames = append(p.exprNames, extraExpr...)
	if len(extraExpr) > 0 {
		p.hasValues = true
	}
	if expected != nil {
		p.legacy = append(p.legacy, "Expected")
	}
	if op != nil {
		p.legacy = append(p.legacy, "ConditionalOperator")
	}
	return p
}

// buildCondition parses a ConditionExpression or translates Expected.
func buildCondition(ctx *exprContext, expr *string, expected map[string]dynamodbapi.ExpectedAttributeValue, op *dynamodbapi.ConditionalOperator) (cond, error) {
	if expr != nil {
		return parseCondition("ConditionExpression", *expr, ctx)
	}
	if expected != nil || op != nil {
		return expectedCondition(expected, op)
	}
	return nil, nil
}

// writeOp is one prepared write: its table and key, its condition and how
// the new item follows from the current one.
type writeOp struct {
	t     *tableMeta
	key   item
	cond  cond
	check bool                     // ConditionCheck: no write
	del   bool                     // DeleteItem
	put   item                     // PutItem
	upd   func(item) (item, error) // UpdateItem
	// returnOnFailure asks for the item in the conditional-check failure.
	returnOnFailure bool
}

// next computes the item after the write (nil: deleted).
func (w *writeOp) next(old item) (item, error) {
	switch {
	case w.del:
		return nil, nil
	case w.put != nil:
		return w.put, nil
	case w.upd != nil:
		it, err := w.upd(old)
		if err != nil {
			return nil, err
		}
		for k, v := range w.key {
			it[k] = v
		}
		if err := w.t.checkItem(it); err != nil {
			return nil, err
		}
		return it, nil
	}
	return old, nil
}

func (w *writeOp) holds(old item) (bool, error) {
	if w.cond == nil {
		return true, nil
	}
	if old == nil {
		old = item{}
	}
	return w.cond.holds(old)
}

// run applies one write under its table's lock and returns the item before
// and after it.
func (s *Service) run(ctx context.Context, w *writeOp) (old, new item, err error) {
	unlock, err := s.lockTables(ctx, w.t.Account, w.t.Region, w.t.Name)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	// The table may have been deleted or recreated since it was read.
	cur, err := s.loadTable(ctx, w.t.Account, w.t.Region, w.t.Name)
	if err != nil {
		return nil, nil, err
	}
	if cur == nil || cur.ID != w.t.ID {
		return nil, nil, tableNotFound()
	}
	st, err := s.getItem(ctx, w.t, w.key)
	if err != nil {
		return nil, nil, err
	}
	ok, err := w.holds(st.item)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		if w.returnOnFailure && st.item != nil {
			e := awsproto.NewError(codeConditionalCheck, "The conditional request failed")
			e.Fields = map[string]any{"Item": st.item}
			return st.item, nil, e
		}
		return st.item, nil, conditionalCheckFailed()
	}
	nv, err := w.next(st.item)
	if err != nil {
		return nil, nil, err
	}
	if err := s.writeItem(ctx, st.key, st.rev, nv); err != nil {
		return nil, nil, err
	}
	return st.item, nv, nil
}

func checkReturnValues(rv *dynamodbapi.ReturnValue, allowed ...string) error {
	if rv == nil {
		return nil
	}
	for _, a := range allowed {
		if string(*rv) == a {
			return nil
		}
	}
	return validationError("Return values set to invalid value")
}

func (s *Service) putItem(ctx context.Context, in *dynamodbapi.PutItemInput) (*dynamodbapi.PutItemOutput, error) {
	t, err := s.table(ctx, awsproto.Value(in.TableName))
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, "NONE", "ALL_OLD"); err != nil {
		return nil, err
	}
	w, err := preparePut(t, in.Item, in.ConditionExpression, in.Expected, in.ConditionalOperator, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	w.returnOnFailure = awsproto.Value(in.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
	old, _, err := s.run(ctx, w)
	if err != nil {
		return nil, err
	}
	out := &dynamodbapi.PutItemOutput{}
	if in.ReturnValues != nil && *in.ReturnValues == "ALL_OLD" && old != nil {
		out.Attributes = old
	}
	return out, nil
}

func preparePut(t *tableMeta, raw item, expr *string, expected map[string]dynamodbapi.ExpectedAttributeValue, op *dynamodbapi.ConditionalOperator, names map[string]string, values map[string]av) (*writeOp, error) {
	it, err := normalizeItem(raw)
	if err != nil {
		return nil, err
	}
	if err := t.checkItem(it); err != nil {
		return nil, err
	}
	ctx, err := conditionParams(expr, expected, op, names, values).context()
	if err != nil {
		return nil, err
	}
	c, err := buildCondition(ctx, expr, expected, op)
	if err != nil {
		return nil, err
	}
	if err := ctx.checkUnused(); err != nil {
		return nil, err
	}
	return &writeOp{t: t, key: t.keyOf(it), cond: c, put: it}, nil
}

func (s *Service) deleteItem(ctx context.Context, in *dynamodbapi.DeleteItemInput) (*dynamodbapi.DeleteItemOutput, error) {
	t, err := s.table(ctx, awsproto.Value(in.TableName))
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, "NONE", "ALL_OLD"); err != nil {
		return nil, err
	}
	w, err := prepareKeyed(t, in.Key, in.ConditionExpression, in.Expected, in.ConditionalOperator, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	w.del = true
	w.returnOnFailure = awsproto.Value(in.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
	old, _, err := s.run(ctx, w)
	if err != nil {
		return nil, err
	}
	out := &dynamodbapi.DeleteItemOutput{}
	if in.ReturnValues != nil && *in.ReturnValues == "ALL_OLD" && old != nil {
		out.Attributes = old
	}
	return out, nil
}

// prepareKeyed prepares a write addressed by Key with a condition.
func prepareKeyed(t *tableMeta, rawKey item, expr *string, expected map[string]dynamodbapi.ExpectedAttributeValue, op *dynamodbapi.ConditionalOperator, names map[string]string, values map[string]av, extraExpr ...string) (*writeOp, error) {
	key, err := t.checkKey(rawKey)
	if err != nil {
		return nil, err
	}
	ctx, err := conditionParams(expr, expected, op, names, values, extraExpr...).context()
	if err != nil {
		return nil, err
	}
	c, err := buildCondition(ctx, expr, expected, op)
	if err != nil {
		return nil, err
	}
	if len(extraExpr) == 0 {
		if err := ctx.checkUnused(); err != nil {
			return nil, err
		}
	}
	return &writeOp{t: t, key: key, cond: c}, nil
}

func (s *Service) updateItem(ctx context.Context, in *dynamodbapi.UpdateItemInput) (*dynamodbapi.UpdateItemOutput, error) {
	t, err := s.table(ctx, awsproto.Value(in.TableName))
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"); err != nil {
		return nil, err
	}
	w, touched, err := prepareUpdate(t, in.Key, in.UpdateExpression, in.AttributeUpdates, in.ConditionExpression, in.Expected, in.ConditionalOperator, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	w.returnOnFailure = awsproto.Value(in.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
	old, nv, err := s.run(ctx, w)
	if err != nil {
		return nil, err
	}
	out := &dynamodbapi.UpdateItemOutput{}
	rv := ""
	if in.ReturnValues != nil {
		rv = string(*in.ReturnValues)
	}
	switch rv {
	case "ALL_OLD":
		out.Attributes = old
	case "ALL_NEW":
		out.Attributes = nv
	case "UPDATED_OLD":
		out.Attributes = pick(old, touched)
	case "UPDATED_NEW":
		out.Attributes = pick(nv, touched)
	}
	if len(out.Attributes) == 0 {
		out.Attributes = nil
	}
	return out, nil
}

// pick keeps the values at the given paths.
func pick(it item, paths []docPath) item {
	if it == nil {
		return nil
	}
	return project(it, paths)
}

func prepareUpdate(t *tableMeta, rawKey item, updExpr *string, attrUpdates map[string]dynamodbapi.AttributeValueUpdate,
	condExpr *string, expected map[string]dynamodbapi.ExpectedAttributeValue, op *dynamodbapi.ConditionalOperator,
	names map[string]string, values map[string]av) (*writeOp, []docPath, error) {
	var extra []string
	if updExpr != nil {
		extra = append(extra, "UpdateExpression")
	}
	p := conditionParams(condExpr, expected, op, names, values, extra...)
	if attrUpdates != nil {
		p.legacy = append([]string{"AttributeUpdates"}, p.legacy...)
	}
	key, err := t.checkKey(rawKey)
	if err != nil {
		return nil, nil, err
	}
	ctx, err := p.context()
	if err != nil {
		return nil, nil, err
	}
	w := &writeOp{t: t, key: key}
	hash, rng := t.keys()
	isKey := func(n string) bool { return n == hash || n == rng && rng != "" }
	var touched []docPath
	switch {
	case updExpr != nil:
		u, err := parseUpdate(*updExpr, ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, target := range u.targets() {
			if isKey(target[0].name) {
				return nil, nil, validationError("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", target[0].name)
			}
		}
		touched = u.targets()
		w.upd = u.apply
	case attrUpdates != nil:
		lu := legacyUpdate(attrUpdates)
		for n := range lu {
			if isKey(n) {
				return nil, nil, validationError("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", n)
			}
			touched = append(touched, docPath{{name: n}})
		}
		if err := lu.check(); err != nil {
			return nil, nil, err
		}
		w.upd = lu.apply
	default:
		// No update: the item is created with its key if it is missing.
		w.upd = func(old item) (item, error) { return cloneItem2(old), nil }
	}
	w.cond, err = buildCondition(ctx, condExpr, expected, op)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.checkUnused(); err != nil {
		return nil, nil, err
	}
	return w, touched, nil
}

func cloneItem2(it item) item {
	if it == nil {
		return item{}
	}
	return cloneItem(it)
}

func (s *Service) getItemOp(ctx context.Context, in *dynamodbapi.GetItemInput) (*dynamodbapi.GetItemOutput, error) {
	t, err := s.table(ctx, awsproto.Value(in.TableName))
	if err != nil {
		return nil, err
	}
	key, err := t.checkKey(in.Key)
	if err != nil {
		return nil, err
	}
	proj, err := projection(in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames)
	if err != nil {
		return nil, err
	}
	st, err := s.getItem(ctx, t, key)
	if err != nil {
		return nil, err
	}
	out := &dynamodbapi.GetItemOutput{}
	if st.item != nil {
		out.Item = project(st.item, proj)
	}
	return out, nil
}

// projection parses ProjectionExpression or AttributesToGet (nil: all).
func projection(expr *string, attrs []string, names map[string]string) ([]docPath, error) {
	if expr != nil && attrs != nil {
		return nil, validationError("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	}
	if attrs != nil {
		if names != nil {
			return nil, validationError("ExpressionAttributeNames can only be specified when using expressions")
		}
		var out []docPath
		seen := map[string]bool{}
		for _, a := range attrs {
			if seen[a] {
				return nil, validationError("One or more parameter values were invalid: Duplicate value in attribute name: %s", a)
			}
			seen[a] = true
			out = append(out, docPath{{name: a}})
		}
		return out, nil
	}
	if expr == nil {
		if names != nil {
			return nil, validationError("ExpressionAttributeNames can only be specified when using expressions")
		}
		return nil, nil
	}
	ctx, err := exprParams{names: names, exprNames: []string{"ProjectionExpression"}}.context()
	if err != nil {
		return nil, err
	}
	paths, err := parseProjection(*expr, ctx)
	if err != nil {
		return nil, err
	}
	if err := ctx.checkUnused(); err != nil {
		return nil, err
	}
	return paths, nil
}

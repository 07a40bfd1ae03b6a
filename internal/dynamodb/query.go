package dynamodb

import (
	"context"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

// maxPageBytes is the 1 MB a Query or Scan page reads at most.
const maxPageBytes = 1 << 20

// entry is an item with its position in a table's or an index's order.
type entry struct {
	pos  string
	it   item
	size int
}

// view is what a read goes through: the table, or one of its indexes.
type view struct {
	t   *tableMeta
	idx *indexMeta // nil: the table
}

func (s *Service) view(t *tableMeta, indexName *string) (view, error) {
	if indexName == nil {
		return view{t: t}, nil
	}
	idx := t.index(*indexName)
	if idx == nil {
		return view{}, validationError("The table does not have the specified index: %s", *indexName)
	}
	return view{t: t, idx: idx}, nil
}

func (v view) keys() (string, string) {
	if v.idx == nil {
		return v.t.keys()
	}
	return keyNames(v.idx.KeySchema)
}

// pos is an item's position: index keys (for an index) then the table's
// primary key, each encoded order-preserving.
func (v view) pos(it item) (string, bool) {
	th, tr := v.t.keys()
	parts := []string{}
	names := []string{th, tr}
	if v.idx != nil {
		ih, ir := v.keys()
		names = append([]string{ih, ir}, names...)
	}
	for _, n := range names {
		if n == "" {
			parts = append(parts, "")
			continue
		}
		val, ok := it[n]
		if !ok {
			return "", false
		}
		parts = append(parts, encodeKeyValue(&val))
	}
	return strings.Join(parts, "/"), true
}

// lastKey is the LastEvaluatedKey of an item: table key plus index key.
func (v view) lastKey(it item) item {
	k := v.t.keyOf(it)
	if v.idx != nil {
		ih, ir := v.keys()
		k[ih] = it[ih]
		if ir != "" {
			k[ir] = it[ir]
		}
	}
	return k
}

// startPos checks an ExclusiveStartKey and returns its position.
func (v view) startPos(k item) (string, error) {
	if k == nil {
		return "", nil
	}
	norm, err := normalizeItem(k)
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	th, tr := v.t.keys()
	want[th] = true
	if tr != "" {
		want[tr] = true
	}
	if v.idx != nil {
		ih, ir := v.keys()
		want[ih] = true
		if ir != "" {
			want[ir] = true
		}
	}
	if len(norm) != len(want) {
		return "", validationError("The provided starting key is invalid: The provided key element does not match the schema")
	}
	for n := range want {
		val, ok := norm[n]
		if !ok || typeOf(&val) != v.t.attrType(n) {
			return "", validationError("The provided starting key is invalid: The provided key element does not match the schema")
		}
	}
	p, _ := v.pos(norm)
	return p, nil
}

// project applies the index projection to an item.
func (v view) project(it item) item {
	if v.idx == nil {
		return it
	}
	pt := string(awsproto.Value(v.idx.Projection.ProjectionType))
	if pt == "ALL" {
		return it
	}
	keep := map[string]bool{}
	th, tr := v.t.keys()
	ih, ir := v.keys()
	for _, n := range []string{th, tr, ih, ir} {
		keep[n] = true
	}
	if pt == "INCLUDE" {
		for _, n := range v.idx.Projection.NonKeyAttributes {
			keep[n] = true
		}
	}
	out := item{}
	for n, val := range it {
		if keep[n] {
			out[n] = val
		}
	}
	return out
}

// entries lists the items a read sees, in order: those under prefix (the
// table's data prefix, or one partition of it) that the view holds.
func (s *Service) entries(ctx context.Context, v view, prefix string) ([]entry, error) {
	kvs, err := s.cat.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(kvs))
	for _, kv := range kvs {
		it, err := decodeItem(kv.Value)
		if err != nil {
			return nil, internalError("item %s: %v", kv.Key, err)
		}
		p, ok := v.pos(it)
		if !ok {
			continue // not in a sparse index
		}
		out = append(out, entry{pos: p, it: v.project(it), size: len(kv.Value)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos < out[j].pos })
	return out, nil
}

// readParams are the parts Scan and Query share.
type readParams struct {
	filter  cond
	proj    []docPath
	count   bool
	limit   int
	start   string
	forward bool
}

type page struct {
	items   []item
	count   int
	scanned int
	last    item
}

// readPage walks entries from the start position and builds one page.
func readPage(v view, es []entry, rp readParams, keep func(entry) (bool, error)) (page, error) {
	var pg page
	if !rp.forward {
		for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
			es[i], es[j] = es[j], es[i]
		}
	}
	bytes := 0
	for _, e := range es {
		if rp.start != "" {
			if rp.forward && e.pos <= rp.start || !rp.forward && e.pos >= rp.start {
				continue
			}
		}
		ok, err := keep(e)
		if err != nil {
			return page{}, err
		}
		if !ok {
			continue
		}
		pg.scanned++
		bytes += e.size
		match := true
		if rp.filter != nil {
			if match, err = rp.filter.holds(e.it); err != nil {
				return page{}, err
			}
		}
		if match {
			pg.count++
			if !rp.count {
				pg.items = append(pg.items, project(e.it, rp.proj))
			}
		}
		if rp.limit > 0 && pg.scanned == rp.limit || bytes >= maxPageBytes {
			pg.last = v.lastKey(e.it)
			break
		}
	}
	return pg, nil
}

// readInputs validates the parameters common to Scan and Query.
func readInputs(v view, kind string, sel *dynamodbapi.Select, consistent *bool, limit *int32,
	filterExpr *string, legacyFilter map[string]dynamodbapi.Condition, op *dynamodbapi.ConditionalOperator,
	projExpr *string, attrs []string, names map[string]string, values map[string]av,
	keyExpr *string, keyConds map[string]dynamodbapi.Condition, start item) (readParams, *exprContext, error) {
	rp := readParams{forward: true}
	if v.idx != nil && v.t.isGSI(v.idx.Name) && awsproto.Value(consistent) {
		return rp, nil, validationError("Consistent reads are not supported on global secondary indexes")
	}
	p := exprParams{names: names, values: values}
	if keyExpr != nil {
		p.exprNames = append(p.exprNames, "KeyConditionExpression")
		p.hasValues = true
	}
	if filterExpr != nil {
		p.exprNames = append(p.exprNames, "FilterExpression")
		p.hasValues = true
	}
	if projExpr != nil {
		p.exprNames = append(p.exprNames, "ProjectionExpression")
	}
	if attrs != nil {
		p.legacy = append(p.legacy, "AttributesToGet")
	}
	if keyConds != nil {
		p.legacy = append(p.legacy, "KeyConditions")
	}
	if legacyFilter != nil {
		p.legacy = append(p.legacy, kind+"Filter")
	}
	if op != nil {
		p.legacy = append(p.legacy, "ConditionalOperator")
	}
	ctx, err := p.context()
	if err != nil {
		return rp, nil, err
	}
	if filterExpr != nil {
		if rp.filter, err = parseCondition("FilterExpression", *filterExpr, ctx); err != nil {
			return rp, nil, err
		}
	} else if legacyFilter != nil {
		if rp.filter, err = filterCondition(legacyFilter, op); err != nil {
			return rp, nil, err
		}
	}
	switch {
	case projExpr != nil:
		if rp.proj, err = parseProjection(*projExpr, ctx); err != nil {
			return rp, nil, err
		}
	case attrs != nil:
		for _, a := range attrs {
			rp.proj = append(rp.proj, docPath{{name: a}})
		}
	}
	if sel != nil {
		switch *sel {
		case "COUNT":
			if rp.proj != nil {
				return rp, nil, validationError("Cannot specify the AttributesToGet when choosing to get only the Count")
			}
			rp.count = true
		case "SPECIFIC_ATTRIBUTES":
			if rp.proj == nil {
				return rp, nil, validationError("Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
			}
		case "ALL_PROJECTED_ATTRIBUTES":
			if v.idx == nil {
				return rp, nil, validationError("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
			}
		case "ALL_ATTRIBUTES":
			if rp.proj != nil {
				return rp, nil, validationError("Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES")
			}
		}
	}
	if limit != nil {
		rp.limit = int(*limit)
	}
	if rp.start, err = v.startPos(start); err != nil {
		return rp, nil, err
	}
	return rp, ctx, nil
}

func (s *Service) scan(ctx context.Context, in *dynamodbapi.ScanInput) (*dynamodbapi.ScanOutput, error) {
	t, err := s.table(ctx, awsproto.Value(in.TableName))
	if err != nil {
		return nil, err
	}
	v, err := s.view(t, in.IndexName)
	if err != nil {
		return nil, err
	}
	total, segment := 0, 0
	switch {
	case in.Segment != nil && in.TotalSegments == nil:
		return nil, validationError("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	case in.Segment == nil && in.TotalSegments != nil:
		return nil, validationError("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
	case in.Segment != nil:
		total, segment = int(*in.TotalSegments), int(*in.Segment)
		if segment >= total {
			return nil, validationError("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", segment, total)
		}
	}
	rp, ectx, err := readInputs(v, "Scan", in.Select, in.ConsistentRead, in.Limit, in.FilterExpression, in.ScanFilter, in.ConditionalOperator,
		in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames, in.ExpressionAttributeValues, nil, nil, in.ExclusiveStartKey)
	if err != nil {
		return nil, err
	}
	if err := ectx.checkUnused(); err != nil {
		return nil, err
	}
	es, err := s.entries(ctx, v, t.dataPrefix())
	if err != nil {
		return nil, err
	}
	hashName, _ := v.keys()
	pg, err := readPage(v, es, rp, func(e entry) (bool, error) {
		if total <= 1 {
			return true, nil
		}
		hv := e.it[hashName]
		h := fnv.New32a()
		h.Write([]byte(encodeKeyValue(&hv)))
		return int(h.Sum32()%uint32(total)) == segment, nil
	})
	if err != nil {
		return nil, err
	}
	out := &dynamodbapi.ScanOutput{
		Count: awsproto.Ptr(int32(pg.count)), ScannedCount: awsproto.Ptr(int32(pg.scanned)),
		LastEvaluatedKey: pg.last,
	}
	if !rp.count {
		out.Items = pg.items
		if out.Items == nil {
			out.Items = []map[string]av{}
		}
	}
	return out, nil
}

// keyCondition is a Query's key condition: the partition key value and an
// optional sort-key condition.
type keyCondition struct {
	hash  av
	sortC cond
}

func (s *Service) query(ctx context.Context, in *dynamodbapi.QueryInput) (*dynamodbapi.QueryOutput, error) {
	t, err := s.table(ctx, awsproto.Value(in.TableName))
	if err != nil {
		return nil, err
	}
	v, err := s.view(t, in.IndexName)
	if err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == nil && in.KeyConditions == nil {
		return nil, validationError("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	rp, ectx, err := readInputs(v, "Query", in.Select, in.ConsistentRead, in.Limit, in.FilterExpression, in.QueryFilter, in.ConditionalOperator,
		in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames, in.ExpressionAttributeValues, in.KeyConditionExpression, in.KeyConditions, in.ExclusiveStartKey)
	if err != nil {
		return nil, err
	}
	hashName, rangeName := v.keys()
	var conds []cond
	if in.KeyConditionExpression != nil {
		c, err := parseCondition("KeyConditionExpression", *in.KeyConditionExpression, ectx)
		if err != nil {
			return nil, err
		}
		if conds, err = flattenKeyCondition(c); err != nil {
			return nil, err
		}
	} else {
		for _, n := range sortedConditionNames(in.KeyConditions) {
			kc := in.KeyConditions[n]
			c, err := legacyComparison(n, string(awsproto.Value(kc.ComparisonOperator)), kc.AttributeValueList)
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		}
	}
	if err := ectx.checkUnused(); err != nil {
		return nil, err
	}
	kc, err := analyzeKeyCondition(conds, hashName, rangeName)
	if err != nil {
		return nil, err
	}
	if want := t.attrType(hashName); typeOf(&kc.hash) != want {
		return nil, validationError("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		rp.forward = false
	}
	prefix := t.dataPrefix()
	if v.idx == nil {
		prefix += encodeKeyValue(&kc.hash) + "/"
	}
	es, err := s.entries(ctx, v, prefix)
	if err != nil {
		return nil, err
	}
	pg, err := readPage(v, es, rp, func(e entry) (bool, error) {
		hv := e.it[hashName]
		if !equalValues(&hv, &kc.hash) {
			return false, nil
		}
		if kc.sortC == nil {
			return true, nil
		}
		return kc.sortC.holds(e.it)
	})
	if err != nil {
		return nil, err
	}
	out := &dynamodbapi.QueryOutput{
		Count: awsproto.Ptr(int32(pg.count)), ScannedCount: awsproto.Ptr(int32(pg.scanned)),
		LastEvaluatedKey: pg.last,
	}
	if !rp.count {
		out.Items = pg.items
		if out.Items == nil {
			out.Items = []map[string]av{}
		}
	}
	return out, nil
}

func sortedConditionNames(m map[string]dynamodbapi.Condition) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// flattenKeyCondition splits a key condition into its AND-ed parts; OR and
// NOT are not allowed there.
func flattenKeyCondition(c cond) ([]cond, error) {
	switch x := c.(type) {
	case andCond:
		a, err := flattenKeyCondition(x.a)
		if err != nil {
			return nil, err
		}
		b, err := flattenKeyCondition(x.b)
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	case orCond:
		return nil, validationError("Invalid operator used in KeyConditionExpression: OR")
	case notCond:
		return nil, validationError("Invalid operator used in KeyConditionExpression: NOT")
	case inCond:
		return nil, validationError("Invalid operator used in KeyConditionExpression: IN")
	case funcCond:
		if x.name != "begins_with" {
			return nil, validationError("Invalid operator used in KeyConditionExpression: %s", x.name)
		}
	case cmpCond:
		if x.op == "<>" {
			return nil, validationError("Unsupported operator in KeyConditionExpression: <>")
		}
	}
	return []cond{c}, nil
}

// analyzeKeyCondition finds the partition-key equality and the sort-key
// condition among the parts.
func analyzeKeyCondition(conds []cond, hashName, rangeName string) (keyCondition, error) {
	var kc keyCondition
	if len(conds) > 2 {
		return kc, validationError("Conditions can be of length 1 or 2 only")
	}
	haveHash := false
	for _, c := range conds {
		name, val, ok := keyConditionParts(c)
		if !ok {
			return kc, validationError("Query key condition not supported")
		}
		switch name {
		case hashName:
			cc, isCmp := c.(cmpCond)
			if !isCmp || cc.op != "=" || haveHash {
				return kc, validationError("Query key condition not supported")
			}
			kc.hash, haveHash = val, true
		case rangeName:
			if rangeName == "" || kc.sortC != nil {
				return kc, validationError("Query key condition not supported")
			}
			kc.sortC = c
		default:
			return kc, validationError("Query condition missed key schema element: %s", missingKey(haveHash, hashName, rangeName))
		}
	}
	if !haveHash {
		return kc, validationError("Query condition missed key schema element: %s", hashName)
	}
	return kc, nil
}

func missingKey(haveHash bool, hashName, rangeName string) string {
	if !haveHash || rangeName == "" {
		return hashName
	}
	return rangeName
}

// keyConditionParts returns the attribute a key condition part is on and
// (for comparisons) the value it compares with.
func keyConditionParts(c cond) (string, av, bool) {
	single := func(o operand) (string, bool) {
		p, ok := o.(pathOperand)
		if !ok || len(p.path) != 1 || p.path[0].isIndex {
			return "", false
		}
		return p.path[0].name, true
	}
	switch x := c.(type) {
	case cmpCond:
		if n, ok := single(x.a); ok {
			if v, ok := x.b.(valueOperand); ok {
				return n, v.v, true
			}
		}
		if n, ok := single(x.b); ok {
			if v, ok := x.a.(valueOperand); ok {
				return n, v.v, true
			}
		}
	case betweenCond:
		if n, ok := single(x.v); ok {
			return n, av{}, true
		}
	case funcCond:
		if len(x.path) == 1 && !x.path[0].isIndex {
			return x.path[0].name, av{}, true
		}
	}
	return "", av{}, false
}

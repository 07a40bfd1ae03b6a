package format

import (
	"fmt"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// node is one column or nested field of the schema, with the Parquet leaf
// columns under it. Every value is optional (Hive columns are nullable)
// except a map's key.
type node struct {
	name     string
	typ      *hiveType
	col      int     // leaf column index, for a primitive
	leaves   []int   // every leaf column under this node
	children []*node // struct fields in Parquet's order; [elem]; [key, value]
}

// buildNodes makes the schema tree and the Parquet schema for columns.
// parquet.Group orders fields by name, so children are sorted the same way
// and leaf indexes follow that order.
func buildNodes(columns []*node) (*parquet.Schema, []*node, error) {
	group := parquet.Group{}
	for _, c := range columns {
		group[c.name] = parquet.Optional(parquetNode(c.typ))
	}
	schema := parquet.NewSchema("schema", group)
	slices.SortFunc(columns, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	next := 0
	for _, c := range columns {
		assignLeaves(c, &next)
	}
	// The leaf order must be parquet-go's; check rather than trust.
	if got := len(schema.Columns()); got != next {
		return nil, nil, fmt.Errorf("schema has %d leaf columns, expected %d", got, next)
	}
	return schema, columns, nil
}

func newNode(name string, t *hiveType) *node {
	n := &node{name: name, typ: t}
	switch t.kind {
	case kindArray:
		n.children = []*node{newNode("element", t.elem)}
	case kindMap:
		n.children = []*node{newNode("key", t.key), newNode("value", t.value)}
	case kindStruct:
		for _, f := range t.fields {
			n.children = append(n.children, newNode(f.name, f.typ))
		}
		slices.SortFunc(n.children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	}
	return n
}

func assignLeaves(n *node, next *int) {
	if len(n.children) == 0 {
		n.col = *next
		n.leaves = []int{*next}
		*next++
		return
	}
	for _, c := range n.children {
		assignLeaves(c, next)
		n.leaves = append(n.leaves, c.leaves...)
	}
}

// parquetNode is the Parquet type of a Hive type (without its
// optionality).
func parquetNode(t *hiveType) parquet.Node {
	switch t.kind {
	case kindString:
		return parquet.String()
	case kindBinary:
		return parquet.Leaf(parquet.ByteArrayType)
	case kindTinyint:
		return parquet.Int(8)
	case kindSmallint:
		return parquet.Int(16)
	case kindInt:
		return parquet.Int(32)
	case kindBigint:
		return parquet.Int(64)
	case kindFloat:
		return parquet.Leaf(parquet.FloatType)
	case kindDouble:
		return parquet.Leaf(parquet.DoubleType)
	case kindBoolean:
		return parquet.Leaf(parquet.BooleanType)
	case kindTimestamp:
		return parquet.Timestamp(parquet.Millisecond)
	case kindDate:
		return parquet.Date()
	case kindDecimal:
		switch {
		case t.precision <= 9:
			return parquet.Decimal(t.scale, t.precision, parquet.Int32Type)
		case t.precision <= 18:
			return parquet.Decimal(t.scale, t.precision, parquet.Int64Type)
		}
		return parquet.Decimal(t.scale, t.precision, parquet.FixedLenByteArrayType(decimalBytes(t.precision)))
	case kindArray:
		return parquet.List(parquet.Optional(parquetNode(t.elem)))
	case kindMap:
		return parquet.Map(parquetNode(t.key), parquet.Optional(parquetNode(t.value)))
	case kindStruct:
		g := parquet.Group{}
		for _, f := range t.fields {
			g[f.name] = parquet.Optional(parquetNode(f.typ))
		}
		return g
	}
	panic("unreachable")
}

// shredder turns one JSON object into the values of one Parquet row,
// with the repetition and definition levels of the Dremel encoding.
type shredder struct {
	d       *deserializer
	columns [][]parquet.Value // per leaf column
}

func (s *shredder) reset() {
	for i := range s.columns {
		s.columns[i] = s.columns[i][:0]
	}
}

func (s *shredder) row(dst parquet.Row) parquet.Row {
	for _, c := range s.columns {
		dst = append(dst, c...)
	}
	return dst
}

func (s *shredder) nulls(n *node, rep, def int) {
	for _, c := range n.leaves {
		s.columns[c] = append(s.columns[c], parquet.NullValue().Level(rep, def, c))
	}
}

// optional writes an optional node: null, or its value one definition
// level deeper.
func (s *shredder) optional(n *node, v any, path string, rep, def, depth int) error {
	if v == nil {
		s.nulls(n, rep, def)
		return nil
	}
	return s.value(n, v, path, rep, def+1, depth)
}

func (s *shredder) value(n *node, v any, path string, rep, def, depth int) error {
	switch n.typ.kind {
	case kindStruct:
		obj, ok := v.(map[string]any)
		if !ok {
			return &fieldError{path, fmt.Errorf("a JSON %s does not fit a struct column", jsonKind(v))}
		}
		fields, err := s.d.fields(obj)
		if err != nil {
			return &fieldError{path, err}
		}
		for _, c := range n.children {
			if err := s.optional(c, fields[c.name], path+"."+c.name, rep, def, depth); err != nil {
				return err
			}
		}
		return nil
	case kindArray:
		arr, ok := v.([]any)
		if !ok {
			return &fieldError{path, fmt.Errorf("a JSON %s does not fit an array column", jsonKind(v))}
		}
		if len(arr) == 0 {
			s.nulls(n, rep, def)
			return nil
		}
		for i, e := range arr {
			r := rep
			if i > 0 {
				r = depth + 1
			}
			if err := s.optional(n.children[0], e, fmt.Sprintf("%s[%d]", path, i), r, def+1, depth+1); err != nil {
				return err
			}
		}
		return nil
	case kindMap:
		obj, ok := v.(map[string]any)
		if !ok {
			return &fieldError{path, fmt.Errorf("a JSON %s does not fit a map column", jsonKind(v))}
		}
		if len(obj) == 0 {
			s.nulls(n, rep, def)
			return nil
		}
		// Map keys are written sorted, so equal input gives equal files.
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			r := rep
			if i > 0 {
				r = depth + 1
			}
			kp := path + "[" + k + "]"
			var key any = k
			switch n.children[0].typ.kind {
			case kindString, kindBinary, kindDate, kindTimestamp, kindBoolean:
			default:
				// Numeric keys arrive as the object's key strings.
				key = jsonNumber(k)
			}
			kv, err := s.d.leafValue(n.children[0].typ, key)
			if err != nil {
				return &fieldError{kp, err}
			}
			c := n.children[0].col
			s.columns[c] = append(s.columns[c], kv.Level(r, def+1, c))
			if err := s.optional(n.children[1], obj[k], kp, r, def+1, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	pv, err := s.d.leafValue(n.typ, v)
	if err != nil {
		return &fieldError{path, err}
	}
	s.columns[n.col] = append(s.columns[n.col], pv.Level(rep, def, n.col))
	return nil
}

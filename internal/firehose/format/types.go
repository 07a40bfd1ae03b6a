package format

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is a Hive column type without its parameters.
type kind int

const (
	kindString kind = iota
	kindBinary
	kindTinyint
	kindSmallint
	kindInt
	kindBigint
	kindFloat
	kindDouble
	kindBoolean
	kindTimestamp
	kindDate
	kindDecimal
	kindArray
	kindMap
	kindStruct
)

// hiveType is a parsed Glue/Hive column type such as
// "array<struct<id:bigint,tags:map<string,string>>>".
type hiveType struct {
	kind      kind
	precision int // decimal
	scale     int // decimal
	elem      *hiveType
	key       *hiveType
	value     *hiveType
	fields    []structField // struct, in declaration order
}

type structField struct {
	name string
	typ  *hiveType
}

// Hive's defaults for a bare "decimal".
const (
	defaultDecimalPrecision = 10
	maxDecimalPrecision     = 38
)

// parseType parses a Hive type as Glue stores it in a column's Type.
func parseType(s string) (*hiveType, error) {
	p := &typeParser{src: s}
	t, err := p.parse()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at offset %d of type %q", p.src[p.pos:], p.pos, s)
	}
	return t, nil
}

type typeParser struct {
	src   string
	pos   int
	depth int
}

// maxTypeDepth bounds nesting: Parquet's repetition and definition
// levels are bytes, and each nested type adds up to two.
const maxTypeDepth = 64

func (p *typeParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
}

func (p *typeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("type %q, offset %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

// word reads an identifier: letters, digits and underscores, or a name in
// backquotes (Hive quotes struct field names that are keywords).
func (p *typeParser) word() string {
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == '`' {
		end := strings.IndexByte(p.src[p.pos+1:], '`')
		if end < 0 {
			return ""
		}
		w := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return w
	}
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *typeParser) expect(c byte) error {
	p.space()
	if p.pos >= len(p.src) || p.src[p.pos] != c {
		return p.errorf("expected %q", string(c))
	}
	p.pos++
	return nil
}

func (p *typeParser) peek(c byte) bool {
	p.space()
	return p.pos < len(p.src) && p.src[p.pos] == c
}

func (p *typeParser) number() (int, error) {
	p.space()
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	n, err := strconv.Atoi(p.src[start:p.pos])
	if err != nil {
		return 0, p.errorf("expected a number")
	}
	return n, nil
}

func (p *typeParser) parse() (*hiveType, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxTypeDepth {
		return nil, p.errorf("types nest more than %d deep", maxTypeDepth)
	}
	name := strings.ToLower(p.word())
	switch name {
	case "string":
		return &hiveType{kind: kindString}, nil
	case "varchar", "char":
		// varchar(n) and char(n) are strings to Parquet; the length is
		// Hive's to enforce when it reads.
		if err := p.expect('('); err != nil {
			return nil, err
		}
		if _, err := p.number(); err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return &hiveType{kind: kindString}, nil
	case "binary":
		return &hiveType{kind: kindBinary}, nil
	case "tinyint":
		return &hiveType{kind: kindTinyint}, nil
	case "smallint":
		return &hiveType{kind: kindSmallint}, nil
	case "int", "integer":
		return &hiveType{kind: kindInt}, nil
	case "bigint":
		return &hiveType{kind: kindBigint}, nil
	case "float":
		return &hiveType{kind: kindFloat}, nil
	case "double":
		return &hiveType{kind: kindDouble}, nil
	case "boolean":
		return &hiveType{kind: kindBoolean}, nil
	case "timestamp":
		return &hiveType{kind: kindTimestamp}, nil
	case "date":
		return &hiveType{kind: kindDate}, nil
	case "decimal", "numeric":
		t := &hiveType{kind: kindDecimal, precision: defaultDecimalPrecision}
		if p.peek('(') {
			p.pos++
			var err error
			if t.precision, err = p.number(); err != nil {
				return nil, err
			}
			if p.peek(',') {
				p.pos++
				if t.scale, err = p.number(); err != nil {
					return nil, err
				}
			}
			if err := p.expect(')'); err != nil {
				return nil, err
			}
		}
		if t.precision < 1 || t.precision > maxDecimalPrecision {
			return nil, p.errorf("decimal precision %d is outside 1..%d", t.precision, maxDecimalPrecision)
		}
		if t.scale > t.precision {
			return nil, p.errorf("decimal scale %d is larger than its precision %d", t.scale, t.precision)
		}
		return t, nil
	case "array":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		elem, err := p.parse()
		if err != nil {
			return nil, err
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return &hiveType{kind: kindArray, elem: elem}, nil
	case "map":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		key, err := p.parse()
		if err != nil {
			return nil, err
		}
		switch key.kind {
		case kindArray, kindMap, kindStruct:
			return nil, p.errorf("a map's key must be a primitive type")
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		value, err := p.parse()
		if err != nil {
			return nil, err
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return &hiveType{kind: kindMap, key: key, value: value}, nil
	case "struct":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		t := &hiveType{kind: kindStruct}
		seen := map[string]bool{}
		for {
			name := strings.ToLower(p.word())
			if name == "" {
				return nil, p.errorf("expected a struct field name")
			}
			if seen[name] {
				return nil, p.errorf("struct field %q appears twice", name)
			}
			seen[name] = true
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			ft, err := p.parse()
			if err != nil {
				return nil, err
			}
			t.fields = append(t.fields, structField{name: name, typ: ft})
			if p.peek(',') {
				p.pos++
				continue
			}
			break
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return t, nil
	case "":
		return nil, p.errorf("expected a type")
	default:
		return nil, p.errorf("unsupported type %q (supported: string, varchar(n), char(n), binary, tinyint, smallint, int, bigint, float, double, boolean, timestamp, date, decimal(p,s), array<T>, map<K,V>, struct<name:T,...>)", name)
	}
}

package dynamodb

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

// av is an attribute value as the wire carries it.
type av = dynamodbapi.AttributeValue

// item is a whole item: attribute name to value.
type item = map[string]av

// Attribute type names, as DynamoDB spells them in schemas and in
// attribute_type.
const (
	typeS    = "S"
	typeN    = "N"
	typeB    = "B"
	typeSS   = "SS"
	typeNS   = "NS"
	typeBS   = "BS"
	typeL    = "L"
	typeM    = "M"
	typeBOOL = "BOOL"
	typeNULL = "NULL"
)

// typeOf names the one type a value carries, or "" when it carries none or
// several (validateValue rejects those).
func typeOf(v *av) string {
	var t string
	n := 0
	set := func(ok bool, name string) {
		if ok {
			n++
			t = name
		}
	}
	set(v.S != nil, typeS)
	set(v.N != nil, typeN)
	set(v.B != nil, typeB)
	set(v.SS != nil, typeSS)
	set(v.NS != nil, typeNS)
	set(v.BS != nil, typeBS)
	set(v.L != nil, typeL)
	set(v.M != nil, typeM)
	set(v.BOOL != nil, typeBOOL)
	set(v.NULL != nil, typeNULL)
	if n != 1 {
		return ""
	}
	return t
}

// operandTypeName is the name DynamoDB uses in "operand type" messages.
func operandTypeName(t string) string {
	switch t {
	case typeS:
		return "STRING"
	case typeN:
		return "NUMBER"
	case typeB:
		return "BINARY"
	case typeSS:
		return "STRING SET"
	case typeNS:
		return "NUMBER SET"
	case typeBS:
		return "BINARY SET"
	case typeL:
		return "LIST"
	case typeM:
		return "MAP"
	case typeBOOL:
		return "BOOLEAN"
	case typeNULL:
		return "NULL"
	}
	return t
}

func validationError(format string, args ...any) error {
	return apiErr(codeValidation, format, args...)
}

// normalizeValue checks a value as DynamoDB does on input and returns it
// with numbers in canonical form and sets without reordering.
func normalizeValue(v av) (av, error) {
	switch typeOf(&v) {
	case "":
		for _, ok := range []bool{v.S != nil, v.N != nil, v.B != nil, v.SS != nil, v.NS != nil, v.BS != nil, v.L != nil, v.M != nil, v.BOOL != nil, v.NULL != nil} {
			if ok {
				return av{}, validationError("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
		}
		return av{}, validationError("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	case typeN:
		n, err := parseNumber(*v.N)
		if err != nil {
			return av{}, numberError(err)
		}
		s := n.String()
		return av{N: &s}, nil
	case typeNS:
		if len(v.NS) == 0 {
			return av{}, validationError("One or more parameter values were invalid: An number set  may not be empty")
		}
		out := make([]string, len(v.NS))
		seen := map[string]bool{}
		for i, s := range v.NS {
			n, err := parseNumber(s)
			if err != nil {
				return av{}, numberError(err)
			}
			out[i] = n.String()
			if seen[out[i]] {
				return av{}, validationError("Input collection %s contains duplicates.", collection(v.NS))
			}
			seen[out[i]] = true
		}
		return av{NS: out}, nil
	case typeSS:
		if len(v.SS) == 0 {
			return av{}, validationError("One or more parameter values were invalid: An string set  may not be empty")
		}
		seen := map[string]bool{}
		for _, s := range v.SS {
			if seen[s] {
				return av{}, validationError("Input collection %s contains duplicates.", collection(v.SS))
			}
			seen[s] = true
		}
	case typeBS:
		if len(v.BS) == 0 {
			return av{}, validationError("One or more parameter values were invalid: Binary sets should not be empty")
		}
		seen := map[string]bool{}
		for _, b := range v.BS {
			if seen[string(b)] {
				return av{}, validationError("Input collection contains duplicates.")
			}
			seen[string(b)] = true
		}
	case typeNULL:
		if !*v.NULL {
			return av{}, validationError("One or more parameter values were invalid: Null attribute value types must have the value of true")
		}
	case typeL:
		out := make([]av, len(v.L))
		for i, e := range v.L {
			n, err := normalizeValue(e)
			if err != nil {
				return av{}, err
			}
			out[i] = n
		}
		return av{L: out}, nil
	case typeM:
		out := make(map[string]av, len(v.M))
		for k, e := range v.M {
			n, err := normalizeValue(e)
			if err != nil {
				return av{}, err
			}
			out[k] = n
		}
		return av{M: out}, nil
	}
	return v, nil
}

func numberError(err error) error {
	if err == errNumberSyntax {
		return validationError("A value provided cannot be converted into a number")
	}
	return validationError("%s", err.Error())
}

func collection(ss []string) string { return "[" + strings.Join(ss, ", ") + "]" }

// normalizeItem validates every attribute of an item.
func normalizeItem(it item) (item, error) {
	out := make(item, len(it))
	for k, v := range it {
		if k == "" {
			return nil, validationError("One or more parameter values were invalid: An AttributeValue may not contain an empty string")
		}
		n, err := normalizeValue(v)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

func mustNumber(v *av) number {
	n, err := parseNumber(*v.N)
	if err != nil {
		panic(fmt.Sprintf("stored number %q does not parse: %v", *v.N, err))
	}
	return n
}

// equalValues compares two values as DynamoDB's = does: same type and same
// value; sets compare as sets, numbers numerically.
func equalValues(a, b *av) bool {
	ta, tb := typeOf(a), typeOf(b)
	if ta != tb || ta == "" {
		return false
	}
	switch ta {
	case typeS:
		return *a.S == *b.S
	case typeN:
		return mustNumber(a).cmp(mustNumber(b)) == 0
	case typeB:
		return bytes.Equal(a.B, b.B)
	case typeBOOL:
		return *a.BOOL == *b.BOOL
	case typeNULL:
		return true
	case typeSS:
		return sameSet(a.SS, b.SS)
	case typeNS:
		return sameSet(canonNumbers(a.NS), canonNumbers(b.NS))
	case typeBS:
		return sameSet(bytesToStrings(a.BS), bytesToStrings(b.BS))
	case typeL:
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !equalValues(&a.L[i], &b.L[i]) {
				return false
			}
		}
		return true
	case typeM:
		if len(a.M) != len(b.M) {
			return false
		}
		for k, va := range a.M {
			vb, ok := b.M[k]
			if !ok || !equalValues(&va, &vb) {
				return false
			}
		}
		return true
	}
	return false
}

func canonNumbers(ns []string) []string {
	out := make([]string, len(ns))
	for i, s := range ns {
		if n, err := parseNumber(s); err == nil {
			out[i] = n.String()
		} else {
			out[i] = s
		}
	}
	return out
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]bool, len(a))
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

// compareValues orders two scalars of the same comparable type (S, N, B);
// ok is false when they cannot be ordered.
func compareValues(a, b *av) (int, bool) {
	ta, tb := typeOf(a), typeOf(b)
	if ta != tb {
		return 0, false
	}
	switch ta {
	case typeS:
		return strings.Compare(*a.S, *b.S), true
	case typeN:
		return mustNumber(a).cmp(mustNumber(b)), true
	case typeB:
		return bytes.Compare(a.B, b.B), true
	}
	return 0, false
}

// valueSize is DynamoDB's size(): string length in bytes, binary length,
// number of elements of sets, lists and maps.
func valueSize(v *av) (int, bool) {
	switch typeOf(v) {
	case typeS:
		return len(*v.S), true
	case typeB:
		return len(v.B), true
	case typeSS:
		return len(v.SS), true
	case typeNS:
		return len(v.NS), true
	case typeBS:
		return len(v.BS), true
	case typeL:
		return len(v.L), true
	case typeM:
		return len(v.M), true
	}
	return 0, false
}

// storedSize approximates DynamoDB's item size accounting: attribute names
// plus values.
func storedSize(it item) int {
	n := 0
	for k, v := range it {
		n += len(k) + valueBytes(&v)
	}
	return n
}

func valueBytes(v *av) int {
	switch typeOf(v) {
	case typeS:
		return len(*v.S)
	case typeN:
		return len(*v.N)/2 + 2
	case typeB:
		return len(v.B)
	case typeSS:
		n := 0
		for _, s := range v.SS {
			n += len(s)
		}
		return n
	case typeNS:
		n := 0
		for _, s := range v.NS {
			n += len(s)/2 + 2
		}
		return n
	case typeBS:
		n := 0
		for _, b := range v.BS {
			n += len(b)
		}
		return n
	case typeL:
		n := 3
		for i := range v.L {
			n += 1 + valueBytes(&v.L[i])
		}
		return n
	case typeM:
		n := 3
		for k, e := range v.M {
			n += 1 + len(k) + valueBytes(&e)
		}
		return n
	}
	return 1
}

// cloneValue deep-copies a value so that updates never alias stored data.
func cloneValue(v av) av {
	switch {
	case v.L != nil:
		l := make([]av, len(v.L))
		for i := range v.L {
			l[i] = cloneValue(v.L[i])
		}
		return av{L: l}
	case v.M != nil:
		m := make(map[string]av, len(v.M))
		for k, e := range v.M {
			m[k] = cloneValue(e)
		}
		return av{M: m}
	case v.SS != nil:
		return av{SS: append([]string(nil), v.SS...)}
	case v.NS != nil:
		return av{NS: append([]string(nil), v.NS...)}
	case v.BS != nil:
		bs := make([][]byte, len(v.BS))
		for i, b := range v.BS {
			bs[i] = append([]byte{}, b...)
		}
		return av{BS: bs}
	case v.B != nil:
		return av{B: append([]byte{}, v.B...)}
	}
	return v
}

func cloneItem(it item) item {
	if it == nil {
		return nil
	}
	out := make(item, len(it))
	for k, v := range it {
		out[k] = cloneValue(v)
	}
	return out
}

func sortedNames(it item) []string {
	names := make([]string, 0, len(it))
	for k := range it {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func strPtr(s string) *string { return &s }

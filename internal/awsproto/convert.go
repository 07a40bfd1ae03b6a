package awsproto

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The messages below are the ones AWS's Java deserializer gives for a value
// of the wrong type, as kinesalite records them (including AWS's "an
// String" and "an Integer").

var (
	timestampType = reflect.TypeFor[Timestamp]()
	bytesType     = reflect.TypeFor[[]byte]()
)

func valueOf(v any) reflect.Value {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("awsproto: Decode needs a non-nil pointer")
	}
	return rv.Elem()
}

// javaName is the Java type AWS names in conversion errors.
func javaName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "Boolean"
	case reflect.Int32, reflect.Int, reflect.Int16, reflect.Int8:
		return "Integer"
	case reflect.Int64:
		return "Long"
	case reflect.Float32, reflect.Float64:
		return "Double"
	case reflect.String:
		return "String"
	}
	return t.Name()
}

// sourceClass is the Java class AWS names for a decoded JSON/CBOR value.
func sourceClass(v any) string {
	switch v.(type) {
	case bool:
		return "class java.lang.Boolean"
	case string:
		return "class java.lang.String"
	case []byte:
		return "class [B"
	case cborMillis:
		return "class java.util.Date"
	}
	return "class java.math.BigDecimal"
}

// structureMismatch is the message for a list or map where a scalar or
// another kind of container was expected.
func structureMismatch(v any) (string, bool) {
	switch v.(type) {
	case map[string]any:
		return "Start of structure or map found where not expected.", true
	case []any:
		return "Start of list found where not expected", true
	}
	return "", false
}

// sortedKeys returns m's keys in order. The decoded tree does not keep the
// members' order in the body; visiting them sorted makes the error reported
// for a body with several bad members the same on every call (SDKs write
// members in the model's order, which is mostly alphabetical).
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func assign(p Protocol, dst reflect.Value, src any) *Error {
	if src == nil {
		return nil // null members are absent members
	}
	t := dst.Type()
	if t == timestampType {
		return assignTimestamp(p, dst, src)
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		if err := assign(p, elem.Elem(), src); err != nil {
			return err
		}
		dst.Set(elem)
		return nil
	case reflect.Struct:
		m, ok := src.(map[string]any)
		if !ok {
			if _, isList := src.([]any); isList {
				return serializationError("Start of list found where not expected")
			}
			return serializationError("Expected null")
		}
		fields := structFields(t)
		for _, k := range sortedKeys(m) {
			idx, ok := fields[k]
			if !ok {
				continue // AWS ignores unknown members
			}
			if err := assign(p, dst.Field(idx), m[k]); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if t == bytesType || t.Elem().Kind() == reflect.Uint8 {
			return assignBlob(p, dst, src)
		}
		list, ok := src.([]any)
		if !ok {
			if _, isMap := src.(map[string]any); isMap {
				return serializationError("Start of structure or map found where not expected.")
			}
			return serializationError("Expected list or null")
		}
		out := reflect.MakeSlice(t, len(list), len(list))
		for i, v := range list {
			if err := assign(p, out.Index(i), v); err != nil {
				return err
			}
		}
		dst.Set(out)
		return nil
	case reflect.Map:
		m, ok := src.(map[string]any)
		if !ok {
			if _, isList := src.([]any); isList {
				return serializationError("Start of list found where not expected")
			}
			return serializationError("Expected map or null")
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range sortedKeys(m) {
			key := reflect.New(t.Key()).Elem()
			key.SetString(k)
			val := reflect.New(t.Elem()).Elem()
			if err := assign(p, val, m[k]); err != nil {
				return err
			}
			out.SetMapIndex(key, val)
		}
		dst.Set(out)
		return nil
	case reflect.String:
		if msg, bad := structureMismatch(src); bad {
			return serializationError(msg)
		}
		s, ok := src.(string)
		if !ok {
			return serializationError(sourceClass(src) + " can not be converted to an String")
		}
		dst.SetString(s)
		return nil
	case reflect.Bool:
		if msg, bad := structureMismatch(src); bad {
			return serializationError(msg)
		}
		switch b := src.(type) {
		case bool:
			dst.SetBool(b)
			return nil
		case string:
			return serializationError("'" + strings.ToUpper(b) + "' can not be converted to an Boolean")
		}
		return serializationError(sourceClass(src) + " can not be converted to an Boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if msg, bad := structureMismatch(src); bad {
			return serializationError(msg)
		}
		n, err := toInt(src, t)
		if err != nil {
			return err
		}
		dst.SetInt(n)
		return nil
	case reflect.Float32, reflect.Float64:
		if msg, bad := structureMismatch(src); bad {
			return serializationError(msg)
		}
		f, err := toFloat(src, t)
		if err != nil {
			return err
		}
		dst.SetFloat(f)
		return nil
	}
	return serializationError("Unsupported member type " + t.String())
}

// toInt converts a JSON or CBOR number to an integer of type t. Fractions
// are dropped toward negative infinity, as AWS does.
func toInt(src any, t reflect.Type) (int64, *Error) {
	name := javaName(t)
	var n *big.Int
	switch v := src.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			n = big.NewInt(i)
			break
		}
		// big.Rat computes 10^exponent exactly (up to 10^1000000, tens of
		// milliseconds and megabytes for an 11-byte number); no integer
		// member needs more than a small exponent, so it is bounded first.
		if len(v.String()) > 400 || !smallExponent(v.String()) {
			return 0, serializationError("Numeric value (" + v.String() + ") out of range of " + strings.ToLower(name[:3]))
		}
		r, ok := new(big.Rat).SetString(v.String())
		if !ok {
			return 0, serializationError("Numeric value (" + v.String() + ") out of range of " + strings.ToLower(name[:3]))
		}
		n = floorRat(r)
	case uint64:
		n = new(big.Int).SetUint64(v)
	case int64:
		n = big.NewInt(v)
	case *big.Int:
		n = v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, serializationError("Numeric value (" + strconv.FormatFloat(v, 'g', -1, 64) + ") out of range of " + strings.ToLower(name[:3]))
		}
		n, _ = big.NewFloat(math.Floor(v)).Int(nil)
	default:
		return 0, serializationError(sourceClass(src) + " can not be converted to an " + name)
	}
	bits := t.Bits()
	min := new(big.Int).Lsh(big.NewInt(-1), uint(bits-1))
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), big.NewInt(1))
	if n.Cmp(min) < 0 || n.Cmp(max) > 0 {
		kind := "int"
		if bits == 64 {
			kind = "long"
		}
		s, _ := numberString(src)
		return 0, serializationError("Numeric value (" + s + ") out of range of " + kind)
	}
	return n.Int64(), nil
}

func floorRat(r *big.Rat) *big.Int {
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int))
	_ = m // DivMod is Euclidean: with a positive denominator q is the floor
	return q
}

func toFloat(src any, t reflect.Type) (float64, *Error) {
	switch v := src.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(v.String(), 64)
		if err != nil {
			return 0, serializationError("Numeric value (" + v.String() + ") out of range of double")
		}
		return f, nil
	case uint64:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, nil
	case float64:
		return v, nil
	}
	return 0, serializationError(sourceClass(src) + " can not be converted to an " + javaName(t))
}

// assignBlob reads a blob: a base64 string in JSON, a byte string in CBOR
// (the Java SDK also accepts base64 text there, so we do too).
func assignBlob(p Protocol, dst reflect.Value, src any) *Error {
	if msg, bad := structureMismatch(src); bad {
		return serializationError(msg)
	}
	switch v := src.(type) {
	case []byte:
		dst.SetBytes(v)
		return nil
	case string:
		b, err := decodeBase64(v)
		if err != nil {
			return err
		}
		dst.SetBytes(b)
		return nil
	case bool:
		return serializationError("class java.lang.Boolean can not be converted to a Blob")
	}
	return serializationError("class java.math.BigDecimal can not be converted to a Blob")
}

// decodeBase64 decodes standard padded base64 with AWS's error messages.
func decodeBase64(s string) ([]byte, *Error) {
	quoted := s
	if len(quoted) > 1024 {
		quoted = quoted[:1024] + "..."
	}
	if len(s)%4 != 0 {
		return nil, serializationError("'" + quoted + "' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: " + strconv.Itoa(len(s)))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
		if c == '=' && (i+1 == len(s) || s[i+1] == '=') {
			ok = true
		}
		if !ok {
			return nil, serializationError("'" + quoted + "' can not be converted to a Blob: Invalid Base64 character: '" + string(rune(c)) + "'")
		}
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		// AWS's own spelling.
		return nil, serializationError("'" + quoted + "' can not be converted to a Blob: Invalid last non-pad Base64 character dectected")
	}
	return b, nil
}

func assignTimestamp(p Protocol, dst reflect.Value, src any) *Error {
	if msg, bad := structureMismatch(src); bad {
		return serializationError(msg)
	}
	var (
		ts  Timestamp
		err error
	)
	switch v := src.(type) {
	case json.Number:
		ts, err = parseEpochSeconds(v.String())
	case cborMillis:
		if p == ProtocolRPCv2CBOR {
			ts, err = timestampFromCBORSeconds(v.content)
		} else {
			ts, err = timestampFromCBOR(v.content)
		}
	case uint64, int64, float64:
		if p == ProtocolRPCv2CBOR {
			ts, err = timestampFromCBORSeconds(v)
		} else if p == ProtocolCBOR {
			ts, err = timestampFromCBOR(v)
		} else {
			err = errBadTimestamp
		}
	default:
		return serializationError(sourceClass(src) + " can not be converted to a Timestamp")
	}
	if err != nil {
		s, _ := numberString(src)
		return serializationError("Value (" + s + ") can not be converted to a Timestamp")
	}
	dst.Set(reflect.ValueOf(ts))
	return nil
}

// fieldCache maps struct types to their member names (from json tags). It
// only memoises what the types themselves declare.
var fieldCache sync.Map // reflect.Type -> map[string]int

func structFields(t reflect.Type) map[string]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]int)
	}
	fields := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		fields[name] = i
	}
	fieldCache.Store(t, fields)
	return fields
}

// smallExponent reports whether the decimal number s has no exponent or one
// within ±1000, small enough for exact big.Rat arithmetic.
func smallExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	e, err := strconv.Atoi(s[i+1:])
	return err == nil && e >= -1000 && e <= 1000
}

package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

type jsonNumber = json.Number

// jsonKind names a decoded JSON value's kind for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// deserializer holds what the chosen SerDe changes in reading JSON.
type deserializer struct {
	// hive: HiveJsonSerDe (strict about types, no dots in keys); else
	// OpenXJsonSerDe.
	hive           bool
	caseFold       bool
	dotsToUnder    bool
	columnKeys     map[string]string // column name -> JSON key, normalized
	hiveTimestamps *hiveTimestamps
}

// normalizeKey is a JSON key as the SerDe matches it against column names.
func (d *deserializer) normalizeKey(k string) string {
	if d.dotsToUnder {
		k = strings.ReplaceAll(k, ".", "_")
	}
	if d.caseFold {
		k = strings.ToLower(k)
	}
	return k
}

// fields returns an object's members keyed as the SerDe matches them. A
// key that two members fold to keeps the last, as a JSON parser reading
// into a map does.
func (d *deserializer) fields(obj map[string]any) (map[string]any, error) {
	if !d.caseFold && !d.dotsToUnder && !d.hive {
		return obj, nil
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if d.hive && strings.Contains(k, ".") {
			return nil, fmt.Errorf("key %q has a dot, which HiveJsonSerDe does not allow (OpenXJsonSerDe can turn dots into underscores)", k)
		}
		out[d.normalizeKey(k)] = v
	}
	return out, nil
}

// fieldError is a value that does not fit its column, with the column's
// path for the message.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return fmt.Sprintf("column %s: %v", e.path, e.err) }

// leafValue converts a JSON value to the Parquet value of a primitive
// column. v is never nil here.
func (d *deserializer) leafValue(t *hiveType, v any) (parquet.Value, error) {
	switch t.kind {
	case kindString:
		switch v := v.(type) {
		case string:
			return parquet.ByteArrayValue([]byte(v)), nil
		case json.Number:
			return parquet.ByteArrayValue([]byte(v)), nil
		case bool:
			return parquet.ByteArrayValue([]byte(strconv.FormatBool(v))), nil
		default:
			// Both SerDes hand a nested value to a string column as its
			// JSON text.
			b, err := json.Marshal(v)
			if err != nil {
				return parquet.Value{}, err
			}
			return parquet.ByteArrayValue(b), nil
		}
	case kindBinary:
		if s, ok := v.(string); ok {
			return parquet.ByteArrayValue([]byte(s)), nil
		}
	case kindTinyint, kindSmallint, kindInt, kindBigint:
		bits := map[kind]int{kindTinyint: 8, kindSmallint: 16, kindInt: 32, kindBigint: 64}[t.kind]
		s, ok := d.numberText(v)
		if !ok {
			break
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			// An integral number written as 1.0 or 1e3 still fits.
			r, ok := new(big.Rat).SetString(s)
			if !ok || !r.IsInt() || !r.Num().IsInt64() {
				return parquet.Value{}, fmt.Errorf("%s is not an integer that fits a %d-bit column", s, bits)
			}
			n = r.Num().Int64()
			if bits < 64 && (n < -(1<<(bits-1)) || n >= 1<<(bits-1)) {
				return parquet.Value{}, fmt.Errorf("%s is not an integer that fits a %d-bit column", s, bits)
			}
		}
		if bits == 64 {
			return parquet.Int64Value(n), nil
		}
		return parquet.Int32Value(int32(n)), nil
	case kindFloat, kindDouble:
		s, ok := d.numberText(v)
		if !ok {
			break
		}
		bits := 64
		if t.kind == kindFloat {
			bits = 32
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return parquet.Value{}, fmt.Errorf("%s is not a finite %d-bit floating-point number", s, bits)
		}
		if bits == 32 {
			return parquet.FloatValue(float32(f)), nil
		}
		return parquet.DoubleValue(f), nil
	case kindBoolean:
		switch v := v.(type) {
		case bool:
			return parquet.BooleanValue(v), nil
		case string:
			// OpenXJsonSerDe reads "true" and "false" in any case.
			if !d.hive {
				switch strings.ToLower(v) {
				case "true":
					return parquet.BooleanValue(true), nil
				case "false":
					return parquet.BooleanValue(false), nil
				}
			}
		}
	case kindTimestamp:
		var ts time.Time
		var err error
		if d.hive {
			ts, err = d.hiveTimestamps.parse(v)
		} else {
			ts, err = parseOpenXTimestamp(v)
		}
		if err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int64Value(ts.UnixMilli()), nil
	case kindDate:
		if s, ok := v.(string); ok {
			// java.sql.Date.valueOf's yyyy-[M]M-[d]d; a timestamp's date
			// part is taken too.
			day := s
			if i := strings.IndexAny(s, " T"); i >= 0 {
				day = s[:i]
			}
			dt, err := time.Parse("2006-1-2", day)
			if err != nil {
				return parquet.Value{}, fmt.Errorf("%q is not a date (yyyy-MM-dd)", s)
			}
			return parquet.Int32Value(int32(dt.Unix() / 86400)), nil
		}
	case kindDecimal:
		s, ok := d.numberText(v)
		if !ok {
			break
		}
		return decimalValue(t, s)
	}
	return parquet.Value{}, fmt.Errorf("a JSON %s does not fit a %s column", jsonKind(v), typeName(t))
}

// numberText returns a number's text. OpenXJsonSerDe also reads numbers
// written as strings; HiveJsonSerDe refuses them.
func (d *deserializer) numberText(v any) (string, bool) {
	switch v := v.(type) {
	case json.Number:
		return string(v), true
	case string:
		if !d.hive {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// decimalValue rounds a number half up to the column's scale, as Hive's
// decimals do, and refuses it if it then has more digits than the
// precision.
func decimalValue(t *hiveType, s string) (parquet.Value, error) {
	if len(s) > 400 {
		return parquet.Value{}, fmt.Errorf("%.40s... is too long for a decimal", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return parquet.Value{}, fmt.Errorf("%q is not a number", s)
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.scale)), nil)))
	// Round half away from zero.
	num, den := scaled.Num(), scaled.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(t.precision)), nil)
	if new(big.Int).Abs(q).Cmp(limit) >= 0 {
		return parquet.Value{}, fmt.Errorf("%s has more than %d digits at scale %d", s, t.precision, t.scale)
	}
	switch {
	case t.precision <= 9:
		return parquet.Int32Value(int32(q.Int64())), nil
	case t.precision <= 18:
		return parquet.Int64Value(q.Int64()), nil
	}
	return parquet.FixedLenByteArrayValue(twosComplement(q, decimalBytes(t.precision))), nil
}

// decimalBytes is the fixed length that holds any unscaled value of the
// precision, as the Parquet spec sizes FIXED_LEN_BYTE_ARRAY decimals.
func decimalBytes(precision int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)
	return (limit.BitLen() + 1 + 7) / 8
}

// twosComplement is n big-endian in size bytes.
func twosComplement(n *big.Int, size int) []byte {
	out := make([]byte, size)
	if n.Sign() >= 0 {
		n.FillBytes(out)
		return out
	}
	// -n = ^(|n|-1)
	m := new(big.Int).Sub(new(big.Int).Neg(n), big.NewInt(1))
	m.FillBytes(out)
	for i := range out {
		out[i] = ^out[i]
	}
	return out
}

// typeName is a type's Hive spelling for messages.
func typeName(t *hiveType) string {
	switch t.kind {
	case kindString:
		return "string"
	case kindBinary:
		return "binary"
	case kindTinyint:
		return "tinyint"
	case kindSmallint:
		return "smallint"
	case kindInt:
		return "int"
	case kindBigint:
		return "bigint"
	case kindFloat:
		return "float"
	case kindDouble:
		return "double"
	case kindBoolean:
		return "boolean"
	case kindTimestamp:
		return "timestamp"
	case kindDate:
		return "date"
	case kindDecimal:
		return fmt.Sprintf("decimal(%d,%d)", t.precision, t.scale)
	case kindArray:
		return "array<" + typeName(t.elem) + ">"
	case kindMap:
		return "map<" + typeName(t.key) + "," + typeName(t.value) + ">"
	case kindStruct:
		var b strings.Builder
		b.WriteString("struct<")
		for i, f := range t.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.name + ":" + typeName(f.typ))
		}
		b.WriteByte('>')
		return b.String()
	}
	return "?"
}

// decodeRecord splits a record into its JSON objects: Firehose reads a
// record as concatenated JSON objects (whitespace between them allowed).
func decodeRecord(data []byte) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var objs []map[string]any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			if len(objs) == 0 {
				return nil, errors.New("the record has no JSON object")
			}
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the record is not JSON: %v", err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the record holds a JSON %s, not an object", jsonKind(v))
		}
		objs = append(objs, obj)
	}
}

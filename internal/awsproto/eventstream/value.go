package eventstream

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
)

// ValueType is the wire type byte of a header value.
type ValueType uint8

// Header value types, numbered as on the wire.
const (
	TypeBoolTrue  ValueType = 0 // true; no value bytes
	TypeBoolFalse ValueType = 1 // false; no value bytes
	TypeByte      ValueType = 2 // int8
	TypeInt16     ValueType = 3
	TypeInt32     ValueType = 4
	TypeInt64     ValueType = 5
	TypeBytes     ValueType = 6 // u16 length, then the bytes
	TypeString    ValueType = 7 // u16 length, then UTF-8
	TypeTimestamp ValueType = 8 // int64 milliseconds since the Unix epoch
	TypeUUID      ValueType = 9 // 16 bytes
)

// String names the type as the SDKs' debug output does.
func (t ValueType) String() string {
	switch t {
	case TypeBoolTrue, TypeBoolFalse:
		return "bool"
	case TypeByte:
		return "byte"
	case TypeInt16:
		return "int16"
	case TypeInt32:
		return "int32"
	case TypeInt64:
		return "int64"
	case TypeBytes:
		return "bytes"
	case TypeString:
		return "string"
	case TypeTimestamp:
		return "timestamp"
	case TypeUUID:
		return "uuid"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Value is a typed header value. It is a plain struct rather than an
// interface so that building and encoding headers does not box values on
// the heap. The zero Value holds no type; encoding it is an error.
type Value struct {
	kind uint8 // ValueType+1; 0 for the zero Value
	num  int64 // integer types and timestamps (epoch milliseconds)
	str  string
	b    []byte
	uuid [16]byte
}

func newValue(t ValueType) Value { return Value{kind: uint8(t) + 1} }

// Bool returns a boolean value (wire type 0 or 1).
func Bool(v bool) Value {
	if v {
		return newValue(TypeBoolTrue)
	}
	return newValue(TypeBoolFalse)
}

// Byte returns a byte value (wire type 2, signed as in the SDKs).
func Byte(v int8) Value { x := newValue(TypeByte); x.num = int64(v); return x }

// Int16 returns an int16 value (wire type 3).
func Int16(v int16) Value { x := newValue(TypeInt16); x.num = int64(v); return x }

// Int32 returns an int32 value (wire type 4).
func Int32(v int32) Value { x := newValue(TypeInt32); x.num = int64(v); return x }

// Int64 returns an int64 value (wire type 5).
func Int64(v int64) Value { x := newValue(TypeInt64); x.num = v; return x }

// Bytes returns a byte-array value (wire type 6). The slice is not copied.
func Bytes(v []byte) Value { x := newValue(TypeBytes); x.b = v; return x }

// String returns a string value (wire type 7).
func String(v string) Value { x := newValue(TypeString); x.str = v; return x }

// Timestamp returns a timestamp value (wire type 8), truncated to the
// millisecond precision of the wire format.
func Timestamp(t time.Time) Value { return TimestampMillis(t.UnixMilli()) }

// TimestampMillis returns a timestamp value from milliseconds since the
// Unix epoch.
func TimestampMillis(ms int64) Value { x := newValue(TypeTimestamp); x.num = ms; return x }

// UUID returns a UUID value (wire type 9).
func UUID(v [16]byte) Value { x := newValue(TypeUUID); x.uuid = v; return x }

// IsValid reports whether v holds a type, that is, it is not the zero Value.
func (v Value) IsValid() bool { return v.kind != 0 }

// Type returns the wire type. It is meaningless for the zero Value.
func (v Value) Type() ValueType { return ValueType(v.kind - 1) }

// Bool returns the boolean held by a bool value, and false otherwise.
func (v Value) Bool() bool { return v.kind == uint8(TypeBoolTrue)+1 }

// Int returns the integer held by a byte, int16, int32 or int64 value, the
// epoch milliseconds of a timestamp, and 0 otherwise.
func (v Value) Int() int64 { return v.num }

// Text returns the string held by a string value, and "" otherwise.
func (v Value) Text() string { return v.str }

// Bytes returns the bytes held by a byte-array value, and nil otherwise.
func (v Value) Bytes() []byte { return v.b }

// Time returns the instant held by a timestamp value, in UTC, and the zero
// time otherwise.
func (v Value) Time() time.Time {
	if v.Type() != TypeTimestamp || !v.IsValid() {
		return time.Time{}
	}
	return time.UnixMilli(v.num).UTC()
}

// UUID returns the 16 bytes held by a UUID value, and zeros otherwise.
func (v Value) UUID() [16]byte { return v.uuid }

// Equal reports whether v and o have the same type and value.
func (v Value) Equal(o Value) bool {
	return v.kind == o.kind && v.num == o.num && v.str == o.str &&
		bytes.Equal(v.b, o.b) && v.uuid == o.uuid
}

// String formats the value for logs and test failures, e.g.
// `string("event")` or `int32(7)`.
func (v Value) String() string {
	if !v.IsValid() {
		return "<invalid>"
	}
	t := v.Type()
	var s string
	switch t {
	case TypeBoolTrue:
		s = "true"
	case TypeBoolFalse:
		s = "false"
	case TypeByte, TypeInt16, TypeInt32, TypeInt64:
		s = strconv.FormatInt(v.num, 10)
	case TypeBytes:
		s = base64.StdEncoding.EncodeToString(v.b)
	case TypeString:
		s = strconv.Quote(v.str)
	case TypeTimestamp:
		s = v.Time().Format(time.RFC3339Nano)
	case TypeUUID:
		s = hex.EncodeToString(v.uuid[:])
	}
	return t.String() + "(" + s + ")"
}

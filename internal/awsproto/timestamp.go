package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Timestamp is a point in time as the AWS protocols carry it. In JSON it is
// epoch seconds: botocore sends whole seconds, the Go SDK fractional ones
// (1767323045.678); it is written as seconds with millisecond precision. In
// CBOR the Java SDKs send tag 1 around epoch MILLISECONDS (RFC 8949 says
// seconds; AWS does not follow it); untagged integers and floats are read as
// milliseconds too, and it is written as tag 1 around integer milliseconds.
type Timestamp struct{ time.Time }

// NewTimestamp truncates t to the millisecond precision AWS keeps.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{t.Truncate(time.Millisecond)} }

// TimestampPtr returns a pointer to NewTimestamp(t).
func TimestampPtr(t time.Time) *Timestamp {
	ts := NewTimestamp(t)
	return &ts
}

var errBadTimestamp = errors.New("timestamp is not a number of epoch seconds")

// MarshalJSON writes epoch seconds with up to three decimals.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(nil), nil
}

// AppendJSON appends the JSON form of t to b.
func (t Timestamp) AppendJSON(b []byte) []byte {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec--
		frac += 1000
	}
	b = strconv.AppendInt(b, sec, 10)
	if frac != 0 {
		s := fmt.Sprintf(".%03d", frac)
		for s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		b = append(b, s...)
	}
	return b
}

// UnmarshalJSON reads epoch seconds, whole or fractional (exponents too).
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	v, err := parseEpochSeconds(string(data))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// parseEpochSeconds parses a JSON number of epoch seconds exactly (no float
// rounding), keeping nanoseconds.
func parseEpochSeconds(s string) (Timestamp, error) {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return Timestamp{}, errBadTimestamp
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return Timestamp{}, errBadTimestamp
		}
		return Timestamp{time.Unix(n, 0).UTC()}, nil
	}
	if len(s) > 64 || !smallExponent(s) {
		return Timestamp{}, errBadTimestamp
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Timestamp{}, errBadTimestamp
	}
	r.Mul(r, big.NewRat(1e9, 1))
	ns := new(big.Int).Quo(r.Num(), r.Denom())
	if !ns.IsInt64() {
		return Timestamp{}, errBadTimestamp
	}
	return Timestamp{time.Unix(0, ns.Int64()).UTC()}, nil
}

// MarshalCBOR writes tag 1 around integer epoch milliseconds, as the Java
// SDKs expect.
func (t Timestamp) MarshalCBOR() ([]byte, error) {
	return cbor.Marshal(cbor.Tag{Number: 1, Content: t.UnixMilli()})
}

// UnmarshalCBOR reads epoch milliseconds: tagged (tag 1) or not, integer or
// floating point.
func (t *Timestamp) UnmarshalCBOR(data []byte) error {
	var v any
	if err := cborDecMode.Unmarshal(data, &v); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	ts, err := timestampFromCBOR(v)
	if err != nil {
		return err
	}
	*t = ts
	return nil
}

// timestampFromCBOR converts a decoded CBOR item holding epoch
// milliseconds.
func timestampFromCBOR(v any) (Timestamp, error) {
	if tag, ok := v.(cbor.Tag); ok {
		if tag.Number != 1 {
			return Timestamp{}, fmt.Errorf("unexpected CBOR tag %d for a timestamp", tag.Number)
		}
		v = tag.Content
	}
	const maxMillis = math.MaxInt64 / int64(time.Millisecond)
	switch n := v.(type) {
	case uint64:
		if n > uint64(maxMillis) {
			return Timestamp{}, errors.New("timestamp out of range")
		}
		return Timestamp{time.UnixMilli(int64(n)).UTC()}, nil
	case int64:
		if n > maxMillis || n < -maxMillis {
			return Timestamp{}, errors.New("timestamp out of range")
		}
		return Timestamp{time.UnixMilli(n).UTC()}, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > float64(maxMillis) {
			return Timestamp{}, errors.New("timestamp out of range")
		}
		// Split off the fraction: n*1e6 would lose precision at today's
		// epoch milliseconds.
		whole := math.Floor(n)
		ns := int64(whole)*int64(time.Millisecond) + int64(math.Round((n-whole)*1e6))
		return Timestamp{time.Unix(0, ns).UTC()}, nil
	case float32:
		return timestampFromCBOR(float64(n))
	}
	return Timestamp{}, fmt.Errorf("%T can not be converted to a timestamp", v)
}

var _ json.Marshaler = Timestamp{}
var _ json.Unmarshaler = (*Timestamp)(nil)
var _ cbor.Marshaler = Timestamp{}
var _ cbor.Unmarshaler = (*Timestamp)(nil)

package awsproto

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Smithy RPC v2 CBOR: POST /service/<ServiceName>/operation/<Operation>
// with Smithy-Protocol: rpc-v2-cbor and Content-Type: application/cbor.
// A service registered with the RPCv2CBOR option is reached this way too
// when the path's service name is its target prefix (CloudWatch:
// GraniteServiceVersion20100801), so one registration serves JSON and
// RPC v2 clients.

// RPCv2CBOR makes the service answer Smithy RPC v2 CBOR requests at
// /service/<targetPrefix>/operation/<Op>, as services whose models list
// smithy-rpc-v2-cbor do (CloudWatch, for aws-sdk-go-v2 since v1.53.0).
func RPCv2CBOR() ServiceOption {
	return func(s *service) { s.rpcv2 = true }
}

// rpcv2Target parses an RPC v2 path into the target prefix and operation;
// ok is false for any other path.
func rpcv2Target(path string) (svc, op string, ok bool) {
	rest, found := strings.CutPrefix(path, "/service/")
	if !found {
		return "", "", false
	}
	svc, op, found = strings.Cut(rest, "/operation/")
	if !found || svc == "" || op == "" || strings.Contains(op, "/") {
		return "", "", false
	}
	return svc, op, true
}

// timestampFromCBORSeconds converts a decoded CBOR item holding epoch
// seconds (RPC v2's timestamps: tag 1 around an integer or a float).
func timestampFromCBORSeconds(v any) (Timestamp, error) {
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	switch n := v.(type) {
	case uint64:
		if n > uint64(maxSeconds) {
			return Timestamp{}, errors.New("timestamp out of range")
		}
		return Timestamp{time.Unix(int64(n), 0).UTC()}, nil
	case int64:
		if n > maxSeconds || n < -maxSeconds {
			return Timestamp{}, errors.New("timestamp out of range")
		}
		return Timestamp{time.Unix(n, 0).UTC()}, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > float64(maxSeconds) {
			return Timestamp{}, errors.New("timestamp out of range")
		}
		whole := math.Floor(n)
		ns := int64(math.Round((n - whole) * 1e9))
		return Timestamp{time.Unix(int64(whole), ns).UTC()}, nil
	}
	return Timestamp{}, errors.New("timestamp is not a number of epoch seconds")
}

// rpcv2Tree turns an output shape into the generic values CBOR encodes,
// with timestamps as tag 1 around float64 epoch seconds (Timestamp's own
// MarshalCBOR writes the milliseconds of the Amazon CBOR 1.1 dialect).
// Members follow the json tags of the generated shapes; nil pointers,
// slices and maps are left out, as the model's optional members are.
func rpcv2Tree(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == timestampType {
		ts := v.Interface().(Timestamp)
		return cbor.Tag{Number: 1, Content: float64(ts.UnixMilli()) / 1000}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return rpcv2Tree(v.Elem())
	case reflect.Struct:
		t := v.Type()
		m := make(map[string]any, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if (strings.Contains(opts, "omitzero") || strings.Contains(opts, "omitempty")) && fv.IsZero() {
				continue
			}
			m[name] = rpcv2Tree(fv)
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Bytes()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = rpcv2Tree(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = rpcv2Tree(iter.Value())
		}
		return m
	case reflect.String:
		return v.String()
	}
	return v.Interface()
}

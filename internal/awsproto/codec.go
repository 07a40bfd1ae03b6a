package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Protocol is the wire encoding of a request and its response.
type Protocol int

const (
	// ProtocolJSON is AWS JSON 1.1 (or 1.0): blobs in base64, timestamps in
	// epoch seconds.
	ProtocolJSON Protocol = iota
	// ProtocolCBOR is application/x-amz-cbor-1.1 as the Java SDKs send it:
	// byte-string blobs, timestamps as tag 1 around epoch milliseconds.
	ProtocolCBOR
	// ProtocolRESTJSON is AWS's REST-JSON (restJson1, Lambda): routed by
	// method and path, parameters in the path, query and headers, bodies
	// in JSON or raw. Only REST routes serve it.
	ProtocolRESTJSON
	// ProtocolRPCv2CBOR is Smithy RPC v2 CBOR (application/cbor at
	// /service/<ServiceName>/operation/<Op>), which the Go SDK's CloudWatch
	// client speaks: CBOR as ProtocolCBOR but timestamps are tag 1 around
	// epoch SECONDS (a float64 from the Go SDK), as RFC 8949 says.
	ProtocolRPCv2CBOR
)

// String names the protocol.
func (p Protocol) String() string {
	switch p {
	case ProtocolJSON:
		return "json"
	case ProtocolCBOR:
		return "cbor"
	case ProtocolRESTJSON:
		return "rest-json"
	case ProtocolRPCv2CBOR:
		return "rpc-v2-cbor"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Content types.
const (
	ContentTypeJSON10 = "application/x-amz-json-1.0"
	ContentTypeJSON11 = "application/x-amz-json-1.1"
	ContentTypeCBOR11 = "application/x-amz-cbor-1.1"
	// ContentTypeCBOR is RPC v2 CBOR's media type.
	ContentTypeCBOR = "application/cbor"
)

// cborDecMode decodes request bodies. Indefinite-length items are allowed
// (the Java SDK writes maps with 0xbf ... 0xff); limits keep hostile input
// from exhausting memory.
var cborDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		IndefLength:      cbor.IndefLengthAllowed,
		MaxNestedLevels:  32,
		MaxArrayElements: 100000,
		MaxMapPairs:      100000,
		DupMapKey:        cbor.DupMapKeyQuiet,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// cborEncMode encodes responses. Map keys keep struct field order, and
// []byte stays a byte string.
var cborEncMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// Decode decodes a request body in protocol p into v, a pointer to an input
// shape, the way the router does. Unknown members are ignored, as AWS does.
// Errors are *Error SerializationExceptions with AWS's wording.
func Decode(p Protocol, body []byte, v any) error {
	if p == ProtocolJSON {
		if f := fastDecoder(v); f != nil && f(body, v) {
			return nil
		}
	}
	var tree any
	switch p {
	case ProtocolJSON:
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&tree); err != nil {
			return serializationError("Could not parse request body into json: " + jsonSyntaxMessage(err))
		}
		if _, err := dec.Token(); err != io.EOF {
			return serializationError("Could not parse request body into json: unexpected data after the top-level value")
		}
	case ProtocolCBOR, ProtocolRPCv2CBOR:
		if err := cborDecMode.Wellformed(body); err != nil {
			return serializationError("Could not parse request body into cbor: " + err.Error())
		}
		var err error
		tree, err = cborTree(body, 0)
		if err != nil {
			return serializationError("Could not parse request body into cbor: " + err.Error())
		}
	default:
		return serializationError("unsupported protocol")
	}
	if tree == nil {
		// A JSON or CBOR null body is an empty input.
		return nil
	}
	if err := assign(p, valueOf(v), tree); err != nil {
		return err
	}
	return nil
}

func jsonSyntaxMessage(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "Unexpected end-of-input"
	}
	return err.Error()
}

// Encode encodes an output shape in protocol p. A nil v gives an empty body.
func Encode(p Protocol, v any) ([]byte, error) {
	return encodeTo(nil, p, v)
}

// encodeTo is Encode appending to dst where it can (the fast encoders).
func encodeTo(dst []byte, p Protocol, v any) ([]byte, error) {
	switch p {
	case ProtocolJSON:
		if f := fastEncoder(v); f != nil {
			if b, ok := f(dst, v); ok {
				return b, nil
			}
		}
		return json.Marshal(v)
	case ProtocolCBOR:
		return cborEncMode.Marshal(v)
	case ProtocolRPCv2CBOR:
		return cborEncMode.Marshal(rpcv2Tree(reflect.ValueOf(v)))
	}
	return nil, fmt.Errorf("awsproto: unsupported protocol %v", p)
}

// cborMillis is a CBOR tag 1 item: AWS's epoch milliseconds.
type cborMillis struct{ content any }

// cborTree turns one well-formed CBOR item into the same tree shapes JSON
// decoding gives (map[string]any, []any, string, bool, nil) plus []byte,
// uint64, int64, *big.Int, float64 and cborMillis.
func cborTree(raw []byte, depth int) (any, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty item")
	}
	if depth > 32 {
		return nil, errors.New("exceeded max nested level")
	}
	switch raw[0] >> 5 {
	case 4: // array
		var items []cbor.RawMessage
		if err := cborDecMode.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := cborTree(it, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case 5: // map
		var m map[any]cbor.RawMessage
		if err := cborDecMode.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, it := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a text string", k)
			}
			v, err := cborTree(it, depth+1)
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	case 6: // tag
		var tag cbor.RawTag
		if err := cborDecMode.Unmarshal(raw, &tag); err != nil {
			return nil, err
		}
		content, err := cborTree(tag.Content, depth+1)
		if err != nil {
			return nil, err
		}
		if tag.Number == 1 {
			return cborMillis{content}, nil
		}
		// Other tags (self-described CBOR, bignums are handled below)
		// carry no meaning for AWS shapes: use the content.
		if tag.Number == 2 || tag.Number == 3 {
			b, _ := content.([]byte)
			n := new(big.Int).SetBytes(b)
			if tag.Number == 3 {
				n.Neg(n).Sub(n, big.NewInt(1))
			}
			return n, nil
		}
		return content, nil
	default:
		var v any
		if err := cborDecMode.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		if f, ok := v.(float32); ok {
			v = float64(f)
		}
		if _, ok := v.(cbor.SimpleValue); ok {
			return nil, errors.New("unexpected simple value")
		}
		return v, nil
	}
}

// numberString renders a decoded number for messages.
func numberString(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return n.String(), true
	case uint64, int64:
		return fmt.Sprint(n), true
	case *big.Int:
		return n.String(), true
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Sprint(n), true
		}
		return big.NewFloat(n).Text('g', -1), true
	}
	return "", false
}

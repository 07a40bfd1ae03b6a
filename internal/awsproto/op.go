package awsproto

import (
	"context"
	"net/http"
)

// Empty is the output of operations that return no body.
type Empty struct{}

// Handler serves one operation: it gets the raw request body and returns
// the output shape to encode (nil for an empty body) or an error.
type Handler func(ctx context.Context, body []byte) (any, error)

// Streamer is an operation output that writes its own response body, for
// operations that answer with a stream (SubscribeToShard's event stream).
// When a handler's output implements it, the router calls ServeStream
// instead of encoding the output: ServeStream sets the status and headers,
// writes the body and calls flush after every message it wants on the wire
// at once. ctx is the request's context (with its RequestInfo); it is done
// when the client goes away. The router has already set x-amzn-RequestId.
type Streamer interface {
	ServeStream(ctx context.Context, w http.ResponseWriter, flush func())
}

// validator is implemented by generated input shapes.
type validator interface{ Validate() error }

// Op adapts a typed operation to a Handler. It decodes the body with the
// request's protocol into a new In (SerializationException on bad input),
// runs In.Validate when In has it (ValidationException), calls fn and
// returns its output. An empty body is a SerializationException for every
// operation, as on AWS (clients send "{}" for an operation without input).
func Op[In, Out any](fn func(ctx context.Context, in *In) (*Out, error)) Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		if len(body) == 0 {
			return nil, serializationError("The request body is empty.")
		}
		in := new(In)
		if err := Decode(Info(ctx).Protocol, body, in); err != nil {
			return nil, err
		}
		if v, ok := any(in).(validator); ok {
			if err := v.Validate(); err != nil {
				return nil, err
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return nil, nil
		}
		if _, empty := any(out).(*Empty); empty {
			return nil, nil
		}
		return out, nil
	}
}

// Ptr returns a pointer to v, for filling optional members.
func Ptr[T any](v T) *T { return &v }

// Value returns *p, or the zero value when p is nil.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

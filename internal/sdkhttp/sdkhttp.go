// Package sdkhttp keeps aws-sdk-go-v2 from sending a call again that the
// server already applied, over HTTP/1.1.
//
// The SDK closes a request's body as soon as the response headers arrive,
// while net/http may still be finishing the request: after the body's
// Content-Length bytes it checks for extra bytes with io.Copy, which uses
// the body's io.WriterTo, and the SDK's closed body answers WriteTo with
// io.EOF. net/http takes that for a failed write and closes the
// connection; a response body not yet read then fails ("use of closed
// network connection"), and the SDK retries the call. A write the server
// had applied is applied twice: PutRecords stores its records again, a
// conditional DynamoDB write fails its own condition. With the body's
// WriteTo hidden, net/http checks with Read, which ends with a plain
// io.EOF, and keeps the connection. HTTP/2 is not affected.
//
// Use it as a per-call option, since a client's HTTP client may be the
// caller's:
//
//	c.PutRecords(ctx, in, func(o *kinesis.Options) { o.HTTPClient = sdkhttp.PlainBodies(o.HTTPClient) })
package sdkhttp

import (
	"io"
	"net/http"
)

// Client is the HTTPClient interface of every aws-sdk-go-v2 service's
// Options; a value of any of them converts to it and back.
type Client interface {
	Do(*http.Request) (*http.Response, error)
}

// PlainBodies returns a client that hands c each request with its body
// reduced to io.ReadCloser. A nil c stays nil (the SDK then uses its
// default client).
func PlainBodies(c Client) Client {
	switch c.(type) {
	case nil, plainBodies:
		return c
	}
	return plainBodies{c}
}

type plainBodies struct{ c Client }

func (p plainBodies) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req = req.WithContext(req.Context()) // a shallow copy: the SDK closes the body it built
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return p.c.Do(req)
}

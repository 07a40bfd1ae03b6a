package awsproto

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
)

// AssumeRoleRequest is a service's request to act as a role: the role a
// resource names (a delivery stream's RoleARN), the service principal
// acting (firehose.amazonaws.com), the session name and the resource
// acting (aws:SourceArn, and its account as aws:SourceAccount, for the
// trust policy's conditions).
type AssumeRoleRequest struct {
	RoleARN, Service, SessionName, SourceARN string
}

// RoleAssumer lets services act as roles in-process. AssumeRole checks
// that the role exists and that its trust policy lets the service assume
// it, and returns a context that carries the role session: requests made
// with that context through InProcess are authorized as the session, by
// the router's Authorizer, and audited with it as the caller.
type RoleAssumer interface {
	AssumeRole(ctx context.Context, req AssumeRoleRequest) (context.Context, error)
}

type callerKey struct{}
type inProcessKey struct{}

// WithCaller returns a context whose requests through InProcess are made
// as p instead of as whoever signed them. Requests from the network never
// carry it: the router honours it only on requests InProcess delivered.
func WithCaller(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, callerKey{}, p)
}

// inProcessCaller is the caller of a request InProcess delivered with a
// WithCaller context; nil for every other request.
func inProcessCaller(req *http.Request) *Principal {
	ctx := req.Context()
	if mark, _ := ctx.Value(inProcessKey{}).(bool); !mark {
		return nil
	}
	p, _ := ctx.Value(callerKey{}).(*Principal)
	return p
}

// InProcess is an http.RoundTripper that serves requests with h (the
// router) in the calling goroutine, without a network: AWS SDK clients of
// the server's own services use it for calls a service makes. A request
// whose context carries WithCaller's principal is made as that principal;
// any other is authenticated by its signature, as from the network. The
// response is buffered whole, so streaming operations (SubscribeToShard)
// are not for it.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	sreq := req.Clone(context.WithValue(req.Context(), inProcessKey{}, true))
	sreq.RemoteAddr = ""
	sreq.RequestURI = req.URL.RequestURI()
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	w := &bufferedResponse{header: http.Header{}}
	t.h.ServeHTTP(w, sreq)
	if req.Body != nil {
		req.Body.Close()
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: strconv.Itoa(w.status) + " " + http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// bufferedResponse is the http.ResponseWriter of an in-process request.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *bufferedResponse) Flush() {}

package awsproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// REST services (AWS's restJson1 protocol, which Lambda speaks) are routed
// by method and path rather than by X-Amz-Target. They share the router's
// request ids, SigV4 authentication, authorization hook and OnComplete
// with the JSON services; their errors carry the REST-JSON envelope
// (X-Amzn-ErrorType plus a JSON body of the error's members).

// RESTRequest is what a REST handler gets: the HTTP request (path values
// through HTTP.PathValue, the query, the headers) and its body, read whole.
type RESTRequest struct {
	HTTP *http.Request
	Body []byte
}

// RESTResponse is a REST handler's answer. Status 0 means 200. Body is
// written as is, with ContentType when it is set.
type RESTResponse struct {
	Status      int
	Header      http.Header
	ContentType string
	Body        []byte
}

// JSONResponse encodes v as a REST-JSON response body with status.
func JSONResponse(status int, v any) (*RESTResponse, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("awsproto: encoding a REST response: %w", err)
	}
	return &RESTResponse{Status: status, ContentType: "application/json", Body: body}, nil
}

// RESTHandler serves one REST operation. An error that is not an *Error is
// logged and answered as a 500 ServiceException-style internal failure.
type RESTHandler func(ctx context.Context, req *RESTRequest) (*RESTResponse, error)

// RESTRoute binds an operation to a method and a path pattern in
// net/http.ServeMux syntax ("/2015-03-31/functions/{FunctionName}").
type RESTRoute struct {
	Operation, Method, Path string
	Handler                 RESTHandler
	// MaxBodyBytes overrides the router's body limit for this route
	// (e.g. a function's code upload); zero keeps the router's.
	MaxBodyBytes int64
}

// RESTPath turns a model's requestUri into a ServeMux path: the query
// literals are dropped and a greedy label {Name+} becomes {Name...}.
func RESTPath(requestURI string) string {
	p, _, _ := strings.Cut(requestURI, "?")
	return strings.ReplaceAll(p, "+}", "...}")
}

// RegisterREST serves routes for the service whose SigV4 signing name is
// signingName. Requests without X-Amz-Target whose method and path match a
// route go to it. Like Register, it is meant for setup; a route that
// conflicts with one already registered panics.
func (r *Router) RegisterREST(signingName string, routes []RESTRoute) {
	if r.rest == nil {
		r.rest = http.NewServeMux()
	}
	for _, rt := range routes {
		r.rest.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, req *http.Request) {
			r.serveREST(w, req, signingName, &rt)
		})
	}
}

// restRoute reports whether req is for a registered REST route.
func (r *Router) restRoute(req *http.Request) bool {
	if r.rest == nil || req.Header.Get("X-Amz-Target") != "" {
		return false
	}
	_, pattern := r.rest.Handler(req)
	return pattern != ""
}

func (r *Router) serveREST(w http.ResponseWriter, req *http.Request, signingName string, rt *RESTRoute) {
	received := time.Now()
	requestID := w.Header().Get("X-Amzn-Requestid")
	limit := r.opts.MaxBodyBytes
	if rt.MaxBodyBytes > 0 {
		limit = rt.MaxBodyBytes
	}
	if req.ContentLength > limit {
		w.Header().Set("Connection", "close")
		writeRESTError(w, restTooLarge(limit))
		return
	}
	buf, err := readBody(http.MaxBytesReader(w, req.Body, limit), req.ContentLength)
	if buf != nil {
		defer releaseBody(buf)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.Header().Set("Connection", "close")
			writeRESTError(w, restTooLarge(limit))
			return
		}
		r.log.Warn("reading request body", "request_id", requestID, "err", err)
		writeRESTError(w, serializationError("Could not read the request body."))
		return
	}
	body := *buf

	info := &RequestInfo{
		RequestID:  requestID,
		Operation:  rt.Operation,
		Service:    signingName,
		SourceIP:   sourceIP(req.RemoteAddr),
		UserAgent:  req.UserAgent(),
		Protocol:   ProtocolRESTJSON,
		Received:   received,
		HTTP:       req,
		Secure:     req.TLS != nil,
		authorizer: r.opts.Authorizer,
	}
	ctx := WithInfo(req.Context(), info)
	aerr := r.identify(req, body, signingName, info)
	// Request bodies are not handed to OnComplete: a REST body may be a
	// function's payload or its code rather than parameters.
	if aerr != nil {
		r.complete(ctx, info, nil, nil, aerr)
		writeRESTError(w, aerr)
		return
	}
	resp, err := r.callREST(ctx, rt.Handler, &RESTRequest{HTTP: req, Body: body})
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			r.log.Error("operation failed", "request_id", requestID, "operation", rt.Operation, "err", err)
			ae = &Error{Code: "ServiceException", Message: "An internal error occurred.", Status: http.StatusInternalServerError, capitalMessage: true}
		}
		r.complete(ctx, info, nil, nil, ae)
		writeRESTError(w, ae)
		return
	}
	r.complete(ctx, info, nil, nil, nil)
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	if resp.ContentType != "" {
		h.Set("Content-Type", resp.ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if status != http.StatusNoContent && status != http.StatusNotModified {
		w.Write(resp.Body)
	}
}

func (r *Router) callREST(ctx context.Context, h RESTHandler, req *RESTRequest) (resp *RESTResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			info := Info(ctx)
			r.log.Error("operation panicked", "request_id", info.RequestID, "operation", info.Operation,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, internalFailure()
		}
	}()
	resp, err = h(ctx, req)
	if err == nil && resp == nil {
		resp = &RESTResponse{}
	}
	return resp, err
}

func restTooLarge(limit int64) *Error {
	return &Error{
		Code:    "RequestEntityTooLargeException",
		Message: fmt.Sprintf("Request must be smaller than %d bytes for the operation.", limit),
		Status:  http.StatusRequestEntityTooLarge,
	}
}

// EncodeRESTError encodes the REST-JSON error body: "Type" ("User" for a
// 4xx, "Service" otherwise), the message under "message" (or "Message",
// as the error's shape has it) and the error's Fields. The code travels in
// the X-Amzn-ErrorType header, which is what botocore and the Go SDK read
// for REST-JSON errors.
func EncodeRESTError(e *Error) []byte {
	m := make(map[string]any, 2+len(e.Fields))
	for k, v := range e.Fields {
		m[k] = v
	}
	if _, ok := m["Type"]; !ok {
		if e.Status >= 500 {
			m["Type"] = "Service"
		} else {
			m["Type"] = "User"
		}
	}
	if e.Message != "" {
		m[messageKey(e)] = e.Message
	}
	body, err := json.Marshal(m)
	if err != nil {
		return []byte(`{"Type":"Service","message":"An internal error occurred."}`)
	}
	return body
}

func writeRESTError(w http.ResponseWriter, e *Error) {
	body := EncodeRESTError(e)
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.Code)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	w.Write(body)
}

// WithCapitalMessage returns a copy of e whose message is written under
// "Message", as some error shapes spell it (Lambda's
// ResourceNotFoundException).
func (e *Error) WithCapitalMessage() *Error {
	c := *e
	c.capitalMessage = true
	return &c
}

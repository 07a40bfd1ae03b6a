package awsproto

import (
	"context"
	"net/http"
	"time"
)

// RequestInfo describes the request being served: who sent it, where, and
// how. The router puts it in the handler's context.
type RequestInfo struct {
	RequestID   string
	Operation   string
	AccountID   string
	Region      string
	AccessKeyID string
	SourceIP    string
	UserAgent   string
	Protocol    Protocol
	Received    time.Time
	HTTP        *http.Request
	// Service is the SigV4 signing name of the service called (kinesis).
	Service string
	// Secure is set when the request came over TLS (aws:SecureTransport).
	Secure bool
	// Principal is the caller: verified when authentication is on, else
	// derived from the access key (Type "Unknown"). Nil when the request
	// carried no well-formed signature.
	Principal *Principal
	// Action and Resources are what the service authorized (the IAM action
	// and the resource ARNs), for the audit log.
	Action    string
	Resources []string

	authorizer Authorizer
	// afterResponse holds what AfterResponse registered; afterOK is set
	// by a router that runs it once the response is written.
	afterResponse []func()
	afterOK       bool
}

// AfterResponse registers fn to run once the request's response has been
// written (every byte handed to the connection, or the write failed), and
// reports whether it will: false when ctx is not a request served by a
// router that does so, and then fn never runs. A handler uses it to take
// back memory its output points into, such as read buffers.
func AfterResponse(ctx context.Context, fn func()) bool {
	info, ok := ctx.Value(infoKey{}).(*RequestInfo)
	if !ok || info == nil || !info.afterOK {
		return false
	}
	info.afterResponse = append(info.afterResponse, fn)
	return true
}

// CanRunAfterResponse reports whether AfterResponse would register a
// function for ctx's request.
func CanRunAfterResponse(ctx context.Context) bool {
	info, ok := ctx.Value(infoKey{}).(*RequestInfo)
	return ok && info != nil && info.afterOK
}

// runAfterResponse runs what AfterResponse registered, last first.
func (info *RequestInfo) runAfterResponse() {
	for i := len(info.afterResponse) - 1; i >= 0; i-- {
		info.afterResponse[i]()
	}
	info.afterResponse = nil
}

type infoKey struct{}

// WithInfo returns a context that carries info.
func WithInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// Info returns the request's RequestInfo. Inside a handler the router has
// set it; elsewhere Info returns an empty RequestInfo, never nil.
func Info(ctx context.Context) *RequestInfo {
	if info, ok := ctx.Value(infoKey{}).(*RequestInfo); ok && info != nil {
		return info
	}
	return &RequestInfo{}
}

package awsproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is the request size limit when RouterOptions leaves
// it zero: 7 MiB, as kinesalite observed from AWS, above the 5 MiB a
// PutRecords request may carry in base64.
const DefaultMaxBodyBytes = 7 << 20

// RouterOptions configures a Router.
type RouterOptions struct {
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DefaultRegion and DefaultAccountID apply when the request's
	// credentials do not name a region or a 12-digit account.
	DefaultRegion, DefaultAccountID string
	// Keys, when set, turns on authentication: every signature is
	// verified against it and the account is the key owner's. Nil is dev
	// mode: any well-formed signature is accepted.
	Keys KeyStore
	// Authorizer, when set, decides the AuthzRequests services make.
	Authorizer Authorizer
	// Now is the clock signatures are checked against; nil: time.Now.
	Now func() time.Time
	// OnComplete, when set, is called after every request to a known
	// operation, with its raw body, its output (nil on error) and its
	// error (nil on success); the audit log hangs here.
	OnComplete func(ctx context.Context, info *RequestInfo, body []byte, out any, err *Error)
}

type service struct {
	signingName     string
	jsonContentType string
	ops             map[string]Handler
	crc32, gzip     bool // see ServiceOption
	rpcv2           bool // see RPCv2CBOR
}

// Router dispatches AWS JSON/CBOR requests by X-Amz-Target to registered
// operations, and turns their results and errors into AWS responses.
type Router struct {
	opts     RouterOptions
	log      *slog.Logger
	services map[string]*service
	// rest routes the REST services by method and path; nil without any.
	rest *http.ServeMux
}

// NewRouter returns a Router with no services.
func NewRouter(opts RouterOptions) *Router {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.DefaultRegion == "" {
		opts.DefaultRegion = "us-east-1"
	}
	if opts.DefaultAccountID == "" {
		opts.DefaultAccountID = "000000000000"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{opts: opts, log: log, services: map[string]*service{}}
}

// Register serves ops under "X-Amz-Target: <targetPrefix>.<Op>".
// jsonVersion is "1.1" (Kinesis, Firehose) or "1.0" (DynamoDB); CBOR
// (application/x-amz-cbor-1.1) is accepted for every service. Register is
// meant for setup, before the router serves requests.
func (r *Router) Register(targetPrefix, jsonVersion string, ops map[string]Handler, opts ...ServiceOption) {
	s := r.services[targetPrefix]
	if s == nil {
		s = &service{ops: map[string]Handler{}, signingName: signingName(targetPrefix)}
		r.services[targetPrefix] = s
	}
	s.jsonContentType = "application/x-amz-json-" + jsonVersion
	for name, h := range ops {
		s.ops[name] = h
	}
	for _, o := range opts {
		o(s)
	}
}

// ServeHTTP implements http.Handler.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	received := time.Now()
	h := w.Header()
	requestID := newRequestID()
	// Canonical keys set directly: http.Header.Set would canonicalize
	// (and allocate) them on every request.
	h["X-Amzn-Requestid"] = []string{requestID}
	origin := req.Header.Get("Origin")
	if req.Method != http.MethodOptions || origin == "" {
		h["X-Amz-Id-2"] = []string{amzID2()}
	}
	if origin != "" {
		h.Set("Access-Control-Allow-Origin", "*")
		if req.Method == http.MethodOptions {
			if v := req.Header.Get("Access-Control-Request-Headers"); v != "" {
				h.Set("Access-Control-Allow-Headers", v)
			}
			if v := req.Header.Get("Access-Control-Request-Method"); v != "" {
				h.Set("Access-Control-Allow-Methods", v)
			}
			h.Set("Access-Control-Max-Age", "172800")
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
			return
		}
		h.Set("Access-Control-Expose-Headers", "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date")
	}
	if r.restRoute(req) {
		r.rest.ServeHTTP(w, req)
		return
	}
	if req.Method != http.MethodPost {
		writeXMLError(w, http.StatusForbidden, CodeAccessDenied, "Unable to determine service/operation name to be authorized")
		return
	}

	// What the request is, before its body: AWS rejects bad targets and
	// content types without reading it.
	target := req.Header.Get("X-Amz-Target")
	svcName, opName, _ := strings.Cut(target, ".")
	rpcv2 := false
	if target == "" {
		if s, o, ok := rpcv2Target(req.URL.Path); ok {
			svcName, opName, rpcv2 = s, o, true
		}
	}
	svc := r.services[svcName]
	var handler Handler
	bodyW := w // what the request body's size limit reports to
	if svc != nil {
		handler = svc.ops[opName]
		if svc.crc32 || svc.gzip {
			// Every response of the service from here on, errors
			// included, is finished with the headers of its options.
			fw := &finishingWriter{ResponseWriter: w, crc32: svc.crc32,
				gzip: svc.gzip && acceptsGzip(req.Header.Get("Accept-Encoding"))}
			defer fw.finish()
			w = fw
		}
	}
	ct := req.Header.Get("Content-Type")
	if !knownContentType(ct) {
		ct, _, _ = mime.ParseMediaType(ct)
	}
	var proto Protocol
	switch {
	case rpcv2 && ct == ContentTypeCBOR && svc != nil && svc.rpcv2:
		proto = ProtocolRPCv2CBOR
		h["Smithy-Protocol"] = []string{"rpc-v2-cbor"}
	case ct == ContentTypeCBOR11:
		proto = ProtocolCBOR
	case svc != nil && ct == svc.jsonContentType, svc == nil && (ct == ContentTypeJSON11 || ct == ContentTypeJSON10):
		proto = ProtocolJSON
	default:
		if svcName == "" || opName == "" {
			writeXMLError(w, http.StatusForbidden, CodeAccessDenied, "Unable to determine service/operation name to be authorized")
			return
		}
		// AWS answers 404 with an empty XML element here.
		h.Set("Content-Length", strconv.Itoa(len("<UnknownOperationException/>\n")))
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<UnknownOperationException/>\n")
		return
	}
	contentType := ct
	if handler == nil {
		r.writeError(w, proto, contentType, requestID, NewError(CodeUnknownOperation, ""))
		return
	}

	if req.ContentLength > r.opts.MaxBodyBytes {
		r.writeTooLarge(w, proto, contentType, requestID)
		return
	}
	buf, err := readBody(http.MaxBytesReader(bodyW, req.Body, r.opts.MaxBodyBytes), req.ContentLength)
	if buf != nil {
		// Decoded inputs never alias the body (every decoder copies what it
		// keeps), so it can be reused once the response is written.
		defer releaseBody(buf)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			r.writeTooLarge(w, proto, contentType, requestID)
			return
		}
		r.log.Warn("reading request body", "request_id", requestID, "err", err)
		r.writeError(w, proto, contentType, requestID, serializationError("Could not read the request body."))
		return
	}
	body := *buf

	info := &RequestInfo{
		RequestID:  requestID,
		Operation:  opName,
		Service:    svc.signingName,
		SourceIP:   sourceIP(req.RemoteAddr),
		UserAgent:  req.UserAgent(),
		Protocol:   proto,
		Received:   received,
		HTTP:       req,
		Secure:     req.TLS != nil,
		authorizer: r.opts.Authorizer,
		afterOK:    true,
	}
	// Whatever returns from here on has written its response (net/http's
	// writers copy what they are given), also after a panic.
	defer info.runAfterResponse()
	ctx := WithInfo(req.Context(), info)
	aerr := r.identify(req, body, svc.signingName, info)
	if aerr != nil {
		r.complete(ctx, info, body, nil, aerr)
		r.writeError(w, proto, contentType, requestID, aerr)
		return
	}
	out, err := r.call(ctx, handler, body)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			r.log.Error("operation failed", "request_id", requestID, "operation", opName, "err", err)
			ae = internalFailure()
		}
		r.complete(ctx, info, body, nil, ae)
		r.writeError(w, proto, contentType, requestID, ae)
		return
	}
	r.complete(ctx, info, body, out, nil)
	if st, ok := out.(Streamer); ok {
		r.stream(ctx, w, st)
		return
	}
	r.writeOutput(w, proto, contentType, requestID, out)
}

// stream hands the response to a Streamer. A panic is logged; the response
// has started, so the client sees the body end early.
func (r *Router) stream(ctx context.Context, w http.ResponseWriter, st Streamer) {
	defer func() {
		if p := recover(); p != nil {
			info := Info(ctx)
			r.log.Error("streaming operation panicked", "request_id", info.RequestID, "operation", info.Operation,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	rc := http.NewResponseController(w)
	st.ServeStream(ctx, w, func() {
		if err := rc.Flush(); err != nil {
			r.log.Debug("flushing a streamed response", "request_id", Info(ctx).RequestID, "err", err)
		}
	})
}

// complete hands a finished request to OnComplete.
func (r *Router) complete(ctx context.Context, info *RequestInfo, body []byte, out any, err *Error) {
	if r.opts.OnComplete != nil {
		r.opts.OnComplete(ctx, info, body, out, err)
	}
}

// call runs a handler, turning a panic into an InternalFailure so that
// the server keeps serving.
func (r *Router) call(ctx context.Context, h Handler, body []byte) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			info := Info(ctx)
			r.log.Error("operation panicked", "request_id", info.RequestID, "operation", info.Operation,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out, err = nil, internalFailure()
		}
	}()
	return h(ctx, body)
}

func (r *Router) writeOutput(w http.ResponseWriter, proto Protocol, contentType, requestID string, out any) {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	if out == nil {
		h["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusOK)
		return
	}
	if proto == ProtocolJSON {
		if n, ok := JSONSize(out); ok && n >= sizedMin {
			h["Content-Length"] = []string{strconv.Itoa(n)}
			w.WriteHeader(http.StatusOK)
			written, err := WriteJSONPieces(w, out, pieceSize)
			if err == nil && written != n {
				r.log.Error("response length differs from its Content-Length", "request_id", requestID, "length", n, "written", written)
			}
			return
		}
	}
	body, err := encodeTo(nil, proto, out)
	if err != nil {
		r.log.Error("encoding response", "request_id", requestID, "err", err)
		r.writeError(w, proto, contentType, requestID, internalFailure())
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	// A buffer from Grow goes back to its pool (others are not pooled).
	releaseBody(&body)
}

func (r *Router) writeTooLarge(w http.ResponseWriter, proto Protocol, contentType, requestID string) {
	// The rest of the body is not read; the connection must not be reused.
	w.Header().Set("Connection", "close")
	r.writeError(w, proto, contentType, requestID, &Error{
		Code:    CodeRequestEntityTooLarge,
		Message: fmt.Sprintf("Request body exceeds the maximum of %d bytes.", r.opts.MaxBodyBytes),
		Status:  http.StatusRequestEntityTooLarge,
	})
}

// writeError writes the AWS error envelope: {"__type": ..., "message": ...}
// in the request's protocol, with X-Amzn-ErrorType.
func (r *Router) writeError(w http.ResponseWriter, proto Protocol, contentType, requestID string, e *Error) {
	body, err := EncodeError(proto, e)
	if err != nil {
		r.log.Error("encoding error response", "request_id", requestID, "err", err)
		body, proto, contentType = []byte(`{"__type":"InternalFailure"}`), ProtocolJSON, ContentTypeJSON11
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-ErrorType", e.Code)
	if e.QueryError != "" {
		h.Set("X-Amzn-Query-Error", e.QueryError)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	w.Write(body)
}

// EncodeError encodes an error body in protocol p. AWS writes the message
// of SerializationExceptions under "Message" and omits empty messages.
func EncodeError(p Protocol, e *Error) ([]byte, error) {
	if p == ProtocolCBOR || p == ProtocolRPCv2CBOR {
		m := make(map[string]any, 2+len(e.Fields))
		for k, v := range e.Fields {
			m[k] = v
		}
		m["__type"] = e.Code
		if e.Message != "" {
			m[messageKey(e)] = e.Message
		}
		return cborEncMode.Marshal(m)
	}
	var b bytes.Buffer
	b.WriteString(`{"__type":`)
	writeJSONString(&b, e.Code)
	if e.Message != "" {
		b.WriteString(`,"` + messageKey(e) + `":`)
		writeJSONString(&b, e.Message)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := json.Marshal(e.Fields[k])
		if err != nil {
			return nil, fmt.Errorf("awsproto: error member %s: %w", k, err)
		}
		b.WriteByte(',')
		writeJSONString(&b, k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func messageKey(e *Error) string {
	if e.capitalMessage {
		return "Message"
	}
	return "message"
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

func writeXMLError(w http.ResponseWriter, status int, code, msg string) {
	body := "<" + code + ">\n  <Message>" + msg + "</Message>\n</" + code + ">\n"
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// knownContentType reports whether ct is exactly one of the media types
// the router serves, with no parameters: then it needs no parsing.
func knownContentType(ct string) bool {
	return ct == ContentTypeJSON11 || ct == ContentTypeJSON10 || ct == ContentTypeCBOR11 || ct == ContentTypeCBOR
}

func sourceIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

var _ http.Handler = (*Router)(nil)

// identify reads the caller from the request's SigV4 signature into info:
// access key, region and account, and with Keys set the verified
// principal (or the authentication error). Without a signature it returns
// the parse error and info keeps the default region.
func (r *Router) identify(req *http.Request, body []byte, signingName string, info *RequestInfo) *Error {
	if p := inProcessCaller(req); p != nil {
		// A service acting as a role, through InProcess: the caller was
		// established by RoleAssumer, not by a signature.
		info.Principal, info.AccountID = p, p.AccountID
		if sig, aerr := ParseSigV4(req); aerr == nil {
			info.Region = sig.Credential.Region
		}
		if info.Region == "" {
			info.Region = r.opts.DefaultRegion
		}
		return nil
	}
	sig, aerr := ParseSigV4(req)
	if aerr == nil {
		info.AccessKeyID = sig.Credential.AccessKeyID
		info.Region = sig.Credential.Region
		if r.opts.Keys != nil {
			info.Principal, aerr = r.authenticate(req, body, sig, signingName)
			if info.Principal != nil {
				info.AccountID = info.Principal.AccountID
			}
		} else {
			info.AccountID = AccountFromAccessKey(sig.Credential.AccessKeyID, r.opts.DefaultAccountID)
			info.Principal = &Principal{Type: "Unknown", PrincipalID: info.AccessKeyID, AccountID: info.AccountID, AccessKeyID: info.AccessKeyID}
		}
	}
	if info.Region == "" {
		info.Region = r.opts.DefaultRegion
	}
	return aerr
}

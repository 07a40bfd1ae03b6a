package lambda

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/lambda/lambdaapi"
)

// Payload limits of Invoke: 6 MB synchronous, 1 MB asynchronous.
const (
	maxSyncPayload  = 6291456
	maxAsyncPayload = 1048576
	// logTailBytes is how much of the log X-Amz-Log-Result carries.
	logTailBytes = 4096
)

func (s *Service) invoke(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	h, q := req.HTTP.Header, req.HTTP.URL.Query()
	in := lambdaapi.InvocationRequest{FunctionName: awsproto.Ptr(req.HTTP.PathValue("FunctionName"))}
	if q.Has("Qualifier") {
		in.Qualifier = awsproto.Ptr(q.Get("Qualifier"))
	}
	if v := h.Get("X-Amz-Invocation-Type"); v != "" {
		in.InvocationType = awsproto.Ptr(lambdaapi.InvocationType(v))
	}
	if v := h.Get("X-Amz-Log-Type"); v != "" {
		in.LogType = awsproto.Ptr(lambdaapi.LogType(v))
	}
	if v := h.Get("X-Amz-Client-Context"); v != "" {
		in.ClientContext = awsproto.Ptr(v)
	}
	if err := validate(&in); err != nil {
		return nil, err
	}
	r := parseRef(ctx, *in.FunctionName)
	if in.Qualifier != nil {
		r.qualifier = *in.Qualifier
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:InvokeFunction", Resource: r.arn()}); err != nil {
		return nil, err
	}
	invType := lambdaapi.InvocationTypeRequestResponse
	if in.InvocationType != nil {
		invType = *in.InvocationType
	}
	payload := req.Body
	limit := maxSyncPayload
	if invType == lambdaapi.InvocationTypeEvent {
		limit = maxAsyncPayload
	}
	if len(payload) > limit {
		return nil, awsproto.NewError("RequestTooLargeException",
			"Request must be smaller than %d bytes for the InvokeFunction operation", limit).WithStatus(http.StatusRequestEntityTooLarge)
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		return nil, awsproto.NewError("InvalidRequestContentException",
			"Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value")
	}
	var clientContext string
	if in.ClientContext != nil {
		cc, err := base64.StdEncoding.DecodeString(*in.ClientContext)
		if err != nil || !json.Valid(cc) {
			return nil, errInvalid("Client context must be a valid Base64-encoded JSON object.")
		}
		clientContext = string(cc)
	}
	f, _, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if invType == lambdaapi.InvocationTypeDryRun {
		return &awsproto.RESTResponse{Status: http.StatusNoContent}, nil
	}
	inv := &invocation{
		id:            awsproto.Info(ctx).RequestID,
		payload:       payload,
		arn:           f.arn(),
		traceID:       traceID(s.now()),
		clientContext: clientContext,
		timeout:       time.Duration(f.Timeout) * time.Second,
		done:          make(chan result, 1),
	}
	// The payload outlives the request (its body buffer is reused).
	inv.payload = append([]byte(nil), payload...)
	code := func() ([]byte, error) { return s.code(context.WithoutCancel(ctx), f) }
	if invType == lambdaapi.InvocationTypeEvent {
		if err := s.enqueue(ctx, f, inv); err != nil {
			return nil, err
		}
		return &awsproto.RESTResponse{Status: http.StatusAccepted}, nil
	}

	inst, err := s.run.acquire(ctx, f, code, false)
	var res result
	var thr *throttled
	var se *startError
	started := time.Now()
	defer func() {
		if thr == nil && err == nil || se != nil {
			s.counted(f, res, time.Since(started))
		}
	}()
	switch {
	case errors.As(err, &thr):
		s.stats.function(f.Account, f.Region, f.Name).Throttles.Add(1)
		return nil, errTooManyRequests(thr.reason)
	case errors.As(err, &se):
		res = errorResult(se.errorType, se.message)
	case errors.Is(err, errClosed):
		return nil, awsproto.NewError("ServiceException", "The server is stopping.").
			WithStatus(http.StatusServiceUnavailable).WithCapitalMessage()
	case err != nil:
		return nil, err
	case f.endpoint():
		res = s.run.endpoint.invoke(ctx, inv, f)
		s.run.release(f, nil)
	default:
		res = s.run.invokeOn(ctx, f, code, inst, inv, false)
	}
	out := &awsproto.RESTResponse{Status: http.StatusOK, ContentType: "application/json", Body: res.body,
		Header: http.Header{"X-Amz-Executed-Version": {latest}}}
	if res.functionError != "" {
		out.Header.Set("X-Amz-Function-Error", res.functionError)
	}
	if in.LogType != nil && *in.LogType == lambdaapi.LogTypeTail {
		logs := res.logs
		if len(logs) > logTailBytes {
			logs = logs[len(logs)-logTailBytes:]
		}
		out.Header.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(logs))
	}
	return out, nil
}

// call invokes f synchronously with payload on behalf of the server
// itself (an event source mapping): it waits for an execution slot
// rather than being throttled. The error is one of the invocation's
// start (the server is stopping, ctx is done), never the function's.
func (s *Service) call(ctx context.Context, f *function, payload []byte) (result, error) {
	return s.callWith(ctx, f, &invocation{id: newRevisionID(), payload: payload})
}

// callWith is call for an invocation whose id, payload and client
// context are set; it fills in the rest.
func (s *Service) callWith(ctx context.Context, f *function, inv *invocation) (result, error) {
	inv.arn = f.arn()
	inv.traceID = traceID(s.now())
	inv.timeout = time.Duration(f.Timeout) * time.Second
	inv.done = make(chan result, 1)
	code := func() ([]byte, error) { return s.code(context.WithoutCancel(ctx), f) }
	inst, err := s.run.acquire(ctx, f, code, true)
	started := time.Now()
	var se *startError
	var res result
	switch {
	case errors.As(err, &se):
		res = errorResult(se.errorType, se.message)
	case err != nil:
		return result{}, err
	case f.endpoint():
		res = s.run.endpoint.invoke(ctx, inv, f)
		s.run.release(f, nil)
	default:
		res = s.run.invokeOn(ctx, f, code, inst, inv, true)
	}
	if ctx.Err() == nil {
		s.counted(f, res, time.Since(started))
	}
	return res, nil
}

// traceID is an X-Ray trace header for one invocation.
func traceID(now time.Time) string {
	var b [20]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%s-%s;Parent=%s;Sampled=0", strconv.FormatInt(now.Unix(), 16), h[:24], h[24:40])
}

package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// endpointInvoker runs the HTTP endpoint functions: a function whose
// Handler is an http(s) URL is invoked by POSTing its event there; a 2xx
// answer's body is the result, any other answer a function error.
type endpointInvoker struct {
	client *http.Client
	// remote invokes the remote functions (a lambda+http(s) Handler).
	remote *remoteInvoker
}

func newEndpointInvoker() *endpointInvoker {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Endpoints are named by the function, not found through the
	// server's environment.
	tr.Proxy = nil
	return &endpointInvoker{remote: newRemoteInvoker(), client: &http.Client{
		Transport: tr,
		// Redirects are not followed: the URL is the function.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (e *endpointInvoker) close() {
	e.client.CloseIdleConnections()
	e.remote.close()
}

// invoke POSTs inv to f's URL with the Runtime API's headers, bounded by
// f's timeout, and returns the outcome with a log of the exchange.
func (e *endpointInvoker) invoke(ctx context.Context, inv *invocation, f *function) result {
	start := time.Now()
	var logs bytes.Buffer
	fmt.Fprintf(&logs, "START RequestId: %s Version: %s\n", inv.id, latest)
	ctx, cancel := context.WithTimeout(ctx, inv.timeout)
	defer cancel()
	var res result
	var err error
	if isRemoteHandler(f.Handler) {
		res, err = e.remote.invoke(ctx, inv, f, &logs)
	} else {
		res, err = e.post(ctx, inv, f, &logs)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		res = timeoutResult(inv, f)
		fmt.Fprintf(&logs, "%s %s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, timeoutMessage(f))
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	fmt.Fprintf(&logs, "END RequestId: %s\n", inv.id)
	// The memory the endpoint used is not known here.
	writeReport(&logs, inv.id, ms, f.MemorySize, -1)
	res.logs = logs.Bytes()
	return res
}

// post makes the call; its error, when there is one, is the transport's
// (context.DeadlineExceeded when the function ran out of time).
func (e *endpointInvoker) post(ctx context.Context, inv *invocation, f *function, logs *bytes.Buffer) (result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.Handler, bytes.NewReader(inv.payload))
	if err != nil {
		return errorResult("Function.EndpointError", "RequestId: "+inv.id+" Error: "+err.Error()), err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(inv.timeout).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
	h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
	if inv.clientContext != "" {
		h.Set("Lambda-Runtime-Client-Context", inv.clientContext)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		fmt.Fprintf(logs, "POST %s: %v\n", f.Handler, err)
		return errorResult("Function.EndpointUnreachable", "RequestId: "+inv.id+" Error: POST "+f.Handler+": "+err.Error()), err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPayloadBytes+1))
	fmt.Fprintf(logs, "POST %s: %s, %d bytes\n", f.Handler, resp.Status, len(body))
	switch {
	case err != nil:
		return errorResult("Function.EndpointError", "RequestId: "+inv.id+" Error: reading the answer of "+f.Handler+": "+err.Error()), err
	case len(body) > maxPayloadBytes:
		return errorResult("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayloadBytes)), nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return result{body: body}, nil
	}
	// An error answer in Lambda's shape is passed on as it is; any other
	// is wrapped in one.
	var shaped struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &shaped) == nil && shaped.ErrorMessage != nil {
		return result{body: body, functionError: "Unhandled"}, nil
	}
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 256 {
		snippet = snippet[:256]
	}
	return errorResult("Function.EndpointError", fmt.Sprintf("RequestId: %s Error: POST %s answered %s: %s", inv.id, f.Handler, resp.Status, snippet)), nil
}

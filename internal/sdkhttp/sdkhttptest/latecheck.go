// Package sdkhttptest makes the HTTP/1.1 race that sdkhttp guards against
// happen on demand, so that tests can show what it does to a call.
package sdkhttptest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"
)

// guard bounds each wait of LateCheck, so that a net/http that no longer
// behaves as described fails the test instead of hanging it.
const guard = 30 * time.Second

// LateCheck is an HTTP client for aws-sdk-go-v2 clients of a plain-HTTP
// server. For the first requests of an operation, net/http's check for bytes
// beyond the body's Content-Length waits until the response headers have
// arrived, and the body is closed before it, as aws-sdk-go-v2 closes it:
// what happens when the transport's writing goroutine is descheduled on a
// busy machine. Do returns the response only once the request's write has
// ended, and when it failed, once net/http has closed the connection.
// Responses are read from the connections a byte at a time, so a response
// body is never buffered with its headers: a closed connection fails its
// read.
type LateCheck struct {
	t      testing.TB
	client *http.Client

	target       string // ".Operation", the end of X-Amz-Target
	mu           sync.Mutex
	left         int // requests still to hold
	held, failed int
}

// NewLateCheck returns a LateCheck that holds the check of the first n
// requests of the operation (PutRecords, UpdateItem...).
func NewLateCheck(t testing.TB, operation string, n int) *LateCheck {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &conn{Conn: c, closed: make(chan struct{})}, nil
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &LateCheck{t: t, client: &http.Client{Transport: tr}, target: "." + operation, left: n}
}

// Held is the number of requests whose check was held; Failed the number
// of them whose write failed (the check got an error from the body).
func (l *LateCheck) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

func (l *LateCheck) Failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// Do implements the HTTPClient of aws-sdk-go-v2 services.
func (l *LateCheck) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 ||
		!strings.HasSuffix(req.Header.Get("X-Amz-Target"), l.target) || !l.hold() {
		return l.client.Do(req)
	}
	g := &gate{body: req.Body, left: req.ContentLength, responded: make(chan struct{})}
	var body io.ReadCloser = g
	if _, ok := req.Body.(io.WriterTo); ok {
		body = writerToGate{g}
	}
	wrote := make(chan error, 1)
	var mu sync.Mutex
	var c *conn
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			c, _ = info.Conn.(*conn)
			mu.Unlock()
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) { wrote <- info.Err },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	req.Body = body
	resp, err := l.client.Do(req)
	close(g.responded)
	if err != nil {
		return resp, err
	}
	select {
	case werr := <-wrote:
		if werr == nil {
			return resp, nil
		}
		l.mu.Lock()
		l.failed++
		l.mu.Unlock()
	case <-time.After(guard):
		l.t.Errorf("sdkhttptest: the request's write did not end within %v of its response", guard)
		return resp, nil
	}
	mu.Lock()
	cc := c
	mu.Unlock()
	if cc == nil {
		l.t.Errorf("sdkhttptest: the request went over a connection of another dialer")
		return resp, nil
	}
	select {
	case <-cc.closed:
	case <-time.After(guard):
		l.t.Errorf("sdkhttptest: the connection of a failed write was not closed within %v", guard)
	}
	return resp, nil
}

func (l *LateCheck) hold() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left == 0 {
		return false
	}
	l.left--
	l.held++
	return true
}

// gate hands over a body's Content-Length bytes; the next call, net/http's
// check for more, waits for the response and finds the body closed.
type gate struct {
	body      io.ReadCloser
	left      int64
	responded chan struct{}
	once      sync.Once
}

func (g *gate) Read(p []byte) (int, error) {
	if g.left > 0 {
		p = p[:min(int64(len(p)), g.left)]
		n, err := g.body.Read(p)
		g.left -= int64(n)
		return n, err
	}
	g.late()
	return g.body.Read(p)
}

func (g *gate) Close() error { return g.body.Close() }

func (g *gate) late() {
	g.once.Do(func() {
		<-g.responded
		g.body.Close()
	})
}

// writerToGate is a gate for a body that offers io.WriterTo, as
// aws-sdk-go-v2's bodies do.
type writerToGate struct{ *gate }

func (g writerToGate) WriteTo(w io.Writer) (int64, error) {
	if g.left > 0 {
		return io.Copy(w, struct{ io.Reader }{g.gate})
	}
	g.late()
	return g.body.(io.WriterTo).WriteTo(w)
}

// conn reads a byte at a time and reports its closing.
type conn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *conn) Read(p []byte) (int, error) { return c.Conn.Read(p[:min(len(p), 1)]) }

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// Package servertest starts a real Millrace server inside a test: on a free
// port of 127.0.0.1, with its data in t.TempDir(), state-transition delays
// of zero, per-shard throughput limits off (tests that check throttling
// turn them on) and its logs (warnings and errors) in the test's log. It is for
// tests only.
//
// Millrace's own tests use it for its full view of the server (Config,
// Server). The public package millracetest is a thin layer over it that
// speaks in options of its own, since users cannot import internal/config.
package servertest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

// Credentials the clients of Kinesis sign with: AWS's documented example
// key, which is not a 12-digit number, so requests land in the configured
// account (000000000000 by default).
const (
	AccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	Region          = "us-east-1"
)

// Server is a server started by Start.
type Server struct {
	// URL is the endpoint, e.g. "http://127.0.0.1:41234". It stays the same
	// across Restart.
	URL string
	// Config is the configuration the server runs with. After Start its
	// Listen holds the bound address, so a restart binds the same port.
	Config config.Config

	mu  sync.Mutex
	srv *server.Server
	log *testLog
	// logger receives the server's logs; nil: warnings and errors go to
	// the test's log.
	logger *slog.Logger
	// transports of the clients handed out; their idle connections go
	// with the server that accepted them.
	transports []*http.Transport
}

// Start starts a server for t and stops it when the test ends. opts adjust
// the configuration before the start.
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	return StartWithLogger(t, nil, opts...)
}

// StartWithLogger is Start with the server's logs sent to logger; a nil
// logger sends warnings and errors to the test's log, as Start does.
func StartWithLogger(t testing.TB, logger *slog.Logger, opts ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.CreateDelay, cfg.DeleteDelay, cfg.UpdateDelay = 0, 0, 0
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.ThroughputLimits = "off"
	// Tests share files with the functions they run (paths in their
	// events and environment), which a sandbox would hide: tests of the
	// sandbox turn it on.
	cfg.LambdaSandbox = "off"
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{Config: cfg, log: &testLog{t: t}, logger: logger}
	s.start(t)
	s.Config.Listen = s.srv.Addr().String()
	s.URL = s.srv.URL()
	t.Cleanup(func() {
		s.Stop(t)
		s.log.close()
	})
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.Start(context.Background(), s.Config, logger)
	if err != nil {
		t.Fatalf("starting the Millrace server: %v", err)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// Server returns the running server, or nil after Stop.
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Kinesis returns an aws-sdk-go-v2 Kinesis client for the server: region
// us-east-1, static example credentials, no retries (so a test sees the
// first answer). opts adjust the client options.
func (s *Server) Kinesis(opts ...func(*kinesis.Options)) *kinesis.Client {
	o := kinesis.Options{
		Region:           Region,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       s.HTTPClient(),
	}
	return kinesis.New(o, opts...)
}

// HTTPClient returns an HTTP client for an SDK client of the server: its
// own connections (dropped when the server stops) and request bodies
// handed to the transport in memory (see BufferedBodies).
func (s *Server) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	s.mu.Lock()
	s.transports = append(s.transports, tr)
	s.mu.Unlock()
	return &http.Client{Transport: BufferedBodies{Transport: tr}}
}

// BufferedBodies hands Transport a copy of each request body in memory.
//
// aws-sdk-go-v2 (smithy-go) closes a request's body as soon as the response
// headers arrive, and its body wrapper then answers WriteTo with io.EOF.
// Over HTTP/1.1, net/http writes a body it does not know to be in memory
// after flushing the headers, straight to the connection, and only then
// checks for bytes beyond the Content-Length with io.Copy, which calls that
// WriteTo. When the server answers before the transport's write goroutine
// gets to that check (a fast server on a busy machine), the check fails
// with io.EOF and the transport closes the connection under the response
// still being read: "use of closed network connection". With the body in a
// bytes.Reader, headers and body are written together before the response
// can arrive. HTTP/2 writes bodies differently and is not affected.
type BufferedBodies struct{ Transport http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (b BufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.Transport.RoundTrip(r)
	}
	var body []byte
	var err error
	if r.ContentLength > 0 {
		// Read into a buffer of the announced length rather than one
		// grown by doubling (a PutRecordBatch body is up to 5 MB).
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(r.Body)
	}
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.Transport.RoundTrip(r)
}

// Restart stops the server gracefully and starts it again on the same data
// directory and address. With InMemory set the data does not survive.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.start(t)
	if got := s.srv.URL(); got != s.URL {
		t.Fatalf("the restarted Millrace server serves %s, want %s", got, s.URL)
	}
}

// Stop stops the server gracefully. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Errorf("stopping the Millrace server: %v", err)
	}
	// The server closed its keep-alive connections; drop the clients' ends
	// too, or the first request after a Restart fails on a dead one (the
	// clients do not retry).
	s.mu.Lock()
	for _, tr := range s.transports {
		tr.CloseIdleConnections()
	}
	s.mu.Unlock()
}

// testLog writes log lines to the test's log until the test ends; lines
// written later (a background goroutine outliving its test) are dropped
// rather than panicking the test binary.
type testLog struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

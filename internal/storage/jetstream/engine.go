package jetstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/millrace/millrace/internal/storage"
)

var (
	_ storage.Log         = (*Engine)(nil)
	_ storage.Catalog     = (*Engine)(nil)
	_ storage.ShardCloser = (*Engine)(nil)
)

// Options configures an Engine: either Embed (a NATS server inside this
// process) or URL (an existing NATS cluster).
type Options struct {
	// Embed starts a NATS server in this process and connects to it.
	Embed *ServerOptions
	// URL lists the NATS servers to connect to (comma-separated nats://
	// or tls:// URLs) when Embed is nil.
	URL string
	// CredsFile is a NATS credentials file (user JWT and seed) for URL.
	CredsFile string
	// TLS, when set, is used for the client connection to URL.
	TLS *tls.Config
	// Replicas is the number of copies of every shard's stream and of the
	// catalog: 3 in a cluster, 1 on a lone server (the default).
	Replicas int
	// Prefix starts every stream, subject and bucket name, so that several
	// Millrace deployments can share one NATS cluster. Default "millrace".
	Prefix string
	// Timeout bounds each request to JetStream when the caller's context
	// has no deadline. Default 10 s (a replica group's leader election
	// takes 4 to 9 s after a SIGKILL).
	Timeout time.Duration
	// Logger receives the engine's warnings; nil discards them.
	Logger *slog.Logger
}

// ServerOptions configures the embedded NATS server.
type ServerOptions struct {
	// Name is the server's name in the cluster; default "millrace".
	Name string
	// Dir is where JetStream keeps its files.
	Dir string
	// Host and Port are where the server takes client connections (other
	// Millrace nodes do not need them; NATS tools do). Port 0 opens no
	// client listener on a lone server (the engine connects in-process)
	// and one on a free loopback port in a cluster (NATS starts its routes
	// only once a client listener is up).
	Host string
	Port int
	// Cluster is the NATS cluster's name; empty runs a lone server.
	Cluster string
	// ClusterHost and ClusterPort are where this server takes routes from
	// the other servers of the cluster.
	ClusterHost string
	ClusterPort int
	// Routes are the other servers' route URLs (nats://host:port).
	Routes []string
	// ClusterTLS, when set, encrypts and authenticates routes: each server
	// presents its certificate and verifies the others'.
	ClusterTLS *tls.Config
	// Logger, when set, receives the NATS server's notices and errors.
	Logger *slog.Logger
	// SystemPassword, when set, opens the system account to the user
	// SystemUser with this password (cluster administration: see Admin).
	// Connections without credentials still land in the account that
	// holds Millrace's data.
	SystemPassword string
}

// maxPayload is the embedded server's largest message: an Append of a
// PutRecords call or a catalog value (a function's code) fits.
const maxPayload = 64 << 20

// maxControlLine lets long catalog keys (DynamoDB keys, escaped) through
// as subjects.
const maxControlLine = 64 << 10

// Engine is the JetStream storage engine.
type Engine struct {
	opts   Options
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	logger *slog.Logger

	closed  atomic.Bool
	closeMu sync.RWMutex

	shardsMu sync.Mutex
	shards   map[storage.ShardKey]*shardState
}

// Open starts or connects to NATS and readies the catalog bucket.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Replicas < 1 || opts.Replicas > 5 {
		return nil, fmt.Errorf("jetstream: %d replicas: want 1 to 5", opts.Replicas)
	}
	if opts.Prefix == "" {
		opts.Prefix = "millrace"
	}
	if !validName(opts.Prefix) {
		return nil, fmt.Errorf("jetstream: prefix %q: only letters, digits, - and _", opts.Prefix)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	e := &Engine{opts: opts, logger: opts.Logger, shards: map[storage.ShardKey]*shardState{}}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	copts := []nats.Option{
		nats.Name("millrace"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}
	var err error
	switch {
	case opts.Embed != nil:
		if e.srv, err = StartServer(opts.Embed); err != nil {
			return nil, err
		}
		copts = append(copts, nats.InProcessServer(e.srv))
		e.nc, err = nats.Connect("", copts...)
	case opts.URL != "":
		if opts.CredsFile != "" {
			copts = append(copts, nats.UserCredentials(opts.CredsFile))
		}
		if opts.TLS != nil {
			copts = append(copts, nats.Secure(opts.TLS))
		}
		e.nc, err = nats.Connect(opts.URL, copts...)
	default:
		return nil, errors.New("jetstream: neither an embedded server nor a NATS URL")
	}
	if err != nil {
		e.shutdownServer()
		return nil, fmt.Errorf("jetstream: connect: %w", err)
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		e.nc.Close()
		e.shutdownServer()
		return nil, err
	}
	if err := e.openCatalog(ctx); err != nil {
		e.nc.Close()
		e.shutdownServer()
		return nil, err
	}
	return e, nil
}

// StartServer starts an embedded NATS server with JetStream and waits
// until it takes connections. In a cluster JetStream itself becomes
// usable once a quorum of servers has met; requests made before then are
// retried until their deadline.
func StartServer(o *ServerOptions) (*server.Server, error) {
	if o.Dir == "" {
		return nil, errors.New("jetstream: the embedded server needs a data directory")
	}
	name := o.Name
	if name == "" {
		name = "millrace"
	}
	so := &server.Options{
		ServerName:     name,
		JetStream:      true,
		StoreDir:       o.Dir,
		SyncAlways:     true,
		MaxPayload:     maxPayload,
		MaxControlLine: maxControlLine,
		MaxPending:     2 * maxPayload,
		NoSigs:         true,
		NoLog:          o.Logger == nil,
	}
	switch {
	case o.Port == 0 && o.Cluster == "":
		so.DontListen = true
	case o.Port == 0:
		so.Host, so.Port = "127.0.0.1", server.RANDOM_PORT
	default:
		so.Host, so.Port = o.Host, o.Port
		if so.Host == "" {
			so.Host = "127.0.0.1"
		}
	}
	if o.Cluster != "" {
		so.Cluster = server.ClusterOpts{Name: o.Cluster, Host: o.ClusterHost, Port: o.ClusterPort, TLSConfig: o.ClusterTLS}
		if so.Cluster.Host == "" {
			so.Cluster.Host = "127.0.0.1"
		}
		if o.ClusterTLS != nil {
			so.Cluster.TLSTimeout = 5
		}
		for _, r := range o.Routes {
			u, err := url.Parse(strings.TrimSpace(r))
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("jetstream: route %q: want nats://host:port", r)
			}
			so.Routes = append(so.Routes, u)
		}
	}
	if o.SystemPassword != "" {
		addSystemUser(so, o.SystemPassword)
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("jetstream: nats server: %w", err)
	}
	if o.Logger != nil {
		s.SetLoggerV2(&natsLogger{o.Logger}, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("jetstream: the embedded nats server did not start within 30 s")
	}
	return s, nil
}

// Server returns the embedded NATS server, or nil when the engine
// connects to an existing cluster.
func (e *Engine) Server() *server.Server { return e.srv }

// Conn returns the engine's NATS connection.
func (e *Engine) Conn() *nats.Conn { return e.nc }

// Close closes the connection and stops the embedded server, if any.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return storage.ErrClosed
	}
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	e.nc.Close()
	e.shutdownServer()
	return nil
}

func (e *Engine) shutdownServer() {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
}

// begin starts an operation: it fails once the engine is closed, and
// Close waits for operations in flight. end must be called after.
func (e *Engine) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	e.closeMu.RLock()
	if e.closed.Load() {
		e.closeMu.RUnlock()
		return nil, nil, storage.ErrClosed
	}
	cancel := e.closeMu.RUnlock
	if _, ok := ctx.Deadline(); !ok {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, e.opts.Timeout)
		cancel = func() { c(); e.closeMu.RUnlock() }
	}
	return ctx, cancel, nil
}

func validName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// natsLogger passes the NATS server's log lines to slog.
type natsLogger struct{ l *slog.Logger }

func (n *natsLogger) Noticef(format string, v ...any) {
	n.l.Debug(fmt.Sprintf(format, v...), "nats", "notice")
}
func (n *natsLogger) Warnf(format string, v ...any) {
	n.l.Warn(fmt.Sprintf(format, v...), "nats", "warn")
}
func (n *natsLogger) Fatalf(format string, v ...any) {
	n.l.Error(fmt.Sprintf(format, v...), "nats", "fatal")
}
func (n *natsLogger) Errorf(format string, v ...any) {
	n.l.Error(fmt.Sprintf(format, v...), "nats", "error")
}
func (n *natsLogger) Debugf(format string, v ...any) {
	n.l.Debug(fmt.Sprintf(format, v...), "nats", "debug")
}
func (n *natsLogger) Tracef(format string, v ...any) {}

// Quorum reports whether JetStream is available to this node: its answer
// to an account information request needs the cluster's meta leader,
// which needs a quorum of the servers.
func (e *Engine) Quorum(ctx context.Context) error {
	if e.closed.Load() {
		return storage.ErrClosed
	}
	_, err := e.js.AccountInfo(ctx)
	return err
}

// peerSubject is where Publish sends a topic's messages: plain NATS
// subjects, not a JetStream stream (nothing is stored).
func (e *Engine) peerSubject(topic string) string {
	return e.opts.Prefix + ".peer." + topic
}

// Publish sends data to every node subscribed to topic (this one too),
// at most once: a message sent while the cluster is split is lost.
func (e *Engine) Publish(topic string, data []byte) error {
	if !validName(topic) {
		return fmt.Errorf("jetstream: peer topic %q: only letters, digits, - and _", topic)
	}
	if err := e.nc.Publish(e.peerSubject(topic), data); err != nil {
		return e.connErr(err)
	}
	return nil
}

// Subscribe calls fn with every message published on topic, one at a
// time, in order per publishing node, until stop is called.
func (e *Engine) Subscribe(topic string, fn func(data []byte)) (stop func(), err error) {
	if !validName(topic) {
		return nil, fmt.Errorf("jetstream: peer topic %q: only letters, digits, - and _", topic)
	}
	sub, err := e.nc.Subscribe(e.peerSubject(topic), func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, e.connErr(err)
	}
	// A slow receiver drops messages rather than holding the connection.
	_ = sub.SetPendingLimits(65536, 64<<20)
	return func() { _ = sub.Unsubscribe() }, nil
}

// Self is the embedded server's name in the cluster ("" when the engine
// connects to an existing NATS cluster).
func (e *Engine) Self() string {
	if e.srv == nil {
		return ""
	}
	return e.srv.Name()
}

// Gone reports whether the server named name has no route to the
// embedded server: it stopped, was killed (its routes close with its
// process) or is cut off from this node. A node that serves holds a route
// to each of the others. false when not known: no embedded server, or
// this server's own name.
func (e *Engine) Gone(name string) bool {
	if e.srv == nil || name == "" || name == e.srv.Name() || e.closed.Load() {
		return false
	}
	rz, err := e.srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return false
	}
	for _, r := range rz.Routes {
		if r.RemoteName == name {
			return false
		}
	}
	return true
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/millrace/millrace/internal/analytics"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/cloudwatch"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/dynamodb"
	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/kinesis"
	"github.com/millrace/millrace/internal/lambda"
	"github.com/millrace/millrace/internal/streams"
)

// Server is a running Millrace server.
type Server struct {
	cfg    config.Config
	logger *slog.Logger
	ln     net.Listener
	// tlsLn is the TLS listener, nil when cfg.TLSListen is empty; tlsErr
	// gets its ServeTLS result.
	tlsLn  net.Listener
	tlsErr chan error
	// cert is the TLS listener's certificate, reloaded on SIGHUP; nil
	// without a TLS listener.
	cert *certificate
	http *http.Server
	// metricsLn and metricsHTTP serve /metrics on a listener of their own
	// (cfg.MetricsListen); nil without one.
	metricsLn   net.Listener
	metricsHTTP *http.Server
	metricsErr  chan error
	// runner holds the background units of every service.
	runner *background.Runner
	engine engine
	// streams is the domain; its background work stops before the engine
	// closes.
	streams *streams.Streams
	// lambda runs functions; its instances stop before the engine closes.
	lambda *lambda.Service
	// firehose delivers delivery streams; its units stop with the runner.
	firehose *firehose.Service
	// sec is authentication, policies, the client allow-list and the
	// audit log.
	sec *security

	// cancelRequests cancels the context of every request; Close uses it
	// when the graceful period runs out.
	cancelRequests context.CancelFunc
	inflight       sync.WaitGroup

	serveErr  chan error // Serve's result, buffered
	closeOnce sync.Once
	closeErr  error
}

// Timeouts of the HTTP listener. There is deliberately no WriteTimeout:
// long responses (large GetRecords now, SubscribeToShard event streams
// later) must not be cut off mid-body.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Start validates cfg, binds cfg.Listen, opens the storage engine, builds
// the services and serves in the background. ctx bounds the start only;
// stop the server with Close. Errors say what went wrong and what to do.
func Start(ctx context.Context, cfg config.Config, logger *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sec, err := newSecurity(cfg, logger)
	if err != nil {
		return nil, err
	}
	// Whatever fails from here on, the listeners and the audit log opened
	// so far are closed (storage is closed where it fails).
	var ln, tlsLn, metricsLn net.Listener
	started := false
	defer func() {
		if started {
			return
		}
		if ln != nil {
			ln.Close()
		}
		if tlsLn != nil {
			tlsLn.Close()
		}
		if metricsLn != nil {
			metricsLn.Close()
		}
		err = errors.Join(err, sec.close())
	}()

	// Bind first: a port conflict is the most common start failure and is
	// reported before any storage is touched. With tls-only there is no
	// plain listener.
	if !cfg.TLSOnly {
		ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, listenError("listen", cfg.Listen, err)
		}
	}
	tlsLn, tlsConfig, cert, err := listenTLS(cfg, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics == "on" && cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, listenError("metrics-listen", cfg.MetricsListen, err)
		}
	}

	if !cfg.InMemory {
		if err := prepareDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	keyring, err := openKeyring(cfg)
	if err != nil {
		return nil, err
	}
	engine, err := openStorage(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}

	runner := background.New(logger.With("component", "runner"))
	if cfg.Clustered() {
		// Each unit runs on one node of the cluster at a time.
		runner.SetLeases(&background.Leases{Catalog: engine, Node: nodeName(cfg)})
	}
	st, err := streams.New(ctx, streams.Options{
		Log:                    engine,
		Catalog:                engine,
		Logger:                 logger.With("component", "streams"),
		IteratorTTL:            cfg.IteratorTTL,
		CreateDelay:            cfg.CreateDelay,
		DeleteDelay:            cfg.DeleteDelay,
		UpdateDelay:            cfg.UpdateDelay,
		ShardLimit:             cfg.ShardLimit,
		OnDemandStreamLimit:    cfg.OnDemandStreamLimit,
		RetentionCheckInterval: cfg.RetentionCheckInterval,
		RetentionHour:          cfg.RetentionHour,
		CatalogSync:            catalogSync(cfg),
		Peers:                  peersOf(engine),
		Membership:             membershipOf(engine),
		Runner:                 runner,
		Limits: streams.ThroughputLimits{
			Enabled:            cfg.ThroughputLimits == "on",
			WriteBytesPerSec:   cfg.ShardWriteBytesPerSec,
			WriteRecordsPerSec: int64(cfg.ShardWriteRecordsPerSec),
			ReadBytesPerSec:    cfg.ShardReadBytesPerSec,
			ReadCallsPerSec:    int64(cfg.ShardReadCallsPerSec),
		},
		Faults: streams.FaultOptions{
			ThrottleProbability: cfg.FaultThrottleProbability,
			InternalProbability: cfg.FaultInternalProbability,
			Seed:                uint64(cfg.FaultSeed),
		},
		Scaling: streams.ScalingOptions{
			Interval: cfg.OnDemandScaleInterval, Window: cfg.OnDemandScaleWindow,
			UpShare: cfg.OnDemandScaleUpShare, DownShare: cfg.OnDemandScaleDownShare,
			QuietPeriod: cfg.OnDemandQuietPeriod,
		},
		SubscriptionLifetime:  cfg.SubscriptionLifetime,
		SubscriptionHeartbeat: cfg.SubscriptionHeartbeat,
		KMS:                   keyring,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("loading streams from %s: %w", dataLocation(cfg), err), engine.Close())
	}

	onComplete := sec.onComplete()
	var mon *monitor
	if cfg.Metrics == "on" {
		mon = newMonitor(st, engine)
		mon.registerCluster(cfg, engine)
		onComplete = mon.onComplete(onComplete)
	}
	router := awsproto.NewRouter(awsproto.RouterOptions{
		Logger:           logger.With("component", "api"),
		MaxBodyBytes:     cfg.MaxRequestBytes,
		DefaultRegion:    cfg.Region,
		DefaultAccountID: cfg.AccountID,
		Keys:             sec.keys,
		Authorizer:       sec.authz,
		OnComplete:       onComplete,
	})
	kinesis.New(st, logger.With("component", "kinesis")).Register(router)
	fh := firehose.New(firehose.Options{
		Catalog:     engine,
		Log:         engine,
		Streams:     st,
		Runner:      runner,
		Logger:      logger.With("component", "firehose"),
		S3:          firehoseS3(cfg),
		GlueTables:  cfg.FirehoseGlueTables,
		Lambda:      newLambdaInvoker(router),
		Roles:       sec.roles,
		Router:      router,
		CreateDelay: cfg.CreateDelay,
		Quotas: firehose.Quotas{Enabled: cfg.ThroughputLimits == "on", RecordsPerSec: cfg.FirehosePutRecordsPerSec,
			RequestsPerSec: cfg.FirehosePutRequestsPerSec, BytesPerSec: cfg.FirehosePutBytesPerSec},
	})
	// The Lambda service, made below, fills its metrics source in.
	lambdaMetrics := &cloudwatch.LambdaSource{}
	agg := cloudwatch.NewAggregator(cloudwatch.AggregatorOptions{
		Log:       engine,
		Sources:   []cloudwatch.Source{cloudwatch.KinesisSource{Streams: st}, cloudwatch.FirehoseSource{Firehose: fh}, lambdaMetrics},
		Retention: cfg.MetricsRetention,
		Logger:    logger.With("component", "cloudwatch"),
	})
	cloudwatch.New(agg, logger.With("component", "cloudwatch")).Register(router)
	ddb, err := dynamodb.New(ctx, dynamodb.Options{Catalog: engine, Logger: logger.With("component", "dynamodb"), ClusterLocks: cfg.Clustered()})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("loading DynamoDB tables from %s: %w", dataLocation(cfg), err), st.Close(), engine.Close())
	}
	ddb.Register(router)
	fns, err := lambda.New(ctx, lambda.Options{
		Catalog:      engine,
		Runner:       runner,
		Logger:       logger.With("component", "lambda"),
		Endpoint:     endpointURL(ln, tlsLn),
		Concurrency:  cfg.LambdaConcurrency,
		MemoryLimits: cfg.LambdaMemoryLimits,
		Sandbox:      cfg.LambdaSandbox,
		HiddenDirs:   lambdaHidden(cfg),
		Streams:      st,
		Roles:        sec.roles,
		Router:       router,
	})
	if err != nil {
		runner.Stop()
		return nil, errors.Join(fmt.Errorf("starting Lambda: %w", err), st.Close(), engine.Close())
	}
	fns.Register(router)
	lambdaMetrics.Service = fns
	if mon != nil {
		mon.reg.MustRegister(lambdaCollector{fns})
	}
	fh.Register(router)
	apps, err := analytics.NewService(ctx, analytics.Options{Streams: st, Catalog: engine, Runner: runner, Logger: logger.With("component", "analytics"),
		IdleGrace: cfg.AnalyticsIdleGrace, CheckpointInterval: cfg.AnalyticsCheckpointInterval, S3: analyticsS3(cfg),
		DeliveryStreams: newDeliveryStreamWriter(router), Functions: newLambdaInvoker(router),
		Roles: sec.roles})
	if err != nil {
		runner.Stop()
		return nil, errors.Join(fmt.Errorf("starting analytics applications: %w", err), st.Close(), engine.Close())
	}
	apps.Register(router)

	reqCtx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:            cfg,
		logger:         logger,
		ln:             ln,
		engine:         engine,
		streams:        st,
		lambda:         fns,
		firehose:       fh,
		runner:         runner,
		sec:            sec,
		cancelRequests: cancel,
		serveErr:       make(chan error, 1),
		tlsLn:          tlsLn,
		tlsErr:         make(chan error, 1),
		cert:           cert,
		metricsLn:      metricsLn,
		metricsErr:     make(chan error, 1),
	}
	// /metrics is on the API listeners unless it has a listener of its own.
	var apiMetrics http.Handler
	if mon != nil && metricsLn == nil {
		apiMetrics = mon.handler()
	}
	s.http = &http.Server{
		Handler:           s.track(sec.filter(routes(withBackup(router, cfg, engine, logger), apiMetrics, consoleHandler(cfg, apiMetrics != nil), quorumCheck(engine)))),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ConnContext:       awsproto.WithConn,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	// HTTP/1.1, HTTP/2 with prior knowledge on the plain listener (h2c:
	// SubscribeToShard clients such as the Java SDK's speak HTTP/2 only),
	// and HTTP/2 by ALPN on the TLS listener.
	s.http.Protocols = new(http.Protocols)
	s.http.Protocols.SetHTTP1(true)
	s.http.Protocols.SetHTTP2(true)
	s.http.Protocols.SetUnencryptedHTTP2(true)
	s.http.TLSConfig = tlsConfig
	if ln != nil {
		go func() {
			err := s.http.Serve(ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			s.serveErr <- err
		}()
	}
	if tlsLn != nil {
		go func() {
			err := s.http.ServeTLS(tlsLn, "", "")
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			s.tlsErr <- err
		}()
	}
	if metricsLn != nil {
		// The plain listener's allow-list applies; anything but GET
		// /metrics and /health is not found.
		s.metricsHTTP = &http.Server{
			Handler:           sec.filter(routes(http.NotFoundHandler(), mon.handler(), nil, quorumCheck(engine))),
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelWarn),
		}
		go func() {
			err := s.metricsHTTP.Serve(metricsLn)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			s.metricsErr <- err
		}()
	}
	// The aggregator counts this node's requests: every node runs its own.
	runner.GoLocal("cloudwatch-aggregator", agg.Run)
	if err := fh.Start(ctx); err != nil {
		logger.Error("resuming Firehose delivery", "err", err)
	}
	started = true
	return s, nil
}

// MetricsURL is the URL of /metrics on its own listener (cfg.MetricsListen),
// e.g. "http://127.0.0.1:9464/metrics", or "" without one.
func (s *Server) MetricsURL() string {
	if s.metricsLn == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(s.metricsLn.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + MetricsPath
}

// TLSAddr is the TLS listener's address, nil without one.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// TLSURL is the endpoint URL of the TLS listener, e.g.
// "https://127.0.0.1:4568", or "" without one. A wildcard address is given
// as 127.0.0.1, as in URL.
func (s *Server) TLSURL() string {
	if s.tlsLn == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(s.tlsLn.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// track counts the requests in flight so that Close can wait for the
// handlers it had to cut off before it closes the storage under them.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		h.ServeHTTP(w, r)
	})
}

// Addr is the address the listener is bound to (with the real port when
// cfg.Listen asked for port 0). With tls-only it is the TLS listener's.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return s.TLSAddr()
	}
	return s.ln.Addr()
}

// URL is the endpoint URL clients use, e.g. "http://127.0.0.1:4567". A
// wildcard listen address (0.0.0.0, ::) is given as 127.0.0.1, which
// reaches it from the same machine. With tls-only it is TLSURL.
func (s *Server) URL() string {
	if s.ln == nil {
		return s.TLSURL()
	}
	host, port := "127.0.0.1", ""
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
		if !a.IP.IsUnspecified() {
			host = a.IP.String()
		}
	} else {
		h, p, _ := net.SplitHostPort(s.ln.Addr().String())
		host, port = h, p
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Config returns the configuration the server runs with.
func (s *Server) Config() config.Config { return s.cfg }

// Close stops the server gracefully: the listener stops accepting, requests
// in flight finish (until ctx is done; then they are cancelled and their
// connections closed), background work stops and the storage engine is
// closed cleanly. Calling Close again returns the first result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Server) close(ctx context.Context) error {
	var errs []error
	// Open SubscribeToShard streams end cleanly now rather than hold the
	// stop for the rest of their lifetime.
	s.streams.EndSubscriptions()
	if err := s.http.Shutdown(ctx); err != nil {
		s.logger.Warn("graceful stop timed out; cancelling requests still in flight", "err", err)
		s.cancelRequests()
		if err := s.http.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing connections: %w", err))
		}
	}
	if s.metricsHTTP != nil {
		// A scrape is short: no grace beyond ctx.
		if err := s.metricsHTTP.Shutdown(ctx); err != nil {
			s.metricsHTTP.Close()
		}
		if err := <-s.metricsErr; err != nil {
			errs = append(errs, fmt.Errorf("serving metrics: %w", err))
		}
	}
	s.cancelRequests()
	// Handlers cut off above return promptly: their context is cancelled
	// and the storage fails every call made after it closes.
	s.inflight.Wait()
	if s.ln != nil {
		if err := <-s.serveErr; err != nil {
			errs = append(errs, fmt.Errorf("serving: %w", err))
		}
	}
	if s.tlsLn != nil {
		if err := <-s.tlsErr; err != nil {
			errs = append(errs, fmt.Errorf("serving TLS: %w", err))
		}
	}
	// Background units stop while storage is open: the aggregator writes
	// the open minute's counts as it stops.
	s.runner.Stop()
	s.firehose.Close()
	if err := s.lambda.Close(); err != nil {
		errs = append(errs, fmt.Errorf("stopping Lambda functions: %w", err))
	}
	if err := s.streams.Close(); err != nil {
		errs = append(errs, fmt.Errorf("stopping streams: %w", err))
	}
	if err := s.engine.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing storage: %w", err))
	}
	if err := s.sec.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run starts the server, logs one line with its endpoint and data location,
// serves until ctx is done and then stops gracefully within
// cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	// SIGHUP reloads the TLS certificate and key (only with a TLS
	// listener; otherwise SIGHUP keeps its default action). It is
	// watched before the start line is logged.
	var hup chan os.Signal
	if s.cert != nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	if s.tlsLn != nil {
		logger.Info("millrace serving", "endpoint", s.URL(), "tls_endpoint", s.TLSURL(), "data", dataLocation(cfg), "auth", authMode(cfg))
	} else {
		logger.Info("millrace serving", "endpoint", s.URL(), "data", dataLocation(cfg), "auth", authMode(cfg))
	}
	if u := s.MetricsURL(); u != "" {
		logger.Info("metrics served on their own listener", "url", u)
	}

wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-hup:
			logger.Info("SIGHUP: reloading the TLS certificate", "cert", cfg.TLSCert, "key", cfg.TLSKey)
			s.ReloadTLS() // logs its outcome; a bad pair leaves the old one in use
		case err := <-s.serveErr:
			// The listener failed; put the result back for Close to report.
			s.serveErr <- err
			break wait
		case err := <-s.tlsErr:
			s.tlsErr <- err
			break wait
		}
	}
	logger.Info("millrace stopping", "timeout", cfg.ShutdownTimeout.String())
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Close(stopCtx); err != nil {
		return err
	}
	logger.Info("millrace stopped")
	return nil
}

// endpointURL is the URL functions reach the server at: the plain
// listener's, else the TLS one's, with a wildcard host as 127.0.0.1.
func endpointURL(ln, tlsLn net.Listener) string {
	scheme, l := "http", ln
	if l == nil {
		scheme, l = "https", tlsLn
	}
	if l == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(l.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// dataLocation describes where the data lives, for logs and errors.
func dataLocation(cfg config.Config) string {
	if cfg.InMemory {
		return "in memory"
	}
	return cfg.DataDir
}

// lambdaHidden are the directories sandboxed Lambda instances must not
// see: the data directory, when the data is on this machine's disk.
func lambdaHidden(cfg config.Config) []string {
	if cfg.InMemory || cfg.DataDir == "" {
		return nil
	}
	return []string{cfg.DataDir}
}

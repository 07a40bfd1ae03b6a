package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/jetstream"
	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/streams"
)

// engine is what the server needs from a storage engine.
type engine interface {
	storage.Log
	storage.Catalog
	Close() error
}

// openStorage opens the engine cfg selects: Pebble in the data directory
// (or in memory) for a single node; JetStream, embedded in cluster mode or
// an existing NATS cluster, for a cluster.
func openStorage(ctx context.Context, cfg config.Config, logger *slog.Logger) (engine, error) {
	if !cfg.Clustered() {
		dir := cfg.DataDir
		if cfg.InMemory {
			dir = "" // the data directory is not used: nothing touches the disk
		}
		e, err := pebble.Open(pebble.Options{
			Dir:      dir,
			InMemory: cfg.InMemory,
			Logger:   logger, // the engine tags its lines component=pebble
		})
		if err != nil {
			return nil, openError(cfg.DataDir, err)
		}
		return e, nil
	}
	opts := jetstream.Options{
		Replicas: cfg.ClusterReplicas,
		Prefix:   cfg.NATSPrefix,
		Logger:   logger.With("component", "jetstream"),
	}
	if cfg.ClusterName != "" {
		so := &jetstream.ServerOptions{
			Name:    cfg.ClusterNodeName,
			Dir:     filepath.Join(cfg.DataDir, "nats"),
			Cluster: cfg.ClusterName,
			Routes:  cfg.Routes(),
			Logger:  logger.With("component", "nats"),

			SystemPassword: cfg.ClusterSystemPassword,
		}
		so.Name = nodeName(cfg)
		var err error
		if so.ClusterHost, so.ClusterPort, err = splitHostPort(cfg.ClusterListen); err != nil {
			return nil, fmt.Errorf("cluster-listen: %w", err)
		}
		if cfg.ClusterNATSListen != "" {
			if so.Host, so.Port, err = splitHostPort(cfg.ClusterNATSListen); err != nil {
				return nil, fmt.Errorf("cluster-nats-listen: %w", err)
			}
		}
		if cfg.ClusterTLSCert != "" {
			if so.ClusterTLS, err = mutualTLS(cfg.ClusterTLSCert, cfg.ClusterTLSKey, cfg.ClusterTLSCA, true); err != nil {
				return nil, fmt.Errorf("cluster-tls-cert: %w", err)
			}
		}
		opts.Embed = so
	} else {
		opts.URL, opts.CredsFile = cfg.NATSURL, cfg.NATSCreds
		if cfg.NATSTLSCA != "" || cfg.NATSTLSCert != "" {
			var err error
			if opts.TLS, err = mutualTLS(cfg.NATSTLSCert, cfg.NATSTLSKey, cfg.NATSTLSCA, false); err != nil {
				return nil, fmt.Errorf("nats-tls-ca: %w", err)
			}
		}
	}
	e, err := jetstream.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("opening JetStream storage: %w", err)
	}
	return e, nil
}

// mutualTLS builds a TLS configuration from PEM files. For a server side
// (routes between nodes, which are both), peers must present a
// certificate signed by the CA.
func mutualTLS(certFile, keyFile, caFile string, both bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New(caFile + ": no PEM certificate in it")
		}
		c.RootCAs = pool
		if both {
			c.ClientCAs = pool
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("%q: bad port", hp)
	}
	return host, port, nil
}

// catalogSync is how often a cluster node reads the streams again from the
// catalog for the other nodes' changes; 0 on a single node.
// peersOf is the engine's link between the nodes of a cluster, or nil.
func peersOf(e engine) streams.Peers {
	if p, ok := e.(streams.Peers); ok {
		return p
	}
	return nil
}

func membershipOf(e engine) streams.Membership {
	if m, ok := e.(streams.Membership); ok {
		return m
	}
	return nil
}

func catalogSync(cfg config.Config) time.Duration {
	if cfg.Clustered() {
		return time.Second
	}
	return 0
}

// nodeName is this node's name in the cluster: cluster-node-name, or one
// derived from cluster-listen (or, connected to an existing NATS cluster,
// from the host name and API listener).
func nodeName(cfg config.Config) string {
	if cfg.ClusterNodeName != "" {
		return cfg.ClusterNodeName
	}
	addr := cfg.ClusterListen
	if addr == "" {
		host, _ := os.Hostname()
		addr = host + "-" + cfg.Listen
	}
	return strings.NewReplacer(":", "-", "[", "", "]", "").Replace(addr)
}

// quorumCheck is the health check's test of a cluster node: whether the
// engine reaches a quorum; nil for an engine that has none to reach.
func quorumCheck(e engine) func(context.Context) error {
	if q, ok := e.(interface{ Quorum(context.Context) error }); ok {
		return q.Quorum
	}
	return nil
}

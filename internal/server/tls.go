package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/config"
)

// certificate is the TLS listener's certificate. It is read from
// cfg.TLSCert and cfg.TLSKey at start and again on every Reload; the
// handshake takes whichever pair was loaded last (tls.Config.GetCertificate),
// so connections already open keep theirs and new ones get the new pair.
type certificate struct {
	certFile, keyFile string
	logger            *slog.Logger
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the pair for the first time; an error stops the
// start.
func loadCertificate(cfg config.Config, logger *slog.Logger) (*certificate, error) {
	c := &certificate{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, logger: logger}
	cert, err := c.read()
	if err != nil {
		return nil, err
	}
	c.current.Store(cert)
	return c, nil
}

// read loads and checks the pair: the key must match the certificate and
// the leaf must parse.
func (c *certificate) read() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate %s and key %s: %w (`millrace cert` writes a self-signed pair)", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("parsing the TLS certificate %s: %w", c.certFile, err)
		}
		cert.Leaf = leaf
	}
	return &cert, nil
}

// Reload reads the certificate and key files again. A pair that does not
// load (missing file, bad PEM, key not matching the certificate) is
// reported and the pair in use stays.
func (c *certificate) Reload() error {
	cert, err := c.read()
	if err != nil {
		c.logger.Error("TLS certificate not reloaded; the previous one stays in use", "err", err)
		return err
	}
	c.current.Store(cert)
	leaf := cert.Leaf
	c.logger.Info("TLS certificate reloaded", "cert", c.certFile, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	if time.Now().After(leaf.NotAfter) {
		c.logger.Warn("the reloaded TLS certificate has expired", "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// get is the tls.Config's GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// listenTLS loads the TLS certificate and binds the TLS listener, when
// cfg.TLSListen is set.
func listenTLS(cfg config.Config, logger *slog.Logger) (net.Listener, *tls.Config, *certificate, error) {
	if cfg.TLSListen == "" {
		return nil, nil, nil, nil
	}
	cert, err := loadCertificate(cfg, logger.With("component", "tls"))
	if err != nil {
		return nil, nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.TLSListen)
	if err != nil {
		return nil, nil, nil, listenError("tls-listen", cfg.TLSListen, err)
	}
	return ln, &tls.Config{GetCertificate: cert.get, MinVersion: tls.VersionTLS12}, cert, nil
}

// errNoTLS is ReloadTLS's answer on a server without a TLS listener.
var errNoTLS = errors.New("no TLS listener: tls-listen is not set")

// ReloadTLS reads the TLS listener's certificate and key files again (Run
// does so on SIGHUP). New connections get the new pair; open ones keep
// theirs. When the new pair does not load, the error is returned and
// logged and the previous pair stays in use.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return errNoTLS
	}
	return s.cert.Reload()
}

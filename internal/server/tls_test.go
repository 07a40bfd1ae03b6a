package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

// certPair is a self-signed certificate for 127.0.0.1 and localhost.
type certPair struct {
	serial          int64
	certPEM, keyPEM []byte
}

func newCertPair(t *testing.T, serial int64) certPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPair{
		serial:  serial,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}

// write puts the pair at certPath and keyPath.
func (p certPair) write(t *testing.T, certPath, keyPath string) {
	t.Helper()
	if err := os.WriteFile(certPath, p.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, p.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsConfig returns a config with a TLS listener on a free port serving
// pair from files in a temporary directory, and the files' paths.
func tlsConfig(t *testing.T, pair certPair) (cfg config.Config, certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pair.write(t, certPath, keyPath)
	cfg = config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = "127.0.0.1:0"
	cfg.TLSListen, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", certPath, keyPath
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg, certPath, keyPath
}

// servedSerial makes a TLS handshake with addr and returns the serial
// number of the certificate the server presents.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestReloadTLSKeepsThePreviousPairWhenTheNewOneIsBad(t *testing.T) {
	noLeaks(t)
	a, b := newCertPair(t, 101), newCertPair(t, 202)
	cfg, certPath, keyPath := tlsConfig(t, a)
	s, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	addr := s.TLSAddr().String()
	if got := servedSerial(t, addr); got != a.serial {
		t.Fatalf("served serial %d, want %d", got, a.serial)
	}

	// A certificate with another pair's key, a missing key and a file that
	// is no PEM at all: each is refused and the first pair stays.
	bad := []struct {
		name       string
		cert, key  []byte
		removeKey  bool
		wantErrSub string
	}{
		{"mismatched key", b.certPEM, a.keyPEM, false, "private key does not match public key"},
		{"missing key", a.certPEM, nil, true, "no such file"},
		{"not PEM", []byte("garbage"), []byte("garbage"), false, "failed to find any PEM data"},
	}
	for _, tt := range bad {
		if err := os.WriteFile(certPath, tt.cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if tt.removeKey {
			os.Remove(keyPath)
		} else if err := os.WriteFile(keyPath, tt.key, 0o600); err != nil {
			t.Fatal(err)
		}
		err := s.ReloadTLS()
		if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) || !strings.Contains(err.Error(), certPath) {
			t.Errorf("%s: ReloadTLS = %v, want an error naming %s and saying %q", tt.name, err, certPath, tt.wantErrSub)
		}
		if got := servedSerial(t, addr); got != a.serial {
			t.Errorf("%s: served serial %d after a refused reload, want the previous %d", tt.name, got, a.serial)
		}
	}

	b.write(t, certPath, keyPath)
	if err := s.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS with a good pair: %v", err)
	}
	if got := servedSerial(t, addr); got != b.serial {
		t.Fatalf("served serial %d after reload, want %d", got, b.serial)
	}
}

func TestReloadTLSWithoutTLSListener(t *testing.T) {
	cfg := config.Default()
	cfg.InMemory, cfg.Listen = true, "127.0.0.1:0"
	s, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "no TLS listener") {
		t.Fatalf("ReloadTLS without a TLS listener = %v", err)
	}
}

// logLines collects JSON log lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// waitFor returns the first log line whose msg is msg and that comes after
// the first skip such lines, waiting for it up to a generous deadline.
func (l *logLines) waitFor(t *testing.T, msg string, skip int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.mu.Lock()
		lines := strings.Split(l.buf.String(), "\n")
		l.mu.Unlock()
		seen := 0
		for _, line := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg {
				continue
			}
			if seen == skip {
				return m
			}
			seen++
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q (after %d) in:\n%s", msg, skip, strings.Join(lines, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunReloadsTheTLSCertificateOnSIGHUP(t *testing.T) {
	a, b := newCertPair(t, 303), newCertPair(t, 404)
	cfg, certPath, keyPath := tlsConfig(t, a)
	logs := &logLines{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// Run watches SIGHUP before it logs that it serves.
	serving := logs.waitFor(t, "millrace serving", 0)
	addr := strings.TrimPrefix(serving["tls_endpoint"].(string), "https://")
	if got := servedSerial(t, addr); got != a.serial {
		t.Fatalf("served serial %d, want %d", got, a.serial)
	}

	b.write(t, certPath, keyPath)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "TLS certificate reloaded", 0)
	if got := servedSerial(t, addr); got != b.serial {
		t.Fatalf("served serial %d after SIGHUP, want %d", got, b.serial)
	}

	// A bad pair on the next SIGHUP is logged and the current one stays.
	if err := os.WriteFile(keyPath, a.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	refused := logs.waitFor(t, "TLS certificate not reloaded; the previous one stays in use", 0)
	if e, _ := refused["err"].(string); !strings.Contains(e, "private key does not match public key") {
		t.Errorf("refused reload logged %q", e)
	}
	if got := servedSerial(t, addr); got != b.serial {
		t.Fatalf("served serial %d after a refused reload, want %d", got, b.serial)
	}
}

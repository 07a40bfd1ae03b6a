package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

// startTLS starts a server with a TLS listener; edit adjusts the
// configuration.
func startTLS(t *testing.T, edit func(*config.Config)) *server.Server {
	t.Helper()
	cfg, _, _ := tlsConfig(t, newCertPair(t, 1))
	cfg.InMemory = true
	if edit != nil {
		edit(&cfg)
	}
	s, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// tlsClient trusts any certificate; h2 asks for HTTP/2 by ALPN.
func tlsClient(t *testing.T, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// health returns the status, protocol and body of GET /health.
func health(t *testing.T, c *http.Client, base string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(base + "/health")
	if err != nil {
		t.Fatalf("GET %s/health: %v", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Proto, string(body)
}

func TestTLSOnlyOpensNoPlainListener(t *testing.T) {
	noLeaks(t)
	// The plain address is taken: a server that tried to bind it would
	// fail to start.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s := startTLS(t, func(c *config.Config) {
		c.TLSOnly = true
		c.Listen = busy.Addr().String()
	})
	if s.URL() != s.TLSURL() || !strings.HasPrefix(s.URL(), "https://") || s.Addr().String() != s.TLSAddr().String() {
		t.Fatalf("tls-only: URL %s Addr %s, want the TLS listener's %s %s", s.URL(), s.Addr(), s.TLSURL(), s.TLSAddr())
	}
	for _, h2 := range []bool{false, true} {
		if code, _, _ := health(t, tlsClient(t, h2), s.URL()); code != http.StatusOK {
			t.Fatalf("GET /health over TLS (h2 %v): %d", h2, code)
		}
	}
	// Plain HTTP to the TLS port is refused by the TLS listener.
	code, _, body := health(t, http.DefaultClient, "http://"+s.TLSAddr().String())
	if code != http.StatusBadRequest || !strings.Contains(body, "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP on the TLS port: %d %q", code, body)
	}
}

func TestTLSOnlyNeedsATLSListener(t *testing.T) {
	cfg := config.Default()
	cfg.InMemory, cfg.Listen, cfg.TLSOnly = true, "127.0.0.1:0", true
	_, err := server.Start(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "tls-only: needs a TLS listener") {
		t.Fatalf("Start with tls-only and no tls-listen = %v", err)
	}
	cfg.TLSOnly, cfg.TLSAllowCIDRs = false, "127.0.0.1"
	_, err = server.Start(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "tls-allow-cidrs: is set but tls-listen is empty") {
		t.Fatalf("Start with tls-allow-cidrs and no tls-listen = %v", err)
	}
}

func TestAllowListPerListener(t *testing.T) {
	tests := []struct {
		name               string
		allow, tlsAllow    string
		plainCode, tlsCode int
	}{
		{"plain refused, TLS allowed", "10.0.0.0/8", "127.0.0.1", 403, 200},
		{"plain allowed, TLS refused", "127.0.0.0/8, ::1", "10.0.0.0/8", 200, 403},
		{"TLS inherits allow-cidrs", "10.0.0.0/8", "", 403, 403},
		{"TLS open to all, plain restricted", "10.0.0.0/8", "0.0.0.0/0, ::/0", 403, 200},
		{"only TLS restricted", "", "192.168.0.0/16", 200, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startTLS(t, func(c *config.Config) { c.AllowCIDRs, c.TLSAllowCIDRs = tt.allow, tt.tlsAllow })
			code, _, body := health(t, &http.Client{Transport: &http.Transport{}}, s.URL())
			if code != tt.plainCode {
				t.Errorf("plain listener: %d %s, want %d", code, body, tt.plainCode)
			}
			if code == 403 && !strings.Contains(body, "AccessDeniedException") {
				t.Errorf("plain refusal body %q", body)
			}
			for _, h2 := range []bool{false, true} {
				code, proto, body := health(t, tlsClient(t, h2), s.TLSURL())
				if code != tt.tlsCode {
					t.Errorf("TLS listener (%s): %d %s, want %d", proto, code, body, tt.tlsCode)
				}
				if h2 && proto != "HTTP/2.0" {
					t.Errorf("TLS with ALPN h2 answered over %s", proto)
				}
			}
		})
	}
}

func TestAllowListRejectsBadTLSList(t *testing.T) {
	cfg, _, _ := tlsConfig(t, newCertPair(t, 1))
	cfg.TLSAllowCIDRs = "10.0.0.0/33"
	_, err := server.Start(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "tls-allow-cidrs") {
		t.Fatalf("Start with a bad tls-allow-cidrs = %v", err)
	}
}

// openFiles lists the files this process has open.
func openFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			out = append(out, target)
		}
	}
	return out
}

func TestFailedStartClosesTheAuditLog(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name, wantErr string
		edit          func(*config.Config)
	}{
		{"plain port taken", "127.0.0.1", func(c *config.Config) { c.Listen = busy.Addr().String() }},
		{"TLS certificate missing", "loading the TLS certificate", func(c *config.Config) {
			c.TLSListen, c.TLSCert, c.TLSKey = "127.0.0.1:0", filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key")
		}},
		{"data directory is a file", "a path component is a file", func(c *config.Config) { c.DataDir = filepath.Join(notADir, "data") }},
		{"bad KMS key file", "KMS keyring", func(c *config.Config) { c.KMSKeyFile = filepath.Join(notADir, "keys.json") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auditPath := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".jsonl")
			cfg := config.Default()
			cfg.Listen, cfg.DataDir, cfg.AuditLog = "127.0.0.1:0", filepath.Join(dir, "data-"+strings.ReplaceAll(tt.name, " ", "-")), auditPath
			tt.edit(&cfg)
			s, err := server.Start(context.Background(), cfg, nil)
			if err == nil {
				s.Close(context.Background())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start = %v, want %q", err, tt.wantErr)
			}
			if _, err := os.Stat(auditPath); err != nil {
				t.Fatalf("the audit log was not opened before the failure (%v): the test does not test anything", err)
			}
			for _, f := range openFiles(t) {
				if f == auditPath {
					t.Errorf("the audit log %s is still open after the failed start", auditPath)
				}
			}
		})
	}
}

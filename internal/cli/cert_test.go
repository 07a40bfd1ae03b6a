package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCertWritesAUsableSelfSignedPair(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	args := []string{"millrace", "cert", "--cert", certPath, "--key", keyPath, "--valid-for", "48h", "--host", "millrace.test"}
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb, func(string) (string, bool) { return "", false }); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "millrace.test"} {
		if err := c.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	if d := time.Until(c.NotAfter); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("valid until %s, want about 48h from now", c.NotAfter)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	// The certificate is its own trust anchor.
	pool := x509.NewCertPool()
	data, _ := os.ReadFile(certPath)
	block, _ := pem.Decode(data)
	if block == nil || !pool.AppendCertsFromPEM(data) {
		t.Fatal("certificate is not PEM")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Fatalf("verifying against itself: %v", err)
	}

	// A second run does not overwrite without --force.
	errb.Reset()
	if code := run(context.Background(), args, &out, &errb, func(string) (string, bool) { return "", false }); code != exitError || !strings.Contains(errb.String(), "--force") {
		t.Fatalf("second run: exit %d %q", code, errb.String())
	}
	if code := run(context.Background(), append(args, "--force"), &out, &errb, func(string) (string, bool) { return "", false }); code != exitOK {
		t.Fatalf("--force: exit %d %q", code, errb.String())
	}
}

package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"time"
)

const certHelp = `Usage:
  millrace cert [--cert cert.pem] [--key key.pem] [--valid-for 8760h] [--host name]... [--force]

Writes a self-signed certificate and its private key (ECDSA P-256, PEM) for
the TLS listener (--tls-listen, --tls-cert, --tls-key), for local use. The
certificate names localhost, 127.0.0.1 and ::1, plus every --host. Clients
must trust it: see docs/tls.md for each SDK.

Flags:
  --cert path        certificate file to write (default millrace-cert.pem)
  --key path         private key file to write, mode 0600 (default millrace-key.pem)
  --valid-for d      validity from now, a Go duration (default 8760h, one year)
  --host name        another DNS name or IP address to include (repeatable)
  --force            overwrite existing files
`

type hostList []string

func (h *hostList) String() string     { return fmt.Sprint(*h) }
func (h *hostList) Set(v string) error { *h = append(*h, v); return nil }

// cert writes a self-signed certificate and key.
func cert(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("millrace cert", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	certPath := fs.String("cert", "millrace-cert.pem", "")
	keyPath := fs.String("key", "millrace-key.pem", "")
	validFor := fs.Duration("valid-for", 365*24*time.Hour, "")
	force := fs.Bool("force", false, "")
	var hosts hostList
	fs.Var(&hosts, "host", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, certHelp)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("cert: unexpected argument %q", fs.Arg(0))}
	}
	if *validFor <= 0 {
		return usageError{fmt.Errorf("cert: --valid-for %s must be greater than 0", *validFor)}
	}
	certPEM, keyPEM, err := selfSigned(append([]string{"localhost", "127.0.0.1", "::1"}, hosts...), time.Now(), *validFor)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	if err := writeFile(*keyPath, keyPEM, 0o600, flags); err != nil {
		return err
	}
	if err := writeFile(*certPath, certPEM, 0o644, flags); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\nserve with: millrace --tls-listen 127.0.0.1:4568 --tls-cert %s --tls-key %s\n", *certPath, *keyPath, *certPath, *keyPath)
	return nil
}

func writeFile(path string, data []byte, perm os.FileMode, flags int) error {
	f, err := os.OpenFile(path, flags, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cert: %s exists; use --force to overwrite it", path)
		}
		return fmt.Errorf("cert: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cert: writing %s: %w", path, err)
	}
	return f.Close()
}

// selfSigned returns a PEM certificate for hosts (DNS names or IP
// addresses), valid from now for validFor, and its PEM private key.
func selfSigned(hosts []string, now time.Time, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"Millrace local"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A CA certificate, so that trust stores that need an issuer
		// (NODE_EXTRA_CA_CERTS, AWS_CA_BUNDLE) accept it as its own.
		IsCA: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

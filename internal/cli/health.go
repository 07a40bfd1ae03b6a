package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

const healthHelp = `Usage:
  millrace health [--url http://127.0.0.1:4567/health] [--timeout 3s]

Checks that a Millrace server answers its health check: sends GET /health
and exits 0 when the answer is 200 OK, 1 otherwise (no answer within the
timeout, a refused connection, any other status), saying why on stderr.
It needs no shell, curl or wget, so it serves as the health check of a
container built FROM scratch:

  HEALTHCHECK CMD ["/millrace", "health"]

Without --url, the URL is built from the listen setting the server reads
from the same environment: MILLRACE_LISTEN, else the config file named by
MILLRACE_CONFIG, else the default 127.0.0.1:4567. A wildcard host (0.0.0.0,
::, or none as in :4567) is checked on 127.0.0.1. Only the plain listener is
checked (with tls-only, give an http URL of another listener or none).

Flags:
  --url url       the URL to GET (default from the listen setting, as above)
  --timeout d     how long to wait for the answer, a Go duration (default 3s)
`

// health checks a server's health endpoint.
func health(ctx context.Context, args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	fs := flag.NewFlagSet("millrace health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "")
	timeout := fs.Duration("timeout", 3*time.Second, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, healthHelp)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("health: unexpected argument %q", fs.Arg(0))}
	}
	if *timeout <= 0 {
		return usageError{fmt.Errorf("health: --timeout %s must be greater than 0", *timeout)}
	}
	if *url == "" {
		u, err := healthURL(lookupEnv)
		if err != nil {
			return err
		}
		*url = u
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageError{fmt.Errorf("health: --url %q: %w", *url, err)}
	}
	// A client of its own: no proxy from the environment (a health check
	// talks to its own container) and no connection kept for later.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: GET %s answered %s, want 200 OK", *url, resp.Status)
	}
	fmt.Fprintf(stdout, "GET %s: %s\n", *url, resp.Status)
	return nil
}

// healthURL is the health endpoint of the plain listener that the server
// would bind with the same environment and config file.
func healthURL(lookupEnv func(string) (string, bool)) (string, error) {
	flags := config.AddFlags(flag.NewFlagSet("millrace health", flag.ContinueOnError))
	cfg, err := flags.Load(lookupEnv)
	if err != nil {
		return "", usageError{fmt.Errorf("health: reading the listen setting (or pass --url): %w", err)}
	}
	base, err := listenURL("health", cfg.Listen)
	if err != nil {
		return "", err
	}
	return base + server.HealthPath, nil
}

// listenURL is the base URL of the plain listener a server binds with the
// listen setting addr (an unspecified host reached on 127.0.0.1); cmd
// names the command in errors, which say to pass --url.
func listenURL(cmd, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageError{fmt.Errorf("%s: listen %q is not host:port; pass --url", cmd, addr)}
	}
	if port == "0" {
		return "", usageError{fmt.Errorf("%s: listen %q picks a free port at each start; pass --url", cmd, addr)}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

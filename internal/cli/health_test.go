package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/server/servertest"
)

func TestHealthCommand(t *testing.T) {
	srv := servertest.Start(t)
	_, port, _ := net.SplitHostPort(srv.Config.Listen)

	unhealthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer unhealthy.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	cfgFile := filepath.Join(t.TempDir(), "millrace.toml")
	if err := os.WriteFile(cfgFile, []byte("listen = \"0.0.0.0:"+port+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"url", nil, []string{"--url", srv.URL + "/health"}, exitOK, "200 OK", ""},
		{"listen from the environment", map[string]string{"MILLRACE_LISTEN": srv.Config.Listen}, nil, exitOK, srv.URL + "/health", ""},
		{"wildcard listen is checked on loopback", map[string]string{"MILLRACE_LISTEN": "0.0.0.0:" + port}, nil, exitOK, "http://127.0.0.1:" + port + "/health", ""},
		{"no host is checked on loopback", map[string]string{"MILLRACE_LISTEN": ":" + port}, nil, exitOK, "http://127.0.0.1:" + port + "/health", ""},
		{"listen from the config file", map[string]string{"MILLRACE_CONFIG": cfgFile}, nil, exitOK, "http://127.0.0.1:" + port + "/health", ""},
		{"not 200", nil, []string{"--url", unhealthy.URL + "/health"}, exitError, "", "answered 503 Service Unavailable, want 200 OK"},
		{"nobody listening", nil, []string{"--url", closedURL + "/health"}, exitError, "", "connection refused"},
		{"port 0", map[string]string{"MILLRACE_LISTEN": "127.0.0.1:0"}, nil, exitUsage, "", "picks a free port at each start; pass --url"},
		{"bad timeout", nil, []string{"--timeout", "0s"}, exitUsage, "", "--timeout 0s must be greater than 0"},
		{"bad url", nil, []string{"--url", "::nope"}, exitUsage, "", "health: --url"},
		{"stray argument", nil, []string{"now"}, exitUsage, "", `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.env, append([]string{"health"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errOut, tc.inStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr containing %q",
					code, out, errOut, tc.code, tc.inStdout, tc.inStderr)
			}
		})
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/config"
)

func noEnv(string) (string, bool) { return "", false }

func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = run(context.Background(), append([]string{"millrace"}, args...), &out, &errOut, lookup)
	return code, out.String(), errOut.String()
}

func TestHelpListsEverySetting(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"help", "serve"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"millrace [serve] [flags]", "millrace version", "GET /health", "SIGTERM", "--config path", "MILLRACE_CONFIG"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: help lacks %q", args, want)
			}
		}
		for _, s := range config.Settings() {
			want := []string{s.Flag(), s.Help, "env " + s.Env()}
			if d := s.Default(); d != "" {
				want = append(want, "default "+d)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%q: help lacks %q for %s", args, w, s.Name)
				}
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "millrace ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
	if code, _, errOut := runCLI(t, nil, "version", "extra"); code != exitUsage || !strings.Contains(errOut, "no arguments") {
		t.Fatalf("version extra: exit %d, %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{[]string{"--no-such-flag"}, nil, "flag provided but not defined: -no-such-flag"},
		{[]string{"serve", "--shard-limit", "lots"}, nil, `invalid value "lots" for flag -shard-limit: invalid integer "lots"`},
		{[]string{"serve", "stray"}, nil, `unexpected argument "stray"`},
		{[]string{"--account-id", "1"}, nil, `account-id: "1" must be exactly 12 digits`},
		{nil, map[string]string{"MILLRACE_CREATE_DELAY": "-1s"}, "create-delay: -1s must not be negative"},
		{nil, map[string]string{"MILLRACE_LOG_FORMAT": "xml"}, `log-format: "xml" must be text or json`},
		{[]string{"--config", "/nonexistent/millrace.toml"}, nil, "/nonexistent/millrace.toml"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.env, tt.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, code, exitUsage, errOut)
		}
		if out != "" {
			t.Errorf("%q: wrote %q to stdout", tt.args, out)
		}
		if !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "millrace --help") {
			t.Errorf("%q: stderr %q, want it to contain %q and point to --help", tt.args, errOut, tt.want)
		}
	}
}

func TestStartFailureExitsNonZero(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errOut := runCLI(t, nil, "--in-memory", "--listen", ln.Addr().String())
	if code != exitError || !strings.Contains(errOut, "already in use") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// lockedBuffer lets the server log while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitForStart waits for the start line in JSON logs and returns the
// decoded lines so far.
func waitForStart(t *testing.T, logs *lockedBuffer, done <-chan int) []map[string]any {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", l)
			}
			lines = append(lines, m)
		}
		for _, m := range lines {
			if _, ok := m["endpoint"]; ok {
				return lines
			}
		}
		select {
		case code := <-done:
			t.Fatalf("exited with %d before serving; logs:\n%s", code, logs.String())
		case <-deadline:
			t.Fatalf("no start line; logs:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestServeLogsOnceAndStopsOnSIGTERM(t *testing.T) {
	var out bytes.Buffer
	var logs lockedBuffer
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() {
		done <- Main([]string{"millrace", "serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}, &out, &logs)
	}()
	lines := waitForStart(t, &logs, done)
	if len(lines) != 1 {
		t.Fatalf("start logged %d lines, want 1:\n%s", len(lines), logs.String())
	}
	start := lines[0]
	if start["level"] != "INFO" || start["data"] != dir {
		t.Fatalf("start line = %v, want level INFO and data %s", start, dir)
	}
	endpoint, _ := start["endpoint"].(string)
	resp, err := http.Get(endpoint + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health = %d", resp.StatusCode)
	}

	// Main has installed its handler (the start line is logged after it),
	// so SIGTERM stops the server instead of the test binary.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM; logs:\n%s", code, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"millrace stopped"`) {
		t.Errorf("no stop line in logs:\n%s", logs.String())
	}
	if out.Len() != 0 {
		t.Errorf("serve wrote to stdout: %q", out.String())
	}
}

func TestServeInMemory(t *testing.T) {
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"millrace", "--in-memory", "--listen=127.0.0.1:0", "--log-format=json"}, &bytes.Buffer{}, &logs, noEnv)
	}()
	lines := waitForStart(t, &logs, done)
	if lines[0]["data"] != "in memory" {
		t.Fatalf("start line = %v, want data \"in memory\"", lines[0])
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; logs:\n%s", code, logs.String())
	}
}

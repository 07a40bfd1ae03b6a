package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runner runs the examples. Every block that talks to a server gets a
// fresh server of its own (see startServer); blocks of one file run in
// order in one working directory, the module view, so that a file's later
// blocks see what its earlier ones wrote (a key file, a certificate).
type Runner struct {
	Root    string // the repository
	Bin     string // directory holding the built millrace binary
	View    string // the module view: the working directory of the blocks
	Tmp     string // scratch space of the run
	Verbose bool
	seq     int
}

// Credentials and region every block gets in its environment: those of
// the README's quick start.
var exampleEnv = []string{
	"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
	"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"AWS_DEFAULT_REGION=us-east-1",
	"AWS_PAGER=",
	"PYTHONDONTWRITEBYTECODE=1",
}

// NewView makes the module view: a directory with a symbolic link to each
// top-level entry of the repository. Commands like `go run ./cmd/millrace`
// work in it as in a clone, while what the examples write (millrace-data,
// certificates) lands in the view, never in the repository.
func NewView(root, dir string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// CleanView removes everything the examples wrote into the view.
func CleanView(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// env is the environment of a block: the runner's own, without MILLRACE_*
// and AWS_* variables, with the built binary first on PATH, the example
// credentials, no AWS config files, and extra.
func (r *Runner) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MILLRACE_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "PATH="+r.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out = append(out, exampleEnv...)
	out = append(out,
		"AWS_CONFIG_FILE="+filepath.Join(r.Tmp, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(r.Tmp, "no-aws-credentials"))
	return append(out, extra...)
}

// freePort returns a TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var (
	plainPort = regexp.MustCompile(`\b(127\.0\.0\.1|localhost|0\.0\.0\.0):4567\b`)
	tlsPort   = regexp.MustCompile(`\b(127\.0\.0\.1|localhost|0\.0\.0\.0):4568\b`)
)

// substitute applies the block's replace clauses, then points the docs'
// ports (4567 plain, 4568 TLS) at the ports of this run.
func substitute(text string, d *Directive, port, tls int) string {
	if d != nil {
		for _, r := range d.Replace {
			text = strings.ReplaceAll(text, r[0], r[1])
		}
	}
	text = plainPort.ReplaceAllString(text, "${1}:"+strconv.Itoa(port))
	return tlsPort.ReplaceAllString(text, "${1}:"+strconv.Itoa(tls))
}

// server is a millrace process started by the runner.
type server struct {
	cmd      *exec.Cmd
	endpoint string
	out      *syncBuffer
	done     chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingLine = regexp.MustCompile(`msg="millrace serving" endpoint=(\S+)`)

// startServer starts the default server a block talks to: the built
// binary with every setting at its default (throughput limits on, 100 ms
// state delays, dev-mode auth) except the listen address (a free port)
// and the data directory (a fresh one), plus the block's server flags.
func (r *Runner) startServer(extra []string) (*server, error) {
	r.seq++
	dataDir := filepath.Join(r.Tmp, fmt.Sprintf("server-%d", r.seq))
	args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	cmd := exec.Command(filepath.Join(r.Bin, "millrace"), args...)
	cmd.Env = r.env()
	cmd.Dir = r.Tmp
	s := &server{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = s.out, io.MultiWriter(s.out, pw)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- cmd.Wait(); pw.Close() }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case s.endpoint = <-found:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("server exited before serving (%v):\n%s", err, s.out.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("server not serving after 30s:\n%s", s.out.String())
	}
}

// stop stops the server with SIGTERM; it must stop gracefully (exit 0).
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("server stopped with %v", err)
		}
		return nil
	case <-time.After(45 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("server did not stop within 45s of SIGTERM")
	}
}

// Result is the outcome of one block.
type Result struct {
	Block   Block
	Kind    Kind
	Err     error
	Skipped string // why it was not run
	Output  string
	Took    time.Duration
}

// Run runs one block.
func (r *Runner) Run(ctx context.Context, b Block, k Kind) (res Result) {
	res = Result{Block: b, Kind: k}
	start := time.Now()
	defer func() { res.Took = time.Since(start) }()
	d := b.Directive
	if d == nil {
		d = &Directive{Exit: -1}
	}
	timeout := 3 * time.Minute
	if d.Timeout > 0 {
		timeout = d.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch k {
	case KindNotRun:
		res.Skipped = d.NotRun
	case KindConfig:
		res.Err = CheckConfig(b)
		if res.Err == nil && d.SavedAs != "" {
			res.Err = os.WriteFile(filepath.Join(r.View, d.SavedAs), []byte(b.Text), 0o600)
		}
	case KindPolicy:
		res.Err = CheckPolicy(b)
		if res.Err == nil && d.SavedAs != "" {
			res.Err = os.WriteFile(filepath.Join(r.View, d.SavedAs), []byte(b.Text), 0o600)
		}
	case KindOutput:
		res.Output, res.Err = r.runOutput(ctx, b, d)
	default:
		res.Output, res.Err = r.runProgram(ctx, b, k, d)
	}
	if ctx.Err() != nil && res.Err != nil {
		res.Err = fmt.Errorf("%w (time limit %v)", res.Err, timeout)
	}
	return res
}

// runProgram runs an sh, python or go block. Unless the block starts its
// own server (server on line N), a default server is started for it; the
// docs' endpoint (127.0.0.1:4567) is rewritten to the server's, which is
// also in $ENDPOINT (and its process id in $SERVER_PID) for harnesses.
func (r *Runner) runProgram(ctx context.Context, b Block, k Kind, d *Directive) (string, error) {
	tls, err := freePort()
	if err != nil {
		return "", err
	}
	var port int
	env := append([]string{}, d.Env...)
	var srv *server
	if d.ServerLine == 0 {
		srv, err = r.startServer(d.ServerFlags)
		if err != nil {
			return "", err
		}
		port, _ = strconv.Atoi(srv.endpoint[strings.LastIndexByte(srv.endpoint, ':')+1:])
		env = append(env, "ENDPOINT="+srv.endpoint, "SERVER_PID="+strconv.Itoa(srv.cmd.Process.Pid))
	} else {
		if port, err = freePort(); err != nil {
			return "", err
		}
		// The block's server listens where the docs say; where they name
		// no address, MILLRACE_LISTEN puts it on this run's port.
		env = append(env, fmt.Sprintf("MILLRACE_LISTEN=127.0.0.1:%d", port), fmt.Sprintf("ENDPOINT=http://127.0.0.1:%d", port))
	}
	text := substitute(b.Text, d, port, tls)
	// An env clause names the docs' addresses too (MILLRACE_LISTEN for a
	// command that finds the server by it): they move with the server.
	for i := range d.Env {
		env[i] = substitute(d.Env[i], nil, port, tls)
	}

	var cmd *exec.Cmd
	pgidFile := filepath.Join(r.Tmp, "server.pgid")
	os.Remove(pgidFile)
	switch k {
	case KindShell:
		script, err := r.shellScript(b, d, text)
		if err != nil {
			return "", err
		}
		env = append(env, "DOCS_SERVER_PGID_FILE="+pgidFile)
		cmd = exec.Command("bash", "-c", script)
	case KindPython:
		src, err := r.applyHarness(b, d, KindPython, text)
		if err != nil {
			return "", err
		}
		path := filepath.Join(r.View, "docexample.py")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			return "", err
		}
		cmd = exec.Command("python3", path)
	case KindGo:
		src, err := r.applyHarness(b, d, KindGo, text)
		if err != nil {
			return "", err
		}
		dir := filepath.Join(r.View, "docexample")
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			return "", err
		}
		cmd = exec.Command("go", "run", "./docexample")
	case KindGoTest:
		// A whole test file: it starts what it needs itself.
		dir := filepath.Join(r.View, "docexample")
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		src := fmt.Sprintf("//line %s:%d\n%s", b.File, b.Line+1, text)
		if err := os.WriteFile(filepath.Join(dir, "example_test.go"), []byte(src), 0o644); err != nil {
			return "", err
		}
		cmd = exec.Command("go", "test", "-count=1", "-v", "./docexample")
	}
	cmd.Dir = r.View
	cmd.Env = r.env(env...)
	out, err := runGroup(ctx, cmd)
	// A server a shell block started and could not stop is ended here.
	if data, rerr := os.ReadFile(pgidFile); rerr == nil {
		if pgid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pgid > 0 {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	if srv != nil {
		if serr := srv.stop(); serr != nil && err == nil {
			err = serr
		}
		if err != nil {
			out += "\n--- default server output (last 30 lines) ---\n" + tail(srv.out.String(), 30)
		}
	}
	return out, err
}

// runGroup runs cmd in a process group of its own, returns its combined
// output, and ends the whole group when ctx ends (SIGTERM, then SIGKILL).
func runGroup(ctx context.Context, cmd *exec.Cmd) (string, error) {
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		return out.String(), ctx.Err()
	}
}

// applyHarness puts the block into its harness template, with a //line or
// comment so that errors point at the doc.
func (r *Runner) applyHarness(b Block, d *Directive, k Kind, text string) (string, error) {
	if d.Harness == "" {
		return text, nil
	}
	data, err := os.ReadFile(filepath.Join(r.Root, "tests", "docs", "harness", d.Harness+harnessExt[k]))
	if err != nil {
		return "", err
	}
	tmpl := string(data)
	i := strings.Index(tmpl, harnessMarker+"\n")
	var insert string
	switch k {
	case KindGo:
		after := strings.Count(tmpl[:i], "\n") + 2
		insert = fmt.Sprintf("//line %s:%d\n%s//line harness/%s.go.tmpl:%d\n", b.File, b.Line+1, text, d.Harness, after)
	default:
		insert = fmt.Sprintf("# %s:%d\n%s", b.File, b.Line+1, text)
	}
	return tmpl[:i] + insert + tmpl[i+len(harnessMarker)+1:], nil
}

// shellPrelude is put before every sh block: bash with -euo pipefail, so
// that any failing command fails the block, and the helpers that run a
// block's own server (server on line N) in the background.
const shellPrelude = `set -euo pipefail
__srvpid=
__srvlog=$(mktemp "${TMPDIR:-/tmp}/millrace-docs-server.XXXXXX")
__await_server() { # wait for the start line, then check /health on each endpoint
	while ! grep -q 'msg="millrace serving"' "$__srvlog"; do
		if ! kill -0 -- "-$__srvpid" 2>/dev/null; then
			echo "docs runner: the server exited before serving:" >&2
			cat "$__srvlog" >&2
			__srvpid=
			return 1
		fi
		sleep 0.1
	done
	local ep body
	for ep in $(grep -m 1 'msg="millrace serving"' "$__srvlog" | grep -o 'endpoint=[^ ]*' | cut -d= -f2); do
		body=$(curl -fsS -k --max-time 10 "$ep/health") && [[ $body == *'"status":"ok"'* ]] || {
			echo "docs runner: $ep/health did not answer {\"status\":\"ok\"}" >&2
			return 1
		}
	done
}
__stop_server() { # SIGTERM; the server must log a graceful stop
	[ -n "$__srvpid" ] || return 0
	local pid=$__srvpid i
	__srvpid=
	kill -TERM -- "-$pid" 2>/dev/null || true
	for ((i = 0; i < 450; i++)); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 -- "-$pid" 2>/dev/null; then
		kill -KILL -- "-$pid" 2>/dev/null || true
		echo "docs runner: the server did not stop within 45s of SIGTERM" >&2
		return 1
	fi
	wait "$pid" 2>/dev/null || true
	echo "--- the block's server output ---"
	cat "$__srvlog"
	grep -q 'msg="millrace stopped"' "$__srvlog" || {
		echo "docs runner: the server did not stop gracefully" >&2
		return 1
	}
}
trap '__stop_server >/dev/null 2>&1 || true; rm -f "$__srvlog"' EXIT
trap 'exit 143' TERM
`

// shellScript turns an sh block into the script bash runs.
func (r *Runner) shellScript(b Block, d *Directive, text string) (string, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var body strings.Builder
	for i, l := range lines {
		n := i + 1
		switch {
		case d.SkipLines[n] != "":
			fmt.Fprintf(&body, "# line %d not run: %s\n", n, d.SkipLines[n])
		case n == d.ServerLine:
			fmt.Fprintf(&body, "set -m\n{ %s\n} >\"$__srvlog\" 2>&1 &\n__srvpid=$!\nset +m\necho \"$__srvpid\" >\"$DOCS_SERVER_PGID_FILE\"\n__await_server\n", l)
		default:
			body.WriteString(l + "\n")
		}
	}
	if d.ServerLine != 0 {
		body.WriteString("__stop_server\n")
	}
	script, err := r.applyHarness(b, d, KindShell, body.String())
	if err != nil {
		return "", err
	}
	return shellPrelude + script, nil
}

var timeField = regexp.MustCompile(`\btime=\S+`)

// runOutput runs an "output of" command and compares the start of its
// output with the block. The command runs like a block's own server would:
// in the view, with MILLRACE_LISTEN on a free port; when it has printed as
// many lines as the block has, it is stopped (SIGTERM) unless an exit
// status is expected, which it must then return. Log timestamps (time=...)
// and the port are not compared.
func (r *Runner) runOutput(ctx context.Context, b Block, d *Directive) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmdText := substitute(d.OutputOf, d, port, port)
	cmd := exec.Command("bash", "-c", "exec "+cmdText)
	cmd.Dir = r.View
	cmd.Env = r.env(fmt.Sprintf("MILLRACE_LISTEN=127.0.0.1:%d", port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	var all syncBuffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(pw, &all), io.MultiWriter(pw, &all)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	want := b.Lines()
	lines := make(chan []string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(pr)
		for len(got) < len(want) && sc.Scan() {
			got = append(got, sc.Text())
		}
		lines <- got
		io.Copy(io.Discard, pr)
	}()
	var got []string
	select {
	case got = <-lines:
	case <-ctx.Done():
	}
	var exitErr error
	if d.Exit >= 0 {
		select {
		case exitErr = <-done:
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return all.String(), fmt.Errorf("%s did not exit", d.OutputOf)
		}
		code := 0
		var ee *exec.ExitError
		if errors.As(exitErr, &ee) {
			code = ee.ExitCode()
		} else if exitErr != nil {
			return all.String(), exitErr
		}
		if code != d.Exit {
			return all.String(), fmt.Errorf("%s exited with status %d, the docs say %d", d.OutputOf, code, d.Exit)
		}
	} else {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	norm := func(s string) string {
		s = timeField.ReplaceAllString(s, "time=T")
		return strings.TrimRight(strings.ReplaceAll(s, ":"+strconv.Itoa(port), ":4567"), " \t")
	}
	var diff []string
	for i, w := range want {
		g := "(nothing)"
		if i < len(got) {
			g = got[i]
		}
		if norm(g) != norm(w) {
			diff = append(diff, fmt.Sprintf("line %d:\n  docs: %s\n  got:  %s", i+1, w, g))
		}
	}
	if len(diff) > 0 {
		return all.String(), fmt.Errorf("the output of %s differs from the docs (time= and the port are not compared):\n%s", d.OutputOf, strings.Join(diff, "\n"))
	}
	return all.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

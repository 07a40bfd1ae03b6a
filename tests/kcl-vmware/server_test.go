package kclvmware

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// millraceBin is the binary under test: $MILLRACE_BIN, or one built from
// the repository by TestMain.
var millraceBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := millraceBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kcl-vmware:", err)
		os.Exit(1)
	}
	millraceBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func millraceBinary() (string, func(), error) {
	if bin := os.Getenv("MILLRACE_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", nil, fmt.Errorf("MILLRACE_BIN: %w", err)
		}
		return abs, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "millrace-kcl-vmware-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "millrace")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/millrace")
	cmd.Dir = filepath.Join("..", "..")
	// Build Millrace with its own go.mod, not this module's.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build ./cmd/millrace (set MILLRACE_BIN to use a built binary): %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// server is a Millrace process.
type server struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done

	mu  sync.Mutex
	log []string
}

var servingLine = regexp.MustCompile(`msg="millrace serving" endpoint=(\S+)`)

// startServer starts millraceBin in memory on a free loopback port with
// its default settings (throughput limits on, default delays), and stops
// it when the test ends. Its log is printed if the test fails.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(millraceBin, "serve", "--listen", "127.0.0.1:0", "--in-memory")
	// Only the flags above configure the server.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MILLRACE_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", millraceBin, err)
	}
	w.Close()
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log = append(s.log, line)
			s.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case urlCh <- m[1]:
				default:
				}
			}
		}
		r.Close()
	}()
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			s.mu.Lock()
			lines := s.log
			if len(lines) > 100 {
				lines = lines[len(lines)-100:]
			}
			t.Logf("server log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
			s.mu.Unlock()
		}
	})
	select {
	case s.URL = <-urlCh:
	case <-s.done:
		t.Fatalf("millrace exited during start-up: %v", s.err)
	case <-time.After(60 * time.Second):
		t.Fatal("millrace did not report its endpoint within 60 s")
	}
	return s
}

// stop asks the server to stop (SIGTERM) and kills it if it has not
// stopped within 60 s.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		var ee *exec.ExitError
		if s.err != nil && !errors.As(s.err, &ee) {
			t.Errorf("millrace: %v", s.err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("millrace did not stop within 60 s of SIGINT; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

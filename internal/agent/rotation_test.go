package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv names the configuration file a re-executed test binary runs
// the agent with (see TestMain).
const childEnv = "MILLRACE_AGENT_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	cleanup := trustTestTLS()
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// runChild runs the agent as a process of its own, until SIGTERM.
func runChild(path string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if p := os.Getenv("MILLRACE_AGENT_TEST_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	maxBuf, _ := strconv.ParseInt(os.Getenv("MILLRACE_AGENT_TEST_MAXBUF"), 10, 64)
	a, err := New(ctx, cfg, Options{Logger: log, NoRateLimit: true, MaxBufferedBytes: maxBuf,
		Aggregate: os.Getenv("MILLRACE_AGENT_TEST_AGGREGATE") != ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if p := os.Getenv("MILLRACE_AGENT_TEST_MEMSTATS"); p != "" {
		if f, err := os.Create(p + ".heap"); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		os.WriteFile(p, fmt.Appendf(nil, "Sys %d HeapSys %d HeapInuse %d HeapReleased %d StackSys %d NumGC %d TotalAlloc %d\n",
			ms.Sys>>20, ms.HeapSys>>20, ms.HeapInuse>>20, ms.HeapReleased>>20, ms.StackSys>>20, ms.NumGC, ms.TotalAlloc>>20), 0o644)
	}
	return 0
}

func startChild(t *testing.T, cfgPath string, out *syncBuffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
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

// rotWriter appends numbered lines to a log, the way an application does:
// it keeps the file open, writes some lines in two parts (so a poll can
// see half a line), reopens the path when told to after a rename, and
// stops writing while a copytruncate rotation runs.
type rotWriter struct {
	path string
	mu   sync.Mutex // held by the writer per line; by the rotator to pause it
	f    *os.File
	next int
	pad  string
}

func (w *rotWriter) open(t *testing.T) {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f = f
}

func (w *rotWriter) writeLine(t *testing.T, split bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	line := fmt.Sprintf("seq %08d %s\n", w.next, w.pad)
	w.next++
	if split {
		if _, err := w.f.WriteString(line[:10]); err != nil {
			t.Error(err)
		}
		// The rotator waits: a line split across two files is the
		// writer's doing, not the shipper's.
		time.Sleep(3 * time.Millisecond)
		line = line[10:]
	}
	if _, err := w.f.WriteString(line); err != nil {
		t.Error(err)
	}
}

// rotateRename renames the log away; the writer reopens the path, as an
// application does on SIGHUP after logrotate's default "create" rotation
// (lines written in between go to the renamed file).
func (w *rotWriter) rotateRename(t *testing.T, to string) {
	if err := os.Rename(w.path, to); err != nil {
		t.Error(err)
	}
	time.Sleep(5 * time.Millisecond)
	w.mu.Lock()
	w.open(t)
	w.mu.Unlock()
}

// rotateCopyTruncate copies the log and truncates it with the writer
// paused: logrotate's copytruncate does not pause the application, and the
// lines written between its copy and its truncate are lost by the rotator
// whatever the shipper does.
func (w *rotWriter) rotateCopyTruncate(t *testing.T, to string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	src, err := os.Open(w.path)
	if err != nil {
		t.Error(err)
		return
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Error(err)
		return
	}
	// Copied in pieces, so that a poll can see the copy half written.
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Error(err)
			break
		}
	}
	dst.Close()
	if err := os.Truncate(w.path, 0); err != nil {
		t.Error(err)
	}
}

// rotationRunTime is how long the headline scenario runs: 20 s, or
// MILLRACE_AGENT_SOAK. It skips under -short.
func rotationRunTime(t *testing.T) time.Duration {
	t.Helper()
	if testing.Short() {
		t.Skip("runs for 20 s")
	}
	run := 20 * time.Second
	if s := os.Getenv("MILLRACE_AGENT_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("MILLRACE_AGENT_SOAK: %v", err)
		}
		run = d
	}
	return run
}

// runRotationScenario is the headline scenario: a writer appends numbered
// lines ("seq %08d <80 x>", some in two parts) to logDir/app.log, about
// 2,000 a second, while the log is rotated every 1-2 s, alternately by
// rename and by copytruncate, and the agent configured by cfgPath runs as
// a separate process: it is killed with SIGKILL after a third of run
// (afterKill, if not nil, is called once it is dead, before it restarts)
// and stopped with SIGTERM after two thirds, and restarted each time.
// When run is over the writer stops; the agent still runs. It returns
// the number of lines written, the agent's output, and a function that
// stops the agent with SIGTERM and reports an unclean exit.
func runRotationScenario(t *testing.T, logDir, cfgPath string, run time.Duration, afterKill func(w *rotWriter)) (int, *syncBuffer, func()) {
	t.Helper()
	w := &rotWriter{path: filepath.Join(logDir, "app.log"), pad: strings.Repeat("x", 80)}
	w.open(t)

	out := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	})
	agentProc := startChild(t, cfgPath, out)
	t.Cleanup(func() { agentProc.Process.Kill(); agentProc.Wait() })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // writer: about 2,000 lines/s
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 20 {
				w.writeLine(t, rng.IntN(50) == 0)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	go func() { // rotator
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1000+rng.IntN(1000)) * time.Millisecond):
			}
			to := w.path + "." + strconv.Itoa(n)
			if n%2 == 1 {
				w.rotateRename(t, to)
			} else {
				w.rotateCopyTruncate(t, to)
			}
		}
	}()

	time.Sleep(run / 3)
	agentProc.Process.Signal(syscall.SIGKILL)
	agentProc.Wait()
	if afterKill != nil {
		afterKill(w)
	}
	time.Sleep(300 * time.Millisecond)
	agentProc = startChild(t, cfgPath, out)
	time.Sleep(run / 3)
	agentProc.Process.Signal(syscall.SIGTERM)
	if err := agentProc.Wait(); err != nil {
		t.Errorf("agent stopped by SIGTERM: %v", err)
	}
	agentProc = startChild(t, cfgPath, out)
	time.Sleep(run / 3)
	close(stop)
	wg.Wait()
	w.mu.Lock()
	total := w.next
	w.mu.Unlock()
	stopped := false
	return total, out, func() {
		if stopped {
			return
		}
		stopped = true
		agentProc.Process.Signal(syscall.SIGTERM)
		if err := agentProc.Wait(); err != nil {
			t.Errorf("agent stopped by SIGTERM: %v", err)
		}
	}
}

// TestRotationRestartsAndKillDeliverEveryLineOnce is the agent's
// guarantee end to end (runRotationScenario): every line must reach the
// stream exactly once and in order. MILLRACE_AGENT_SOAK=<duration> runs
// longer.
func TestRotationRestartsAndKillDeliverEveryLineOnce(t *testing.T) {
	run := rotationRunTime(t)
	srv, c := newStream(t, "rot", 1)
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	os.Mkdir(logDir, 0o755)
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := agentJSON(t, srv, dir, map[string]any{
		"filePattern": filepath.Join(logDir, "app.log*"), "kinesisStream": "rot",
		"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": "1000",
		"minTimeBetweenFilePollsMillis": 50,
	})
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	total, out, stopAgent := runRotationScenario(t, logDir, cfgPath, run, nil)

	// Wait until the stream holds as many records as lines written (or
	// stops growing), then compare.
	var got []int
	deadline := time.Now().Add(60 * time.Second)
	for {
		got = got[:0]
		for _, sh := range readStream(t, c, "rot") {
			for _, r := range sh {
				var n int
				if _, err := fmt.Sscanf(string(r.Data), "seq %d ", &n); err != nil {
					t.Fatalf("record %q: %v", r.Data, err)
				}
				got = append(got, n)
			}
		}
		if len(got) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopAgent()
	t.Logf("%d lines written over %v, %d records in the stream", total, run, len(got))
	bad := 0
	for i, n := range got {
		if n != i && bad < 20 {
			t.Errorf("record %d is line %d (want %d)", i, n, i)
			bad++
		}
	}
	if len(got) != total {
		t.Errorf("%d records in the stream for %d lines", len(got), total)
	}
	if !strings.Contains(out.String(), "continuing in the copy") && run >= 10*time.Second {
		t.Errorf("no copytruncate copy was followed")
	}
}

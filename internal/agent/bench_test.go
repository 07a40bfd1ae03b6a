package agent

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAgent ships one file of 200-byte lines into a 4-shard stream
// of an in-process server with limits off, the agent running as a process
// of its own (so that its peak RSS is its own), with and without KPL
// aggregation. It reports lines/s and the agent's peak RSS.
func BenchmarkAgent(b *testing.B) {
	for _, agg := range []bool{false, true} {
		name := "plain"
		if agg {
			name = "aggregated"
		}
		b.Run(name, func(b *testing.B) {
			srv, _ := newStream(b, "bench", 4)
			dir := b.TempDir()
			log := filepath.Join(dir, "app.log")
			f, err := os.Create(log)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriterSize(f, 1<<20)
			n := max(b.N, 1000)
			pad := strings.Repeat("x", 200-len("line 000000000 \n"))
			for i := range n {
				fmt.Fprintf(w, "line %09d %s\n", i, pad)
			}
			w.Flush()
			f.Close()
			fi, _ := os.Stat(log)
			cfgPath := filepath.Join(dir, "agent.json")
			os.WriteFile(cfgPath, agentJSON(b, srv, dir, map[string]any{
				"filePattern": log, "kinesisStream": "bench", "initialPosition": "START_OF_FILE",
				"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 20,
			}), 0o644)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+cfgPath)
			if agg {
				cmd.Env = append(cmd.Env, "MILLRACE_AGENT_TEST_AGGREGATE=1")
			}
			// MILLRACE_AGENT_BENCH_GOMEMLIMIT sets the agent's GOMEMLIMIT
			// (not the server's).
			if l := os.Getenv("MILLRACE_AGENT_BENCH_GOMEMLIMIT"); l != "" {
				cmd.Env = append(cmd.Env, "GOMEMLIMIT="+l)
			}
			b.ResetTimer()
			start := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			cp := filepath.Join(dir, "checkpoints")
			rss := 0.0
			for {
				c, _ := readCheckpoint(cp)
				if c != nil && len(c.Flows) == 1 {
					done := false
					for _, fl := range c.Flows {
						done = len(fl.Files) == 1 && fl.Files[0].Offset == fi.Size()
					}
					if done {
						break
					}
				}
				rss = max(rss, peakRSS(cmd.Process.Pid))
				if time.Since(start) > 5*time.Minute {
					b.Fatal("the agent did not finish in 5 minutes")
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			rss = max(rss, peakRSS(cmd.Process.Pid))
			cpu := cpuSeconds(cmd.Process.Pid)
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			b.ReportMetric(float64(n)/elapsed.Seconds(), "lines/s")
			b.ReportMetric(rss, "peak-RSS-MiB")
			if cpu > 0 {
				// Lines per second of the agent's own CPU time: what the
				// agent would do with a core to itself.
				b.ReportMetric(float64(n)/cpu, "lines/cpu-s")
			}
		})
	}
}

// peakRSS returns the VmHWM of process pid in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds returns the user and system CPU time of process pid.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

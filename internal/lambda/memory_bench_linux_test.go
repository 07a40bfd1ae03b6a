package lambda

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// envMemoryBenchChild makes the test binary a stand-in for an instance
// process (a Go program with its runtime's threads) that waits until its
// stdin closes.
const envMemoryBenchChild = "MILLRACE_MEMORY_BENCH_CHILD"

func init() {
	if os.Getenv(envMemoryBenchChild) != "" {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

// BenchmarkMemoryAccounting: the memory accounting of one invocation
// (resetPeak before, peakMemory after) on a running Go process, in its
// memory cgroup where the machine allows one and from /proc without.
// cpu-µs/invocation is the test process's user+system CPU time.
func BenchmarkMemoryAccounting(b *testing.B) {
	b.Run("proc", func(b *testing.B) { benchmarkMemoryAccounting(b, MemoryLimitsOff) })
	b.Run("cgroup", func(b *testing.B) {
		if err := MemoryLimitsSupported(); err != nil {
			b.Skipf("memory cgroups cannot be created here: %v", err)
		}
		benchmarkMemoryAccounting(b, MemoryLimitsOn)
	})
}

func benchmarkMemoryAccounting(b *testing.B, mode string) {
	mc, err := newMemoryControl(mode, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer mc.close()
	inst := &instance{r: &runner{mem: mc, log: slog.New(slog.DiscardHandler)}, exited: make(chan struct{})}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envMemoryBenchChild+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	started, err := inst.limitMemory(&function{MemorySize: 512}, cmd.SysProcAttr)
	if err != nil {
		b.Fatal(err)
	}
	err = cmd.Start()
	if err != nil {
		started(nil)
		inst.removeCgroup()
		b.Fatal(err)
	}
	inst.cmd = cmd
	defer func() {
		stdin.Close()
		cmd.Wait()
		inst.removeCgroup()
	}()
	if err := started(cmd.Process); err != nil {
		b.Fatal(err)
	}
	// Its runtime's threads start.
	time.Sleep(100 * time.Millisecond)
	if peak := inst.peakMemory(); peak <= 0 {
		b.Fatalf("peak memory of a running process: %d", peak)
	}

	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for b.Loop() {
		inst.resetPeak()
		if inst.peakMemory() <= 0 {
			b.Fatal("no peak memory")
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/invocation")
}

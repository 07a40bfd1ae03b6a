package lambda

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// TestMemoryCgroupsOfAStoppedServer: the instance cgroups a killed server
// left are removed, with what ran in them, by the next server to start;
// those of a running server stay. Where memory cgroups cannot be made,
// lambda-memory-limits on refuses to start and auto starts unlimited.
func TestMemoryCgroupsOfAStoppedServer(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if err := MemoryLimitsSupported(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("memory cgroups cannot be created here (%v); run as root with a writable /sys/fs/cgroup to test them", err)
		}
		if _, err := newMemoryControl(MemoryLimitsOn, log); err == nil {
			t.Error("lambda-memory-limits on started without memory cgroups")
		}
		mc, err := newMemoryControl(MemoryLimitsAuto, log)
		if err != nil || mc.enforced() {
			t.Errorf("lambda-memory-limits auto without memory cgroups: %v, enforced %v", err, mc != nil && mc.enforced())
		}
		return
	}
	live, err := newMemoryControl(MemoryLimitsOn, log)
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()
	mine, err := live.newGroup(128)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.remove()

	// A server that was killed: its pid is no longer running, and a
	// process still runs in its instance's cgroup.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := &memGroup{version: live.version, dir: filepath.Join(live.base, strconv.Itoa(dead.Process.Pid)+"-1")}
	if err := os.Mkdir(stale.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stale.remove() })
	orphan := exec.Command("sleep", "60")
	orphan.SysProcAttr = &syscall.SysProcAttr{}
	started, err := stale.prepare(orphan.SysProcAttr)
	if err != nil {
		t.Fatal(err)
	}
	if err := orphan.Start(); err != nil {
		started(-1)
		t.Fatal(err)
	}
	if err := started(orphan.Process.Pid); err != nil {
		orphan.Process.Kill()
		orphan.Wait()
		t.Fatal(err)
	}

	next, err := newMemoryControl(MemoryLimitsAuto, log)
	if err != nil {
		t.Fatal(err)
	}
	defer next.close()
	if err := orphan.Wait(); err == nil || err.Error() != "signal: killed" {
		t.Errorf("the process in the stale cgroup: %v", err)
	}
	if _, err := os.Stat(stale.dir); !os.IsNotExist(err) {
		t.Errorf("the stale cgroup %s: %v", stale.dir, err)
	}
	if _, err := os.Stat(mine.dir); err != nil {
		t.Errorf("a running server's cgroup: %v", err)
	}
}

// TestProcGroup: without a cgroup an instance's processes are the one
// started and its descendants in its process group, found the same way
// through the children lists as by reading every process.
func TestProcGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60 & echo started; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	buf := make([]byte, 8)
	if _, err := io.ReadFull(out, buf); err != nil {
		t.Fatal(err)
	}
	pids := procGroup(cmd.Process.Pid)
	scanned := procGroupScan(cmd.Process.Pid)
	slices.Sort(pids)
	slices.Sort(scanned)
	if len(pids) != 3 || !slices.Equal(pids, scanned) {
		t.Errorf("process group of sh and two sleeps: %v, scanning /proc: %v", pids, scanned)
	}
	if peak := procPeak(cmd.Process.Pid); peak <= 0 {
		t.Errorf("peak of the group: %d", peak)
	}
}

// TestMemoryGroupPeakReset: the cgroup's peak, read and reset through the
// file kept open, is what the processes used since the last reset, not
// since they started.
func TestMemoryGroupPeakReset(t *testing.T) {
	if err := MemoryLimitsSupported(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("memory cgroups cannot be created here (%v); run as root with a writable /sys/fs/cgroup to test them", err)
		}
		mc, err := newMemoryControl(MemoryLimitsAuto, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if g, err := mc.newGroup(512); g != nil || err != nil {
			t.Errorf("a cgroup made where memory cgroups cannot be: %v, %v", g, err)
		}
		return
	}
	mc, err := newMemoryControl(MemoryLimitsOn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.close()
	g, err := mc.newGroup(512)
	if err != nil {
		t.Fatal(err)
	}
	defer g.remove()
	// 64 MiB held in a shell variable, then freed.
	cmd := exec.Command("sh", "-c", `x=$(head -c 67108864 /dev/zero | tr '\0' a); echo "${#x}"; unset x; echo freed; read y`)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	started, err := g.prepare(cmd.SysProcAttr)
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		started(-1)
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	if err := started(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	g.resetPeak()
	lines := make([]byte, 0, 32)
	buf := make([]byte, 32)
	for !bytes.Contains(lines, []byte("freed\n")) {
		n, err := out.Read(buf)
		if err != nil {
			t.Fatalf("the shell's output %q: %v", lines, err)
		}
		lines = append(lines, buf[:n]...)
	}
	if peak := g.peak(); peak < 64<<20 {
		t.Fatalf("peak after 64 MiB were held: %d bytes", peak)
	}
	if peak := g.peak(); peak < 64<<20 {
		t.Errorf("peak read again: %d bytes", peak)
	}
	g.resetPeak()
	if peak := g.peak(); peak < 0 || peak >= 64<<20 {
		t.Errorf("peak after a reset, the 64 MiB freed: %d bytes", peak)
	}
	t.Logf("after the reset: %d bytes", g.peak())
}

// TestProcTreeFollowsForks: the instance's process tree, kept between
// invocations with its files open, takes in a process forked since the
// last walk and lets go of one that exited.
func TestProcTreeFollowsForks(t *testing.T) {
	cmd := exec.Command("sh", "-c", `read x; sleep 60 & echo "$!"; wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	var tree procTree
	defer tree.close()
	sh := cmd.Process.Pid
	if pids := tree.walk(sh); !slices.Equal(pids, []int{sh}) {
		t.Fatalf("the shell alone: %v", pids)
	}
	if peak := tree.peak(sh); peak <= 0 {
		t.Errorf("peak of the shell: %d", peak)
	}
	io.WriteString(stdin, "\n")
	line := make([]byte, 16)
	n, err := out.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	sleep, err := strconv.Atoi(string(bytes.TrimSpace(line[:n])))
	if err != nil {
		t.Fatalf("the sleep's pid %q: %v", line[:n], err)
	}
	if pids := tree.walk(sh); !slices.Equal(pids, []int{sh, sleep}) {
		t.Errorf("after the shell forked %d: %v", sleep, pids)
	}
	tree.resetPeak(sh)
	if peak := tree.peak(sh); peak <= 0 {
		t.Errorf("peak of the shell and the sleep: %d", peak)
	}
	syscall.Kill(sleep, syscall.SIGKILL)
	// The shell's wait reaps it, then the shell exits.
	cmd.Wait()
	if pids := tree.walk(sh); len(pids) != 0 || len(tree.procs) != 0 {
		t.Errorf("after both exited: %v, files kept for %d processes", pids, len(tree.procs))
	}
	if peak := tree.peak(sh); peak != -1 {
		t.Errorf("peak of no processes: %d", peak)
	}
}

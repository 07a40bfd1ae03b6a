package lambda

import (
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

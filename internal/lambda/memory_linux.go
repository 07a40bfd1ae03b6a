package lambda

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cgroupDirName is the cgroup, under the server's own, that holds the
// instances' cgroups. Each is named <server pid>-<n>, so that a server
// starting finds those of a server that was killed and removes them.
const cgroupDirName = "millrace-lambda"

// memoryControl puts each instance in a memory cgroup of its own whose
// limit is its function's MemorySize, and measures the instance's peak
// memory there. With version 0 (no cgroups) instances are not limited
// and their peak is read from /proc.
type memoryControl struct {
	log     *slog.Logger
	version int    // 0: no cgroups, 1 or 2: the cgroup version used
	base    string // the directory of cgroupDirName
	seq     atomic.Int64
}

// newMemoryControl sets up memory limits as mode (MemoryLimits*) says.
func newMemoryControl(mode string, log *slog.Logger) (*memoryControl, error) {
	mc := &memoryControl{log: log}
	if mode == MemoryLimitsOff {
		return mc, nil
	}
	version, base, err := setupCgroups()
	if err != nil {
		if mode == MemoryLimitsOn {
			return nil, fmt.Errorf("lambda: lambda-memory-limits is on, but %w", err)
		}
		log.Warn("Lambda functions' MemorySize is not enforced: memory cgroups cannot be created here (lambda-memory-limits auto)", "reason", err.Error())
		return mc, nil
	}
	mc.version, mc.base = version, base
	mc.removeStale()
	return mc, nil
}

// MemoryLimitsSupported says whether this machine lets the server limit
// the memory of function instances (lambda-memory-limits on would
// start), and if not, why.
func MemoryLimitsSupported() error {
	_, base, err := setupCgroups()
	if err == nil {
		// Empty unless a server uses it: then it stays.
		syscall.Rmdir(base)
	}
	return err
}

// setupCgroups finds a memory cgroup hierarchy the server may create
// cgroups in and makes cgroupDirName under the server's own cgroup
// there: cgroup v2 when its memory controller is available, else v1.
func setupCgroups() (version int, base string, err error) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return 0, "", fmt.Errorf("reading /proc/self/mounts: %w", err)
	}
	var v1, v2 string
	for line := range strings.SplitSeq(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		switch {
		case f[2] == "cgroup2" && v2 == "":
			v2 = f[1]
		case f[2] == "cgroup" && slices.Contains(strings.Split(f[3], ","), "memory") && v1 == "":
			v1 = f[1]
		}
	}
	var errs []error
	if v2 != "" {
		base, err := setupV2(v2)
		if err == nil {
			return 2, base, nil
		}
		errs = append(errs, err)
	}
	if v1 != "" {
		base, err := setupV1(v1)
		if err == nil {
			return 1, base, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return 0, "", errors.New("no memory cgroup hierarchy is mounted")
	}
	return 0, "", errors.Join(errs...)
}

func setupV2(mount string) (string, error) {
	ctrl, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	if !slices.Contains(strings.Fields(string(ctrl)), "memory") {
		return "", fmt.Errorf("cgroup v2 at %s has no memory controller", mount)
	}
	parent := filepath.Join(mount, ownCgroup(""))
	if err := enableMemory(parent); err != nil {
		return "", fmt.Errorf("cgroup v2: enabling the memory controller under the server's cgroup %s (a cgroup with processes of its own cannot hand it down): %w", parent, err)
	}
	base := filepath.Join(parent, cgroupDirName)
	if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	if err := enableMemory(base); err != nil {
		return "", fmt.Errorf("cgroup v2: enabling the memory controller in %s: %w", base, err)
	}
	return base, nil
}

// enableMemory hands the memory controller down to dir's children.
func enableMemory(dir string) error {
	sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if slices.Contains(strings.Fields(string(sub)), "memory") {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0)
}

func setupV1(mount string) (string, error) {
	parent := filepath.Join(mount, ownCgroup("memory"))
	if _, err := os.Stat(parent); err != nil {
		// The server's cgroup is not visible in this mount (another
		// cgroup namespace): its root is the closest there is.
		parent = mount
	}
	base := filepath.Join(parent, cgroupDirName)
	if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("cgroup v1: %w", err)
	}
	if _, err := os.Stat(filepath.Join(base, "memory.limit_in_bytes")); err != nil {
		return "", fmt.Errorf("cgroup v1: %w", err)
	}
	return base, nil
}

// ownCgroup is the server's cgroup path in the hierarchy of controller
// ("" is cgroup v2's), "/" when /proc/self/cgroup does not say.
func ownCgroup(controller string) string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "/"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if controller == "" && id == "0" && ctrls == "" ||
			controller != "" && slices.Contains(strings.Split(ctrls, ","), controller) {
			return path
		}
	}
	return "/"
}

// removeStale removes the instance cgroups of servers no longer running
// (killed before they could), killing what still runs in them.
func (mc *memoryControl) removeStale() {
	entries, err := os.ReadDir(mc.base)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		owner, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(owner)
		if !ok || err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		g := &memGroup{version: mc.version, dir: filepath.Join(mc.base, e.Name())}
		if err := g.remove(); err != nil {
			mc.log.Warn("removing the cgroup of a function instance of a server that stopped", "cgroup", g.dir, "err", err)
		} else {
			mc.log.Info("removed the cgroup of a function instance of a server that stopped", "cgroup", g.dir)
		}
	}
}

// makeBase makes cgroupDirName again.
func (mc *memoryControl) makeBase() error {
	if err := os.Mkdir(mc.base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if mc.version == 2 {
		return enableMemory(mc.base)
	}
	return nil
}

// enforced reports whether instances get memory limits.
func (mc *memoryControl) enforced() bool { return mc.version != 0 }

// close removes cgroupDirName when no other server in it uses it.
func (mc *memoryControl) close() {
	if mc.version != 0 {
		syscall.Rmdir(mc.base)
	}
}

// memGroup is one instance's memory cgroup.
type memGroup struct {
	version int
	dir     string
	// peakFile is cgroup v2's memory.peak, kept open: a reset written to
	// it applies to what is read from it.
	peakFile *os.File
}

// newGroup makes a cgroup limited to limitMiB; nil without cgroups.
func (mc *memoryControl) newGroup(limitMiB int32) (*memGroup, error) {
	if mc.version == 0 {
		return nil, nil
	}
	g := &memGroup{version: mc.version,
		dir: filepath.Join(mc.base, fmt.Sprintf("%d-%d", os.Getpid(), mc.seq.Add(1)))}
	err := os.Mkdir(g.dir, 0o755)
	// Another server sharing cgroupDirName may have just removed it,
	// empty, as it stopped: it is made again.
	for try := 0; errors.Is(err, fs.ErrNotExist) && try < 3; try++ {
		if err = mc.makeBase(); err == nil {
			err = os.Mkdir(g.dir, 0o755)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lambda: creating the instance's memory cgroup: %w", err)
	}
	limit := []byte(strconv.FormatInt(int64(limitMiB)*mib, 10))
	if g.version == 2 {
		err = g.write("memory.max", limit)
		// No swap, as on Lambda, and the whole instance goes when the
		// OOM killer picks one of its processes. Either may be missing.
		g.write("memory.swap.max", []byte("0"))
		g.write("memory.oom.group", []byte("1"))
	} else {
		err = g.write("memory.limit_in_bytes", limit)
		g.write("memory.memsw.limit_in_bytes", limit)
	}
	if err != nil {
		syscall.Rmdir(g.dir)
		return nil, fmt.Errorf("lambda: setting the instance's memory limit: %w", err)
	}
	return g, nil
}

func (g *memGroup) write(file string, data []byte) error {
	return os.WriteFile(filepath.Join(g.dir, file), data, 0)
}

// prepare makes a process started with attr begin in the cgroup (cgroup
// v2: clone into it); the returned function is called once it started.
func (g *memGroup) prepare(attr *syscall.SysProcAttr) (started func(pid int) error, err error) {
	if g.version == 2 {
		fd, err := syscall.Open(g.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("lambda: opening the instance's memory cgroup: %w", err)
		}
		attr.UseCgroupFD, attr.CgroupFD = true, fd
		return func(int) error { return syscall.Close(fd) }, nil
	}
	// cgroup v1 has no clone into a cgroup: the process moves in as soon
	// as it started (what it allocated before is not counted).
	return func(pid int) error {
		if pid < 0 {
			return nil
		}
		if err := g.write("cgroup.procs", []byte(strconv.Itoa(pid))); err != nil {
			return fmt.Errorf("lambda: moving the instance into its memory cgroup: %w", err)
		}
		return nil
	}, nil
}

// resetPeak starts the measure of the peak over.
func (g *memGroup) resetPeak() {
	if g.version == 1 {
		g.write("memory.max_usage_in_bytes", []byte("0"))
		return
	}
	if g.peakFile == nil {
		f, err := os.OpenFile(filepath.Join(g.dir, "memory.peak"), os.O_RDWR, 0)
		if err != nil {
			return
		}
		g.peakFile = f
	}
	// Linux 6.12 and later; before, the peak is the instance's since
	// its start.
	g.peakFile.Write([]byte("reset\n"))
}

// peak is the cgroup's peak memory in bytes since resetPeak, -1 when
// unknown.
func (g *memGroup) peak() int64 {
	var data []byte
	if g.version == 1 {
		data, _ = os.ReadFile(filepath.Join(g.dir, "memory.max_usage_in_bytes"))
	} else if g.peakFile != nil {
		buf := make([]byte, 32)
		n, _ := g.peakFile.ReadAt(buf, 0)
		data = buf[:n]
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// remove kills whatever still runs in the cgroup and removes it.
func (g *memGroup) remove() error {
	if g.peakFile != nil {
		g.peakFile.Close()
		g.peakFile = nil
	}
	var err error
	for range 200 {
		if g.version == 2 {
			g.write("cgroup.kill", []byte("1"))
		}
		if procs, rerr := os.ReadFile(filepath.Join(g.dir, "cgroup.procs")); rerr == nil {
			for p := range strings.FieldsSeq(string(procs)) {
				if pid, perr := strconv.Atoi(p); perr == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		err = syscall.Rmdir(g.dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		// Killed processes leave the cgroup as they finish exiting.
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("removing %s: %w", g.dir, err)
}

// procGroup is the instance's processes: the one started (pgid) and its
// descendants still in its process group, found through the kernel's
// children lists, which spares reading every process's stat at each
// invocation; without them (a kernel built without), every process's.
func procGroup(pgid int) []int {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", pgid, pgid)); err != nil {
		return procGroupScan(pgid)
	}
	pids := []int{pgid}
	seen := map[int]bool{pgid: true}
	for i := 0; i < len(pids); i++ {
		tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pids[i]) + "/task")
		for _, task := range tasks {
			children, err := os.ReadFile("/proc/" + strconv.Itoa(pids[i]) + "/task/" + task.Name() + "/children")
			if err != nil {
				continue
			}
			for c := range strings.FieldsSeq(string(children)) {
				if pid, err := strconv.Atoi(c); err == nil && !seen[pid] && procPgrp(pid) == pgid {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
		}
	}
	return pids
}

// procPgrp is pid's process group, -1 when unknown.
func procPgrp(pid int) int {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// pid (comm) state ppid pgrp ...: comm may hold anything, so the
	// fields are counted from its closing parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 3 {
		return -1
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return -1
	}
	return n
}

// procGroupScan finds process group pgid's processes among all.
func procGroupScan(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && (pid == pgid || procPgrp(pid) == pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procResetPeak resets the peak resident set size (VmHWM) of process
// group pgid's processes, where the kernel allows it.
func procResetPeak(pgid int) {
	for _, pid := range procGroup(pgid) {
		os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
	}
}

// procPeak is the sum of the peak resident set sizes of process group
// pgid's processes in bytes (at least the group's peak), -1 when none
// can be read.
func procPeak(pgid int) int64 {
	var total int64 = -1
	for _, pid := range procGroup(pgid) {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
			if !ok {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				total = max(total, 0) + kb<<10
			}
			break
		}
		f.Close()
	}
	return total
}

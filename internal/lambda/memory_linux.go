package lambda

import (
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
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

	// mu guards peakFD, which a stop may close while an invocation ends.
	mu sync.Mutex
	// peakFD is the file the peak is read from (v1
	// memory.max_usage_in_bytes, v2 memory.peak), opened at first use
	// and kept open so that each invocation's reset and read are
	// one pwrite and one pread. cgroup v2 needs it kept open anyway: a
	// reset written to memory.peak applies to what is read through the
	// same open file.
	peakFD   int
	peakOpen bool
	removed  bool
	buf      [24]byte
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
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.openPeak() {
		return
	}
	if g.version == 1 {
		pwriteString(g.peakFD, "0")
		return
	}
	// Linux 6.12 and later; before, the peak is the instance's since
	// its start.
	pwriteString(g.peakFD, "reset\n")
}

// openPeak opens peakFD if it is not open, and says whether it is; under
// mu.
func (g *memGroup) openPeak() bool {
	if g.peakOpen || g.removed {
		return g.peakOpen
	}
	name := "memory.peak"
	if g.version == 1 {
		name = "memory.max_usage_in_bytes"
	}
	path := filepath.Join(g.dir, name)
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		// Read only, where the peak cannot be reset.
		if fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
			return false
		}
	}
	g.peakFD, g.peakOpen = fd, true
	return true
}

// pwriteString writes s at the start of fd, without a copy of s.
func pwriteString(fd int, s string) {
	syscall.Pwrite(fd, unsafe.Slice(unsafe.StringData(s), len(s)), 0)
}

// peak is the cgroup's peak memory in bytes since resetPeak, -1 when
// unknown.
func (g *memGroup) peak() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.openPeak() {
		return -1
	}
	n, err := syscall.Pread(g.peakFD, g.buf[:], 0)
	if err != nil {
		return -1
	}
	return parseDecimal(g.buf[:n])
}

// parseDecimal is the unsigned decimal number that data holds, with
// surrounding white space, -1 when it holds none.
func parseDecimal(data []byte) int64 {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || len(data) > 18 {
		return -1
	}
	var n int64
	for _, c := range data {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// remove kills whatever still runs in the cgroup and removes it.
func (g *memGroup) remove() error {
	g.mu.Lock()
	if g.peakOpen {
		syscall.Close(g.peakFD)
		g.peakOpen = false
	}
	g.removed = true
	g.mu.Unlock()
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
	var t procTree
	defer t.close()
	return slices.Clone(t.walk(pgid))
}

// procPeak is the sum of the peak resident set sizes of process group
// pgid's processes in bytes (at least the group's peak), -1 when none
// can be read.
func procPeak(pgid int) int64 {
	var t procTree
	defer t.close()
	return t.peak(pgid)
}

// procTree is an instance's processes (see procGroup) with the /proc
// files its memory accounting reads kept open, so that an invocation's
// reset and peak are a read per thread and process rather than an
// open, read and close each, twice. It is walked again at each reset
// and peak: processes forked since count, those gone are dropped.
type procTree struct {
	mu     sync.Mutex
	closed bool
	scan   bool // no children lists: every process in /proc is read
	gen    int  // the walk's, marking the files still in use
	procs  map[int]*procFiles
	pids   []int // the last walk's
	r      procReader
}

// procFiles are one process's /proc files kept open.
type procFiles struct {
	task, stat        int // its task directory and stat
	status, clearRefs int // -1 until first used
	children          map[int]*procFile
	gen               int
}

// procFile is a thread's children list kept open.
type procFile struct {
	fd, gen int
}

func (pf *procFiles) close() {
	syscall.Close(pf.task)
	syscall.Close(pf.stat)
	if pf.status >= 0 {
		syscall.Close(pf.status)
	}
	if pf.clearRefs >= 0 {
		syscall.Close(pf.clearRefs)
	}
	for _, c := range pf.children {
		syscall.Close(c.fd)
	}
}

// resetPeak resets the peak resident set size (VmHWM) of process group
// pgid's processes, where the kernel allows it.
func (t *procTree) resetPeak(pgid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for _, pid := range t.walk(pgid) {
		pf := t.procs[pid]
		if pf.clearRefs < 0 {
			fd, err := syscall.Open(t.r.pathOf(pid, "/clear_refs", nil, ""), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			pf.clearRefs = fd
		}
		pwriteString(pf.clearRefs, "5")
	}
}

// peak is the sum of the peak resident set sizes of process group
// pgid's processes in bytes (at least the group's peak), -1 when none
// can be read.
func (t *procTree) peak(pgid int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var total int64 = -1
	if t.closed {
		return total
	}
	for _, pid := range t.walk(pgid) {
		pf := t.procs[pid]
		if pf.status < 0 {
			fd, err := syscall.Open(t.r.pathOf(pid, "/status", nil, ""), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			pf.status = fd
		}
		status, ok := t.r.pread(pf.status)
		if !ok {
			continue
		}
		_, v, ok := bytes.Cut(status, []byte("\nVmHWM:"))
		if !ok {
			continue
		}
		v, _, _ = bytes.Cut(v, []byte("\n"))
		if kb := parseDecimal(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))); kb >= 0 {
			total = max(total, 0) + kb<<10
		}
	}
	return total
}

// close closes the files, once the instance has exited.
func (t *procTree) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, pf := range t.procs {
		pf.close()
	}
	t.procs, t.closed = nil, true
}

// walk finds process group pgid's processes, with their files open in
// t.procs, and closes those of processes and threads no longer there.
func (t *procTree) walk(pgid int) []int {
	if t.procs == nil {
		t.procs = map[int]*procFiles{}
	}
	t.gen++
	t.pids = t.pids[:0]
	if t.scan {
		for _, pid := range procGroupScan(pgid) {
			t.visit(pid, -1)
		}
	} else if t.visit(pgid, -1) {
		for i := 0; i < len(t.pids); i++ {
			if !t.walkChildren(pgid, i) {
				// No children lists in this kernel.
				t.scan = true
				return t.walk(pgid)
			}
		}
	}
	for pid, pf := range t.procs {
		if pf.gen != t.gen {
			pf.close()
			delete(t.procs, pid)
		}
	}
	return t.pids
}

// visit adds pid to t.pids if it runs and, unless pgid is -1, is in
// process group pgid.
func (t *procTree) visit(pid, pgid int) bool {
	pf := t.procs[pid]
	stat, ok := []byte(nil), false
	if pf != nil {
		if stat, ok = t.r.pread(pf.stat); !ok {
			// Gone, and the pid maybe someone else's now.
			pf.close()
			delete(t.procs, pid)
			pf = nil
		}
	}
	if pf == nil {
		if pf = t.open(pid); pf == nil {
			return false
		}
		t.procs[pid] = pf
		if stat, ok = t.r.pread(pf.stat); !ok {
			return false
		}
	}
	if pgid >= 0 && statPgrp(stat) != pgid {
		return false
	}
	pf.gen = t.gen
	t.pids = append(t.pids, pid)
	return true
}

// open opens pid's task directory and stat.
func (t *procTree) open(pid int) *procFiles {
	task, err := syscall.Open(t.r.pathOf(pid, "/task", nil, ""), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	stat, err := syscall.Open(t.r.pathOf(pid, "/stat", nil, ""), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		syscall.Close(task)
		return nil
	}
	return &procFiles{task: task, stat: stat, status: -1, clearRefs: -1, children: map[int]*procFile{}}
}

// walkChildren visits the children of t.pids[i]'s threads; false when
// the kernel has no children lists.
func (t *procTree) walkChildren(pgid, i int) bool {
	pid := t.pids[i]
	pf := t.procs[pid]
	r := &t.r
	r.tids = r.tids[:0]
	if _, err := syscall.Seek(pf.task, 0, 0); err != nil {
		return true
	}
	for {
		n, err := syscall.ReadDirent(pf.task, r.dir)
		if err != nil || n <= 0 {
			break
		}
		// linux_dirent64: inode (8), offset (8), record length (2),
		// type (1), name NUL-terminated.
		for off := 0; off+19 <= n; {
			reclen := int(r.dir[off+16]) | int(r.dir[off+17])<<8
			name := r.dir[off+19 : off+reclen]
			if tid := parseDecimal(name[:bytes.IndexByte(name, 0)]); tid > 0 {
				r.tids = append(r.tids, int(tid))
			}
			off += reclen
		}
	}
	for _, tid := range r.tids {
		c := pf.children[tid]
		children, ok := []byte(nil), false
		if c != nil {
			if children, ok = r.pread(c.fd); !ok {
				// Gone, and the thread id maybe another's now.
				syscall.Close(c.fd)
				delete(pf.children, tid)
				c = nil
			}
		}
		if c == nil {
			fd, err := syscall.Open(r.pathOf(pid, "/task/", strconv.AppendInt(nil, int64(tid), 10), "/children"), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				if i == 0 && tid == pid && errors.Is(err, syscall.ENOENT) {
					return false
				}
				continue
			}
			c = &procFile{fd: fd}
			pf.children[tid] = c
			if children, ok = r.pread(c.fd); !ok {
				continue
			}
		}
		c.gen = t.gen
		// Kept apart from r.buf, which visiting them reuses.
		r.children = append(r.children[:0], children...)
		for f := range bytes.FieldsSeq(r.children) {
			if child := int(parseDecimal(f)); child > 0 && !slices.Contains(t.pids, child) {
				t.visit(child, pgid)
			}
		}
	}
	for tid, c := range pf.children {
		if c.gen != t.gen {
			syscall.Close(c.fd)
			delete(pf.children, tid)
		}
	}
	return true
}

// procReader reads /proc with plain system calls into buffers it keeps,
// which spares each invocation's accounting allocating them, and the
// files the runtime's poller.
type procReader struct {
	buf      []byte
	dir      []byte
	path     []byte
	tids     []int
	children []byte
}

var procReaders = sync.Pool{New: func() any { return new(procReader) }}

// pathOf is /proc/<pid><rest><tid><rest2> in r.path.
func (r *procReader) pathOf(pid int, rest string, tid []byte, rest2 string) string {
	r.path = append(r.path[:0], "/proc/"...)
	r.path = strconv.AppendInt(r.path, int64(pid), 10)
	r.path = append(r.path, rest...)
	r.path = append(r.path, tid...)
	r.path = append(r.path, rest2...)
	return unsafe.String(unsafe.SliceData(r.path), len(r.path))
}

// pread reads fd from its start into r.buf (its first 8 KiB).
func (r *procReader) pread(fd int) ([]byte, bool) {
	if r.buf == nil {
		r.buf, r.dir = make([]byte, 8192), make([]byte, 4096)
	}
	n := 0
	for n < len(r.buf) {
		m, err := syscall.Pread(fd, r.buf[n:], int64(n))
		if err != nil {
			return nil, false
		}
		n += m
		if n < len(r.buf) {
			// A short read: /proc files are read whole.
			break
		}
	}
	return r.buf[:n], true
}

// read reads the file at path into r.buf (its first 8 KiB).
func (r *procReader) read(path string) ([]byte, bool) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(fd)
	return r.pread(fd)
}

// procPgrp is pid's process group, -1 when unknown.
func procPgrp(pid int) int {
	r := procReaders.Get().(*procReader)
	defer procReaders.Put(r)
	stat, ok := r.read(r.pathOf(pid, "/stat", nil, ""))
	if !ok {
		return -1
	}
	return statPgrp(stat)
}

// statPgrp is the process group in a /proc/<pid>/stat, -1 when unknown.
func statPgrp(stat []byte) int {
	// pid (comm) state ppid pgrp ...: comm may hold anything, so the
	// fields are counted from its closing parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := 0
	for field := range bytes.FieldsSeq(stat[i+1:]) {
		if f == 2 {
			return int(parseDecimal(field))
		}
		f++
	}
	return -1
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

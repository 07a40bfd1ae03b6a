package lambda

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// The memory settings: whether instances get a memory limit of their
// function's MemorySize.
const (
	// MemoryLimitsAuto limits instances when the machine allows memory
	// cgroups to be created, and logs once that limits are not enforced
	// when it does not.
	MemoryLimitsAuto = "auto"
	// MemoryLimitsOn limits every instance; the service does not start
	// when it cannot.
	MemoryLimitsOn = "on"
	// MemoryLimitsOff never limits instances; their peak memory is still
	// measured (from /proc).
	MemoryLimitsOff = "off"
)

// mib is a MiB, the unit of MemorySize and of REPORT's figures.
const mib = 1 << 20

// writeReport writes an invocation's REPORT line in Lambda's shape.
// peak is the instance's peak memory in bytes during the invocation; a
// negative peak is unknown (an HTTP endpoint's or a remote function's,
// or a process gone before it could be read), and the line then has no
// Max Memory Used rather than a made-up figure.
func writeReport(w io.Writer, id string, ms float64, memorySize int32, peak int64) {
	fmt.Fprintf(w, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t", id, ms, int64(ms)+1, memorySize)
	if peak >= 0 {
		// Lambda rounds up: a process that used anything used 1 MB.
		fmt.Fprintf(w, "Max Memory Used: %d MB\t", (peak+mib-1)/mib)
	}
	io.WriteString(w, "\n")
}

// resetPeak starts the measure of the instance's peak memory over, at an
// invocation's start.
func (inst *instance) resetPeak() {
	if inst.mem != nil {
		inst.mem.resetPeak()
		return
	}
	inst.procs.resetPeak(inst.cmd.Process.Pid)
}

// peakMemory is the instance's peak memory in bytes since resetPeak, -1
// when unknown. Without a cgroup it is the peak resident set of its
// processes, which /proc no longer has once they exited.
func (inst *instance) peakMemory() int64 {
	if inst.mem != nil {
		// The kernel charges pages in batches, so the peak of a cgroup
		// that reached its limit can be a few pages over it.
		return min(inst.mem.peak(), inst.memLimit)
	}
	if inst.dead() {
		return -1
	}
	return inst.procs.peak(inst.cmd.Process.Pid)
}

// limitMemory gives the instance a memory cgroup limited to f's
// MemorySize when limits are enforced, and sets attr so that its process
// starts there. started is called with the process once it started (nil:
// it did not).
func (inst *instance) limitMemory(f *function, attr *syscall.SysProcAttr) (started func(*os.Process) error, err error) {
	g, err := inst.r.mem.newGroup(f.MemorySize)
	if err != nil || g == nil {
		return func(*os.Process) error { return nil }, err
	}
	inst.mem, inst.memLimit = g, int64(f.MemorySize)*mib
	moved, err := g.prepare(attr)
	if err != nil {
		inst.removeCgroup()
		return nil, err
	}
	return func(p *os.Process) error {
		pid := -1
		if p != nil {
			pid = p.Pid
		}
		return moved(pid)
	}, nil
}

// removeCgroup removes the instance's memory cgroup, once its process
// has exited.
func (inst *instance) removeCgroup() {
	if inst.mem == nil {
		return
	}
	if err := inst.mem.remove(); err != nil {
		inst.r.log.Warn("removing an instance's memory cgroup", "function", inst.function, "err", err)
	}
}

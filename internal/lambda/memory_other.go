//go:build !linux

package lambda

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
)

var errNoCgroups = errors.New("memory cgroups exist only on Linux")

// memoryControl has nothing to control outside Linux: instances run
// without memory limits and their peak memory is unknown.
type memoryControl struct{}

func newMemoryControl(mode string, log *slog.Logger) (*memoryControl, error) {
	switch mode {
	case MemoryLimitsOn:
		return nil, fmt.Errorf("lambda: lambda-memory-limits is on, but %w", errNoCgroups)
	case MemoryLimitsAuto:
		log.Warn("Lambda functions' MemorySize is not enforced: memory cgroups cannot be created here (lambda-memory-limits auto)", "reason", errNoCgroups.Error())
	}
	return &memoryControl{}, nil
}

// MemoryLimitsSupported says whether this machine lets the server limit
// the memory of function instances: never outside Linux.
func MemoryLimitsSupported() error { return errNoCgroups }

func (mc *memoryControl) enforced() bool { return false }
func (mc *memoryControl) close()         {}

func (mc *memoryControl) newGroup(int32) (*memGroup, error) { return nil, nil }

// memGroup is never made outside Linux.
type memGroup struct{}

func (g *memGroup) prepare(*syscall.SysProcAttr) (func(int) error, error) {
	return func(int) error { return nil }, nil
}
func (g *memGroup) resetPeak()    {}
func (g *memGroup) peak() int64   { return -1 }
func (g *memGroup) remove() error { return nil }

// procTree has no /proc to read outside Linux.
type procTree struct{}

func (t *procTree) resetPeak(int)  {}
func (t *procTree) peak(int) int64 { return -1 }
func (t *procTree) close()         {}

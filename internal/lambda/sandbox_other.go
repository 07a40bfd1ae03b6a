//go:build !linux

package lambda

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
)

var errNoSandbox = errors.New("instances are sandboxed only on Linux (user and mount namespaces)")

// sandbox isolates nothing outside Linux: instances run as the server's
// user with its view of the filesystem.
type sandbox struct{}

func newSandbox(mode, _ string, _ []string, log *slog.Logger) (*sandbox, error) {
	switch mode {
	case SandboxOn:
		return nil, fmt.Errorf("lambda: lambda-sandbox is on, but %w", errNoSandbox)
	case SandboxAuto:
		log.Warn("Lambda function instances are not sandboxed: they run as the server's user and can read its data directory (lambda-sandbox auto)", "reason", errNoSandbox.Error())
	}
	return &sandbox{}, nil
}

// SandboxSupported says whether this machine lets the server sandbox
// function instances: never outside Linux.
func SandboxSupported() error { return errNoSandbox }

func (sb *sandbox) instanceID() int       { return -1 }
func (sb *sandbox) own(string, int) error { return nil }

// command is bootstrap itself, run in the code directory dir.
func (sb *sandbox) command(dir, bootstrap string, _ int32, _ int, _ *syscall.SysProcAttr) *exec.Cmd {
	cmd := exec.Command(bootstrap)
	cmd.Dir = dir
	return cmd
}

package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/millrace/millrace/internal/config"
)

// listenError explains a failed bind and what to do about it.
func listenError(setting, addr string, err error) error {
	flag, env := "--"+setting, config.EnvPrefix+strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s: the address is already in use (another millrace or other server?); stop it or choose another address with %s or %s: %w", addr, flag, env, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen on %s: permission denied (ports below 1024 need privileges); choose another port with %s: %w", addr, flag, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen on %s: no network interface has this address; use 127.0.0.1 or 0.0.0.0 with %s: %w", addr, flag, err)
	}
	return fmt.Errorf("listen on %s: %w; check %s", addr, err, flag)
}

// prepareDataDir creates the data directory if needed and checks that it is
// a writable directory, so that the common mistakes get a plain message
// instead of one from deep inside the storage engine.
func prepareDataDir(dir string) error {
	hint := "choose another directory with --data-dir or MILLRACE_DATA_DIR, or run with --in-memory"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("data directory %s: a path component is a file, not a directory; %s: %w", dir, hint, err)
		}
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("data directory %s cannot be created (permission denied or read-only filesystem); fix its permissions or %s: %w", dir, hint, err)
		}
		return fmt.Errorf("data directory %s cannot be created; %s: %w", dir, hint, err)
	}
	probe, err := os.CreateTemp(dir, ".millrace-write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable; fix its permissions or %s: %w", dir, hint, err)
	}
	name := probe.Name()
	probe.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("data directory %s: removing %s: %w", dir, filepath.Base(name), err)
	}
	return nil
}

// openError explains a failure to open the storage engine. Pebble locks
// its directory; a second process on the same directory fails to take the
// lock.
func openError(dir string, err error) error {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process") {
		return fmt.Errorf("data directory %s is in use by another millrace process (its LOCK file is held); stop that process or choose another directory with --data-dir: %w", dir, err)
	}
	return fmt.Errorf("opening storage in %s: %w", dir, err)
}

// Package pgtest finds the PostgreSQL server that tests of the Redshift
// (PostgreSQL) destination load into: the one MILLRACE_TEST_POSTGRES_URL
// names, else a throwaway cluster started from Debian's PostgreSQL
// binaries on loopback and stopped by Stop.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// EnvURL names a PostgreSQL server to use instead of starting one.
const EnvURL = "MILLRACE_TEST_POSTGRES_URL"

var (
	once     sync.Once
	url      string
	noServer string
	stopFn   = func() {}
)

// URL returns the server's URL (postgres://postgres@127.0.0.1:PORT/postgres),
// starting a cluster on first use. Without one the test is skipped,
// saying how to get one; under CI=true it fails.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		u, stop, err := start()
		if err != nil {
			noServer = err.Error()
			return
		}
		url, stopFn = u, stop
	})
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL under CI: %s", noServer)
		}
		t.Skipf("no PostgreSQL: %s", noServer)
	}
	return url
}

// Stop stops the cluster URL started, if any; call it from TestMain
// after m.Run.
func Stop() { stopFn() }

const howToStart = "install it (apt-get install postgresql) so the tests start a throwaway cluster, or set " + EnvURL + "=postgres://user@127.0.0.1:5432/db?sslmode=disable"

// start starts a throwaway cluster on loopback: initdb, then pg_ctl
// start with fsync off, as postgres when running as root (initdb and
// postgres refuse root).
func start() (url string, stop func(), err error) {
	stop = func() {}
	if u := os.Getenv(EnvURL); u != "" {
		return u, stop, nil
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return "", stop, fmt.Errorf("initdb not found under /usr/lib/postgresql: %s", howToStart)
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	bin := filepath.Dir(bins[len(bins)-1])

	// As root the cluster runs as postgres, which must reach the data
	// directory: /tmp rather than a $TMPDIR that may sit under /root.
	parent := ""
	if os.Geteuid() == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "millrace-pg-")
	if err != nil {
		return "", stop, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		os.RemoveAll(dir)
		return "", stop, err
	}
	var prefix []string
	if os.Geteuid() == 0 {
		pgUser, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", stop, fmt.Errorf("running as root and there is no postgres user: %s", howToStart)
		}
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		// The data directory's parents must be traversable by postgres.
		if err := os.Chmod(dir, 0o755); err != nil {
			os.RemoveAll(dir)
			return "", stop, err
		}
		if err := os.Chown(data, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", stop, err
		}
		prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		args = append(append([]string{}, prefix...), args...)
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		os.RemoveAll(dir)
		return "", stop, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", stop, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, data)
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(data, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		os.RemoveAll(dir)
		return "", stop, err
	}
	url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return url, func() {
		if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.RemoveAll(dir)
	}, nil
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

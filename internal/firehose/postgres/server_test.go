package postgres

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// testURL is the database the tests load into: MILLRACE_TEST_POSTGRES_URL
// if set, else a throwaway cluster TestMain starts from Debian's
// PostgreSQL binaries. noServer says why there is none.
var testURL, noServer string

func TestMain(m *testing.M) {
	flag.Parse()
	// A fuzzing worker process runs only the fuzz function, which needs
	// no database; the coordinator starts one for the tests.
	if w := flag.Lookup("test.fuzzworker"); w != nil && w.Value.String() == "true" {
		noServer = "not started in a fuzzing worker"
		os.Exit(m.Run())
	}
	stop, err := startServer()
	if err != nil {
		noServer = err.Error()
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// needServer skips a test without a database, or fails it under CI.
func needServer(t *testing.T) string {
	t.Helper()
	if testURL == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL under CI: %s", noServer)
		}
		t.Skipf("no PostgreSQL: %s", noServer)
	}
	return testURL
}

const howToStart = "install it (apt-get install postgresql) so the tests start a throwaway cluster, or set MILLRACE_TEST_POSTGRES_URL=postgres://user@127.0.0.1:5432/db?sslmode=disable"

// startServer starts a throwaway cluster on loopback: initdb, then pg_ctl
// start with fsync off, as postgres when running as root (initdb and
// postgres refuse root).
func startServer() (stop func(), err error) {
	stop = func() {}
	if u := os.Getenv("MILLRACE_TEST_POSTGRES_URL"); u != "" {
		testURL = u
		return stop, nil
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return stop, fmt.Errorf("initdb not found under /usr/lib/postgresql: %s", howToStart)
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
		return stop, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		os.RemoveAll(dir)
		return stop, err
	}
	var prefix []string
	if os.Geteuid() == 0 {
		pgUser, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return stop, fmt.Errorf("running as root and there is no postgres user: %s", howToStart)
		}
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		// The data directory's parents must be traversable by postgres.
		if err := os.Chmod(dir, 0o755); err != nil {
			os.RemoveAll(dir)
			return stop, err
		}
		if err := os.Chown(data, uid, gid); err != nil {
			os.RemoveAll(dir)
			return stop, err
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
		return stop, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return stop, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, data)
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(data, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		os.RemoveAll(dir)
		return stop, err
	}
	testURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return func() {
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

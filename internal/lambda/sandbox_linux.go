package lambda

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sandbox is made with the kernel's own mechanisms, no tool: each
// instance starts in a user namespace and a mount namespace of its own,
// as this very executable (/proc/self/exe) run under the name
// sandboxArg0. That process (init below, before main) holds
// CAP_SYS_ADMIN in its user namespace only, as an ambient capability
// given at clone; it mounts the instance's view of the filesystem, drops
// the capability and execs the bootstrap, which starts with none.
//
// Mounts cannot be made between clone and exec by os/exec itself, and a
// Go program cannot unshare a user namespace (it is multi-threaded):
// hence the second executable image.

// sandboxArg0 is argv[0] of the process that sets an instance's sandbox
// up: sandboxArg0 <tmp MiB> <code dir> <bootstrap, "" to check only>
// <hidden dir>...
const sandboxArg0 = "millrace-lambda-sandbox"

// When the server runs as root, each instance runs as a user (and group)
// of its own, owner of nothing on the machine but its code: one of
// instanceIDs ids from firstInstanceID, a range no distribution or
// systemd hands out (systemd's "unused" 0x70000000–0x7FFFFFFF). Separate
// users keep instances from signalling each other; their separate user
// namespaces already keep them out of each other's /proc/<pid>/root and
// from tracing each other.
const (
	firstInstanceID = 0x70000000
	instanceIDs     = 1 << 16
)

// sandbox isolates instances as Lambda's execution environments are
// (docs/lambda.md, "Sandbox"); disabled, instances run as the server's
// user with its view of the filesystem.
type sandbox struct {
	enabled bool
	// uid and gid are the ids instances run as, outside and inside their
	// user namespace, unless perInstance: then each has ids of its own.
	uid, gid    int
	perInstance bool
	next        atomic.Uint32
	hidden      []string // absolute directories instances must not see
	tempDir     string   // where code directories are made ("": os.TempDir())
}

// newSandbox sets the sandbox up as mode (Sandbox*) says: hidden are
// directories instances must not read (the server's data directory),
// tempDir is where their code directories are made.
func newSandbox(mode, tempDir string, hidden []string, log *slog.Logger) (*sandbox, error) {
	if mode == SandboxOff {
		return &sandbox{}, nil
	}
	sb, err := sandboxFor(tempDir, hidden, log)
	if err == nil {
		err = sb.probe()
	}
	if err != nil {
		if mode == SandboxOn {
			return nil, fmt.Errorf("lambda: lambda-sandbox is on, but %w", err)
		}
		log.Warn("Lambda function instances are not sandboxed: they run as the server's user and can read its data directory (lambda-sandbox auto)", "reason", err.Error())
		return &sandbox{}, nil
	}
	sb.enabled = true
	return sb, nil
}

// sandboxFor is the sandbox of a server running as this process's user.
func sandboxFor(tempDir string, hidden []string, log *slog.Logger) (*sandbox, error) {
	sb := &sandbox{uid: os.Getuid(), gid: os.Getgid(), tempDir: tempDir, perInstance: os.Getuid() == 0}
	// Servers sharing the machine start at different ids.
	var seed [4]byte
	rand.Read(seed[:])
	sb.next.Store(binary.LittleEndian.Uint32(seed[:]))
	for _, dir := range hidden {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("the directory to hide from instances %s: %w", dir, err)
		}
		if within(abs, "/tmp") {
			// A directory that holds /tmp cannot be hidden without
			// hiding the instance's /tmp with it.
			log.Warn("Lambda function instances can see this directory: it holds /tmp", "dir", abs)
			continue
		}
		sb.hidden = append(sb.hidden, abs)
	}
	return sb, nil
}

// SandboxSupported says whether this machine lets the server sandbox
// function instances (lambda-sandbox on would start), and if not, why.
func SandboxSupported() error {
	sb, err := sandboxFor("", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	return sb.probe()
}

// probe sets a sandbox up around an empty code directory and checks
// that the code is read-only there.
func (sb *sandbox) probe() error {
	dir, err := os.MkdirTemp(sb.tempDir, "millrace-lambda-probe-")
	if err != nil {
		return fmt.Errorf("creating a code directory: %w", err)
	}
	defer os.RemoveAll(dir)
	id := sb.instanceID()
	if err := sb.own(dir, id); err != nil {
		return err
	}
	attr := &syscall.SysProcAttr{}
	cmd := sb.command(dir, "", defaultEphemeralMiB, id, attr)
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = "user and mount namespaces cannot be created (unprivileged user namespaces may be disabled: kernel.unprivileged_userns_clone, user.max_user_namespaces, or an AppArmor restriction)"
		}
		return fmt.Errorf("the kernel refused an instance's sandbox: %v: %s", err, msg)
	}
	return nil
}

// instanceID is the user and group id of a new instance: its own when
// the server runs as root, else the server's user.
func (sb *sandbox) instanceID() int {
	if !sb.perInstance {
		return sb.uid
	}
	return firstInstanceID + int(sb.next.Add(1)%instanceIDs)
}

// ids are the user and group ids of the instance of instanceID id.
func (sb *sandbox) ids(id int) (uid, gid int) {
	if sb.perInstance {
		return id, id
	}
	return sb.uid, sb.gid
}

// own makes the instance's user (instanceID id) the owner of the code
// directory dir (the server, as root, unpacked it as its own), so that
// the instance can read its code as on Lambda whatever the zip's
// permission bits.
func (sb *sandbox) own(dir string, id int) error {
	if !sb.perInstance {
		// The server's own user, or no sandbox.
		return nil
	}
	uid, gid := sb.ids(id)
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("lambda: giving the code to the instance's user: %w", err)
		}
		return nil
	})
}

// command is the process of an instance that runs bootstrap from the
// code directory dir with a /tmp of tmpMiB as instanceID id, with attr
// set to start it in its sandbox; without a sandbox, bootstrap itself.
func (sb *sandbox) command(dir, bootstrap string, tmpMiB int32, id int, attr *syscall.SysProcAttr) *exec.Cmd {
	if !sb.enabled && bootstrap != "" {
		cmd := exec.Command(bootstrap)
		cmd.Dir = dir
		return cmd
	}
	args := append([]string{sandboxArg0, strconv.Itoa(int(tmpMiB)), dir, bootstrap}, sb.hidden...)
	attr.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	uid, gid := sb.ids(id)
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
	// Kept across the exec of sandboxArg0 (not root in its namespace)
	// for the mounts only.
	attr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN}
	if os.Getuid() == 0 {
		// Out of root, and out of root's supplementary groups.
		attr.GidMappingsEnableSetgroups = true
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	// The working directory is set once the code is mounted read-only:
	// one taken before would still reach the writable original.
	return &exec.Cmd{Path: "/proc/self/exe", Args: args, Dir: "/"}
}

func init() {
	if len(os.Args) < 4 || os.Args[0] != sandboxArg0 {
		return
	}
	// Capabilities are per thread: the one that drops them execs.
	runtime.LockOSThread()
	err := enterSandbox(os.Args[1], os.Args[2], os.Args[3], os.Args[4:])
	fmt.Fprintf(os.Stderr, "millrace: lambda sandbox: %v\n", err)
	os.Exit(126)
}

// enterSandbox mounts the instance's view and execs bootstrap; it returns
// only an error. With bootstrap "" it checks the view and exits.
func enterSandbox(tmpMiB, codeDir, bootstrap string, hidden []string) error {
	// Nothing mounted here reaches the server's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	code, err := os.Open(codeDir)
	if err != nil {
		return fmt.Errorf("opening the code directory: %w", err)
	}
	defer code.Close()
	size, err := strconv.Atoi(tmpMiB)
	if err != nil {
		return fmt.Errorf("/tmp size %q: %w", tmpMiB, err)
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("mode=1777,size=%dm", size)); err != nil {
		return fmt.Errorf("mounting /tmp: %w", err)
	}
	// Empty file systems over the directory that holds every instance's
	// code and over the hidden ones, read-only once the code directory is
	// made again in its place.
	covered := []string{"/tmp"}
	candidates := append([]string{filepath.Dir(codeDir)}, hidden...)
	slices.Sort(candidates)
	for _, dir := range candidates {
		if dir == "/" || slices.ContainsFunc(covered, func(c string) bool { return within(c, dir) }) {
			continue
		}
		err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=64k")
		switch {
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.EACCES):
			// Not there, or out of the instance's reach already.
			continue
		case err != nil:
			return fmt.Errorf("hiding %s: %w", dir, err)
		}
		covered = append(covered, dir)
	}
	if err := os.MkdirAll(codeDir, 0o755); err != nil {
		return fmt.Errorf("making the code directory's mount point: %w", err)
	}
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(int(code.Fd())), codeDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mounting the code directory: %w", err)
	}
	code.Close()
	if err := remountReadOnly(codeDir, unix.MS_BIND); err != nil {
		return fmt.Errorf("making the code directory read-only: %w", err)
	}
	for _, dir := range covered[1:] {
		if err := remountReadOnly(dir, 0); err != nil {
			return fmt.Errorf("making %s read-only: %w", dir, err)
		}
	}
	if err := os.Chdir(codeDir); err != nil {
		return err
	}
	if bootstrap == "" {
		if err := os.WriteFile(filepath.Join(codeDir, ".probe"), nil, 0o644); err == nil {
			return errors.New("the code directory is still writable")
		}
		os.Exit(0)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	// The inheritable set, which held CAP_SYS_ADMIN for the ambient one,
	// goes too, and with it every capability of this thread.
	var none [2]unix.CapUserData
	if err := unix.Capset(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &none[0]); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	// Not root in its user namespace and with no ambient capability, the
	// bootstrap starts with none.
	err = unix.Exec(bootstrap, []string{bootstrap}, os.Environ())
	return fmt.Errorf("fork/exec /var/task/bootstrap: %w", err)
}

// remountReadOnly makes the mount at dir read-only, keeping the flags a
// user namespace may not clear (nosuid, nodev, noexec, atime).
func remountReadOnly(dir string, bind uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_RDONLY | bind)
	for _, f := range [][2]uintptr{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f[0] != 0 {
			flags |= f[1]
		}
	}
	return unix.Mount("", dir, "", flags, "")
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

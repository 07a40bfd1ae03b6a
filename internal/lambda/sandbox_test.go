package lambda_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	lambdasvc "github.com/millrace/millrace/internal/lambda"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
)

// sandboxReport is the test handler's answer to "sandbox".
type sandboxReport struct {
	PID     int `json:"pid"`
	Sandbox struct {
		UID                 int
		TmpBefore, TmpWrite string
		TmpSize             int64
		CodeWrite, DataRead string
		Unmount, PeekRead   string
		Signal              string
	} `json:"sandbox"`
}

// probeSandbox has name's instance report what it can do: marker is its
// file in /tmp, secret a file in the server's data directory; other (if
// not 0) the pid of another instance, whose /tmp marker it tries to read
// and which it checks it may signal.
func probeSandbox(t *testing.T, c *lambda.Client, name, marker, secret string, other int) sandboxReport {
	t.Helper()
	ev := map[string]any{"action": "sandbox", "message": marker, "path": secret}
	if other != 0 {
		ev["peek"] = fmt.Sprintf("/proc/%d/root/tmp/%s", other, marker)
		ev["pid"] = other
	}
	res := invoke(t, c, name, ev)
	if res.FunctionError != nil {
		t.Fatalf("sandbox probe of %s: %s %s", name, aws.ToString(res.FunctionError), res.Payload)
	}
	var r sandboxReport
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (pid %d): %+v", name, r.PID, r.Sandbox)
	return r
}

// sandboxData is a data directory outside /tmp (which a sandbox hides
// anyway, so that what hides the data directory itself would go
// untested), holding a file of the server's: its path. It is made beside
// the package's sources, or in /var/tmp when those are under /tmp.
func sandboxData(t *testing.T) (dir, secret string) {
	t.Helper()
	base, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if base == "/tmp" || strings.HasPrefix(base, "/tmp/") {
		base = "/var/tmp"
	}
	dir, err = os.MkdirTemp(base, ".sandbox-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	secret = filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("server data"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, secret
}

func randomName(t *testing.T) string {
	var b [8]byte
	rand.Read(b[:])
	return "millrace-sandbox-test-" + hex.EncodeToString(b[:])
}

// TestSandbox: a sandboxed instance has a /tmp of its own, of its
// function's EphemeralStorage, which a new instance finds empty; it
// cannot write its code, read the server's data directory or unmount
// what hides it, and does not run as root. Where the sandbox cannot be
// made, the documented fallback holds: auto runs instances unsandboxed
// and on refuses to start.
func TestSandbox(t *testing.T) {
	noLeaks(t)
	unsupported := lambdasvc.SandboxSupported()
	if unsupported != nil && os.Getenv("CI") == "" {
		t.Skipf("instances cannot be sandboxed here (%v); run as root, or where unprivileged user namespaces are allowed, to test it", unsupported)
	}
	data, secret := sandboxData(t)
	s := servertest.Start(t, func(c *config.Config) { c.LambdaSandbox = "auto"; c.DataDir = data })
	c := client(s)
	marker := randomName(t)
	t.Cleanup(func() { os.Remove(filepath.Join("/tmp", marker)) })
	createFunction(t, c, "sb1", func(in *lambda.CreateFunctionInput) {
		in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(600)}
	})
	createFunction(t, c, "sb2")

	if unsupported != nil {
		t.Logf("instances not sandboxed here: %v", unsupported)
		r := probeSandbox(t, c, "sb1", marker, secret, 0)
		if r.Sandbox.CodeWrite != "" || r.Sandbox.DataRead != "server data" {
			t.Errorf("lambda-sandbox auto without a sandbox: %+v", r.Sandbox)
		}
		cfg := s.Config
		cfg.Listen, cfg.DataDir, cfg.LambdaSandbox = "127.0.0.1:0", t.TempDir(), "on"
		if srv, err := server.Start(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
			srv.Close(context.Background())
			t.Error("lambda-sandbox on started without a sandbox")
		} else if !strings.Contains(err.Error(), "lambda-sandbox is on") {
			t.Errorf("lambda-sandbox on without a sandbox: %v", err)
		}
		return
	}

	first := probeSandbox(t, c, "sb1", marker, secret, 0)
	sb := first.Sandbox
	if sb.TmpWrite != "" || sb.TmpBefore != "" {
		t.Errorf("a new instance's /tmp: before %q, writing: %q", sb.TmpBefore, sb.TmpWrite)
	}
	if sb.TmpSize != 600<<20 {
		t.Errorf("/tmp of a function with EphemeralStorage 600: %d bytes", sb.TmpSize)
	}
	if sb.CodeWrite != "EROFS" && sb.CodeWrite != "EACCES" {
		t.Errorf("writing into the code directory: %q, want EROFS or EACCES", sb.CodeWrite)
	}
	// Hidden under an empty file system (ENOENT), or out of the
	// instance's user's reach on the way to it (EACCES).
	if sb.DataRead != "error: ENOENT" && sb.DataRead != "error: EACCES" {
		t.Errorf("reading the server's data directory: %q", sb.DataRead)
	}
	if sb.Unmount != "EPERM" && sb.Unmount != "EINVAL" {
		t.Errorf("unmounting what hides the data directory: %q", sb.Unmount)
	}
	if os.Getuid() == 0 && sb.UID == 0 {
		t.Error("the instance of a server run as root runs as root")
	}
	if _, err := os.Stat(filepath.Join("/tmp", marker)); !os.IsNotExist(err) {
		t.Errorf("the instance's /tmp file in the server's /tmp: %v", err)
	}

	// The same warm instance keeps its /tmp; another function's instance
	// has its own.
	again := probeSandbox(t, c, "sb1", marker, secret, 0)
	if again.PID != first.PID || again.Sandbox.TmpBefore != strconv.Itoa(first.PID) {
		t.Errorf("the warm instance (pid %d) found %q in its /tmp, want %d", again.PID, again.Sandbox.TmpBefore, first.PID)
	}
	// Nor can it reach the first one's /tmp through its process (another
	// user namespace); as root, instances run as users of their own,
	// which cannot signal each other.
	other := probeSandbox(t, c, "sb2", marker, secret, first.PID)
	if other.Sandbox.TmpBefore != "" || other.Sandbox.TmpSize != 512<<20 {
		t.Errorf("another function's instance: /tmp held %q, size %d", other.Sandbox.TmpBefore, other.Sandbox.TmpSize)
	}
	if !strings.HasPrefix(other.Sandbox.PeekRead, "error: ") {
		t.Errorf("an instance reading another's /tmp through /proc/%d/root: %q", first.PID, other.Sandbox.PeekRead)
	}
	if os.Getuid() == 0 && (other.Sandbox.UID == sb.UID || other.Sandbox.Signal != "EPERM") {
		t.Errorf("instances of a server run as root: users %d and %d, the second signalling the first: %q", sb.UID, other.Sandbox.UID, other.Sandbox.Signal)
	}

	// A new EphemeralStorage replaces the instance: the new one has an
	// empty /tmp of the new size.
	up, err := c.UpdateFunctionConfiguration(context.Background(), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("sb1"), EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(1024)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(up.EphemeralStorage.Size); got != 1024 {
		t.Errorf("UpdateFunctionConfiguration's EphemeralStorage: %d", got)
	}
	fresh := probeSandbox(t, c, "sb1", marker, secret, 0)
	if fresh.PID == first.PID || fresh.Sandbox.TmpBefore != "" || fresh.Sandbox.TmpSize != 1024<<20 {
		t.Errorf("the replaced instance (pid %d, was %d): /tmp held %q, size %d", fresh.PID, first.PID, fresh.Sandbox.TmpBefore, fresh.Sandbox.TmpSize)
	}
}

// TestSandboxOff: with lambda-sandbox off an instance runs as the
// server's user with its view of the filesystem, as before the sandbox.
func TestSandboxOff(t *testing.T) {
	noLeaks(t)
	data, secret := sandboxData(t)
	s := servertest.Start(t, func(c *config.Config) { c.LambdaSandbox = "off"; c.DataDir = data })
	c := client(s)
	marker := randomName(t)
	t.Cleanup(func() { os.Remove(filepath.Join("/tmp", marker)) })
	createFunction(t, c, "open")
	r := probeSandbox(t, c, "open", marker, secret, 0)
	if r.Sandbox.UID != os.Getuid() || r.Sandbox.CodeWrite != "" || r.Sandbox.DataRead != "server data" || r.Sandbox.TmpWrite != "" {
		t.Errorf("an instance without a sandbox: %+v", r.Sandbox)
	}
	if got, err := os.ReadFile(filepath.Join("/tmp", marker)); err != nil || string(got) != strconv.Itoa(r.PID) {
		t.Errorf("the instance's /tmp file in the server's /tmp: %q, %v", got, err)
	}
}

// TestEphemeralStorage: CreateFunction and UpdateFunctionConfiguration
// keep EphemeralStorage (default 512) and refuse a size outside
// 512–10,240 MB; GetFunction returns it.
func TestEphemeralStorage(t *testing.T) {
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	createFunction(t, c, "plain")
	createFunction(t, c, "big", func(in *lambda.CreateFunctionInput) {
		in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(10240)}
	})
	for name, want := range map[string]int32{"plain": 512, "big": 10240} {
		out, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(out.Configuration.EphemeralStorage.Size); got != want {
			t.Errorf("GetFunction %s: EphemeralStorage %d, want %d", name, got, want)
		}
	}
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("small"),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: testZip(t)}, EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(511)}})
	if code, msg := apiError(t, err); code != "ValidationException" || !strings.Contains(msg, "512") {
		t.Errorf("CreateFunction with EphemeralStorage 511: %s: %s", code, msg)
	}
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("plain"),
		EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(10241)}})
	if code, msg := apiError(t, err); code != "ValidationException" || !strings.Contains(msg, "10240") {
		t.Errorf("UpdateFunctionConfiguration with EphemeralStorage 10241: %s: %s", code, msg)
	}
}

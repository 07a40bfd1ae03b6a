package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
)

func zipOf(t testing.TB, names ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x"))
	}
	zw.Close()
	return buf.Bytes()
}

// FuzzCode feeds arbitrary bytes to the zip checks and unpacks what they
// accept: no panic, an accepted zip unpacks (or fails on its contents,
// which the checks do not read), and nothing is ever written outside the
// code directory.
func FuzzCode(f *testing.F) {
	f.Add(zipOf(f, "bootstrap"))
	f.Add(zipOf(f, "lib/a.so", "bootstrap", "dir/"))
	f.Add(zipOf(f, "../evil"))
	f.Add(zipOf(f, "a/../../evil"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, code []byte) {
		if len(code) > 1<<16 {
			return
		}
		if checkZip(code) != nil {
			return // refused at CreateFunction: never unpacked
		}
		root := t.TempDir()
		dir := filepath.Join(root, "code")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		err := unpack(code, dir)
		if err != nil && !strings.Contains(err.Error(), "zip") {
			t.Fatalf("an accepted zip failed to unpack: %v", err)
		}
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if path != root && path != dir && !strings.HasPrefix(path, dir+string(filepath.Separator)) {
				t.Fatalf("unpack wrote %s outside %s", path, dir)
			}
			return nil
		})
	})
}

func TestCheckZip(t *testing.T) {
	for _, tc := range []struct {
		code []byte
		ok   bool
	}{
		{zipOf(t, "bootstrap"), true},
		{zipOf(t, "README"), true}, // no bootstrap: found out at the first invocation
		{zipOf(t, "../evil"), false},
		{zipOf(t, "/abs"), false},
		{zipOf(t, `a\b`), false},
		{[]byte("not a zip"), false},
		{zipOf(t, "a\x00b"), false},                       // no file can have the name
		{zipOf(t, strings.Repeat("n", 256)), false},       // a path element over 255 bytes
		{zipOf(t, "lib", "lib/a.so"), false},              // lib is a file and a directory
		{zipOf(t, "lib/", "lib/a.so", "bootstrap"), true}, // a directory entry and its file
		{zipOf(t, "lib/a.so", "lib/b.so", "bootstrap"), true},
	} {
		if err := checkZip(tc.code); (err == nil) != tc.ok {
			t.Errorf("checkZip: %v, want ok=%v", err, tc.ok)
		}
	}
}

// FuzzFunctionRef resolves arbitrary FunctionName values without panicking
// and never lets an ARN of another account or region pass as visible.
func FuzzFunctionRef(f *testing.F) {
	for _, s := range []string{"fn", "fn:$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:fn",
		"arn:aws:lambda:eu-west-1:111111111111:function:fn:7", "000000000000:function:fn", ":::", "arn:"} {
		f.Add(s)
	}
	ctx := awsproto.WithInfo(context.Background(), &awsproto.RequestInfo{AccountID: "000000000000", Region: "us-east-1"})
	f.Fuzz(func(t *testing.T, name string) {
		r := parseRef(ctx, name)
		if r.visible(ctx) && (r.account != "000000000000" || r.region != "us-east-1") {
			t.Fatalf("%q resolved to %+v, visible", name, r)
		}
		if strings.Contains(r.name, ":") {
			t.Fatalf("%q resolved to a name with a colon: %+v", name, r)
		}
	})
}

// FuzzRemoteHandler: a remote function's Handler is refused with
// InvalidParameterValueException or taken apart into a base URL of its
// own scheme and host and exactly one function name.
func FuzzRemoteHandler(f *testing.F) {
	for _, s := range []string{"lambda+http://127.0.0.1:4567/orders", "lambda+https://lambda.eu-west-1.amazonaws.com/f:prod?region=eu-west-1",
		"lambda+http://", "lambda+http://u:p@h/f", "lambda+http://h/a/b", "lambda+http://h/f?region=", "lambda+http://h/%2F", "lambda+https://[::1]:9/f#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, handler string) {
		if !isRemoteHandler(handler) {
			return
		}
		target, err := parseRemote(handler)
		if err != nil {
			if !strings.Contains(err.Error(), "InvalidParameterValueException") && !strings.Contains(err.Error(), "not a usable remote function") {
				t.Fatalf("%q: %v", handler, err)
			}
			return
		}
		if !strings.HasPrefix(target.base, "http://") && !strings.HasPrefix(target.base, "https://") ||
			target.name == "" || strings.Contains(target.name, "/") || strings.HasSuffix(target.base, "://") {
			t.Fatalf("%q taken apart as %+v", handler, target)
		}
		if ok, err := endpointHandler(handler); !ok || err != nil {
			t.Fatalf("%q: parsed, but endpointHandler says %v %v", handler, ok, err)
		}
	})
}

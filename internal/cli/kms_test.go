package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestKMSCommands(t *testing.T) {
	dir := t.TempDir()
	env := func(string) (string, bool) { return "", false }
	runKMS := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"millrace", "kms"}, args...), &out, &errOut, env)
		return out.String() + errOut.String(), code
	}
	out, code := runKMS("create-key", "--data-dir", dir, "--account", "123456789012")
	if code != 0 {
		t.Fatalf("create-key: %d %s", code, out)
	}
	id := strings.Fields(out)[0]
	if out, code := runKMS("create-alias", "--data-dir", dir, "--account", "123456789012", "alias/app", id); code != 0 {
		t.Fatalf("create-alias: %d %s", code, out)
	}
	if out, code := runKMS("rotate-key", "--data-dir", dir, "--account", "123456789012", "alias/app"); code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("rotate-key: %d %s", code, out)
	}
	if out, code := runKMS("disable-key", "--data-dir", dir, "--account", "123456789012", id); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable-key: %d %s", code, out)
	}
	out, code = runKMS("list-keys", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "Disabled") || !strings.Contains(out, "alias/app") {
		t.Fatalf("list-keys: %d %s", code, out)
	}
	if out, code := runKMS("enable-key", "--data-dir", dir, "nope"); code != 1 || !strings.Contains(out, "Invalid keyId") {
		t.Fatalf("unknown key: %d %s", code, out)
	}
	if _, code := runKMS("frobnicate", "--data-dir", dir); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

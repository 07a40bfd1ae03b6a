package kms

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	acct   = "123456789012"
	region = "us-east-1"
)

func masterKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func wantFail(t *testing.T, opts Options, msg string) {
	t.Helper()
	_, err := Open(opts)
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("Open(%+v): %v, want an error containing %q", opts, err, msg)
	}
}

// TestMasterKeyAndMarker: a sealed key file opens only with its master key;
// a data directory refuses a missing or foreign key file; failures change
// no file.
func TestMasterKeyAndMarker(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	path := filepath.Join(dir, "keys.json")
	kr, err := Open(Options{Path: path, DataDir: data, MasterKey: masterKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	key, err := kr.CreateKey(acct, region, "k")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), key.ID) {
		t.Fatal("a sealed key file shows its key ids")
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode().Perm())
	}
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		for _, p := range []string{path, filepath.Join(data, MarkerName)} {
			b, _ := os.ReadFile(p)
			m[p] = b
		}
		return m
	}
	before := snapshot()

	wantFail(t, Options{Path: path, DataDir: data, MasterKey: masterKey(2)}, "does not open the KMS key file")
	wantFail(t, Options{Path: path, DataDir: data}, "set MILLRACE_KMS_MASTER_KEY")
	wantFail(t, Options{Path: path, DataDir: data, MasterKey: "short"}, "32 bytes")
	wantFail(t, Options{Path: filepath.Join(dir, "missing.json"), DataDir: data}, "does not exist, but the data directory")
	other := filepath.Join(dir, "other.json")
	if _, err := Open(Options{Path: other}); err != nil {
		t.Fatal(err)
	}
	wantFail(t, Options{Path: other, DataDir: data}, "belongs to keyring")
	if _, err := os.Stat(filepath.Join(dir, "missing.json")); !os.IsNotExist(err) {
		t.Fatal("a failed start created a key file")
	}
	for p, b := range snapshot() {
		if !bytes.Equal(b, before[p]) {
			t.Fatalf("%s changed by a failed start", p)
		}
	}

	again, err := Open(Options{Path: path, DataDir: data, MasterKey: masterKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Resolve(acct, region, key.ARN()); err != nil || got.ID != key.ID {
		t.Fatalf("Resolve after reopen: %+v %v", got, err)
	}
}

func TestResolveRotateDisable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	kr, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	managed, err := kr.Resolve(acct, region, ManagedAlias)
	if err != nil || !managed.Managed {
		t.Fatalf("managed key: %+v %v", managed, err)
	}
	if again, _ := kr.Resolve(acct, region, AliasARN(region, acct, ManagedAlias)); again.ID != managed.ID {
		t.Fatal("alias/aws/kinesis resolved to another key")
	}
	if other, _ := kr.Resolve("999999999999", region, ManagedAlias); other.ID == managed.ID {
		t.Fatal("accounts share alias/aws/kinesis")
	}
	key, _ := kr.CreateKey(acct, region, "")
	if err := kr.CreateAlias(acct, region, "alias/app", key.ID); err != nil {
		t.Fatal(err)
	}
	if err := kr.CreateAlias(acct, region, "alias/aws/x", key.ID); err == nil {
		t.Fatal("reserved alias accepted")
	}
	for _, ref := range []string{key.ID, key.ARN(), "alias/app", AliasARN(region, acct, "alias/app")} {
		if got, err := kr.Resolve(acct, region, ref); err != nil || got.ID != key.ID {
			t.Fatalf("Resolve(%s): %+v %v", ref, got, err)
		}
	}
	if _, err := kr.Resolve(acct, region, "alias/none"); !IsCode(err, CodeNotFound) {
		t.Fatalf("unknown alias: %v", err)
	}

	plain1, wrapped1, v1, err := kr.GenerateDataKey(key.ID)
	if err != nil || v1 != 1 {
		t.Fatal(v1, err)
	}
	if _, err := kr.Rotate(acct, region, "alias/app"); err != nil {
		t.Fatal(err)
	}
	plain2, wrapped2, v2, _ := kr.GenerateDataKey(key.ID)
	if v2 != 2 {
		t.Fatalf("version after rotation %d", v2)
	}
	// A second process (millrace kms) sees the same keys.
	kr2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v            int
		plain, wrapd []byte
	}{{1, plain1, wrapped1}, {2, plain2, wrapped2}} {
		got, err := kr2.Decrypt(key.ID, c.v, c.wrapd)
		if err != nil || !bytes.Equal(got, c.plain) {
			t.Fatalf("version %d: %v", c.v, err)
		}
	}
	if _, err := kr2.Decrypt(key.ID, 2, wrapped1); err == nil {
		t.Fatal("a data key unwrapped under the wrong version")
	}
	if _, err := kr2.SetEnabled(acct, region, key.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := kr.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Decrypt(key.ID, 1, wrapped1); !IsCode(err, CodeDisabled) || err.Error() != key.ARN()+" is disabled." {
		t.Fatalf("disabled key: %v", err)
	}
	if _, err := kr.Resolve(acct, region, "alias/app"); !IsCode(err, CodeDisabled) {
		t.Fatalf("resolve disabled: %v", err)
	}
}

func TestSeal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	kr, _ := Open(Options{Path: path})
	key, _ := kr.CreateKey(acct, region, "")
	if err := kr.Seal(masterKey(7)); err != nil {
		t.Fatal(err)
	}
	wantFail(t, Options{Path: path}, "sealed with a master key")
	kr2, err := Open(Options{Path: path, MasterKey: masterKey(7)})
	if err != nil || !kr2.Has(key.ID) {
		t.Fatalf("sealed file: %v", err)
	}
}

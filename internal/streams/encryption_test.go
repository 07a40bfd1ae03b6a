package streams

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/kms"
	"github.com/millrace/millrace/internal/storage/pebble"
)

func secret(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// scanDir reports which of needles occur in any file under dir.
func scanDir(t *testing.T, dir string, needles []string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found[n] = append(found[n], filepath.Base(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("only %d files under %s", files, dir)
	}
	return found
}

type encEnv struct {
	t       *testing.T
	dataDir string
	keyFile string
	clk     *clock
	eng     *pebble.Engine
	kr      *kms.Keyring
	s       *Streams
}

func (e *encEnv) open() {
	e.t.Helper()
	kr, err := kms.Open(kms.Options{Path: e.keyFile, DataDir: e.dataDir, Now: e.clk.now})
	if err != nil {
		e.t.Fatal(err)
	}
	eng, err := pebble.Open(pebble.Options{Dir: e.dataDir})
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := New(context.Background(), Options{Log: eng, Catalog: eng, KMS: kr, Now: e.clk.now, RetentionCheckInterval: time.Hour})
	if err != nil {
		eng.Close()
		e.t.Fatal(err)
	}
	e.eng, e.kr, e.s = eng, kr, s
}

func (e *encEnv) close() {
	e.s.Close()
	if err := e.eng.Close(); err != nil {
		e.t.Fatal(err)
	}
}

type written struct {
	pk, data string
	enc      string // "KMS" or ""
}

// readAll reads every record of every shard of stream name from the trim
// horizon, keyed by data.
func readAll(t *testing.T, s *Streams, name string) map[string]Record {
	t.Helper()
	ctx := context.Background()
	st, err := s.Describe(ref(name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Record{}
	for i := range st.Shards {
		it, err := s.GetShardIterator(ctx, IteratorParams{Ref: ref(name), ShardID: st.Shards[i].ID(), Type: TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.GetRecords(ctx, it, 0)
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		for _, r := range res.Records {
			out[string(r.Data)] = r
		}
		// The read buffers of GetRecords over HTTP give the same records.
		buffered, release, err := s.GetRecordsBuffered(ctx, it, 0)
		if err != nil {
			t.Fatalf("GetRecordsBuffered: %v", err)
		}
		if len(buffered.Records) != len(res.Records) {
			t.Errorf("GetRecordsBuffered: %d records, GetRecords %d", len(buffered.Records), len(res.Records))
		}
		for j, r := range buffered.Records {
			if j < len(res.Records) && (string(r.Data) != string(res.Records[j].Data) || r.PartitionKey != res.Records[j].PartitionKey ||
				r.EncryptionType != res.Records[j].EncryptionType || r.SequenceNumber != res.Records[j].SequenceNumber) {
				t.Errorf("GetRecordsBuffered: record %d differs from GetRecords's", j)
			}
		}
		release()
	}
	return out
}

func checkAll(t *testing.T, s *Streams, name string, want []written) {
	t.Helper()
	got := readAll(t, s, name)
	if len(got) != len(want) {
		t.Errorf("read %d records, wrote %d", len(got), len(want))
	}
	for _, w := range want {
		r, ok := got[w.data]
		if !ok {
			t.Errorf("record %s missing", w.data)
			continue
		}
		if r.PartitionKey != w.pk || r.EncryptionType != w.enc {
			t.Errorf("record %s: partition key %q encryption %q, want %q %q", w.data, r.PartitionKey, r.EncryptionType, w.pk, w.enc)
		}
	}
}

// TestEncryptionAtRest writes records with encryption off, on (under the
// managed key and a rotated customer key), off and on again, across
// restarts; every record reads back with its own EncryptionType, and no
// plaintext of an encrypted record is anywhere in the data directory.
func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	e := &encEnv{t: t, dataDir: filepath.Join(dir, "data"), keyFile: filepath.Join(dir, "data", "kms-keys.json"), clk: newClock()}
	ctx := context.Background()
	e.open()
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	var all []written
	var secrets, plains []string
	write := func(n int, enc bool) {
		t.Helper()
		var entries []PutEntry
		var batch []written
		for i := 0; i < n; i++ {
			w := written{pk: secret("PK-"), data: secret("DATA-")}
			if enc {
				w.enc = EncryptionKMS
				secrets = append(secrets, w.pk, w.data)
			} else {
				plains = append(plains, w.pk, w.data)
			}
			batch = append(batch, w)
			entries = append(entries, PutEntry{PartitionKey: w.pk, Data: []byte(w.data)})
		}
		want := "NONE"
		if enc {
			want = EncryptionKMS
		}
		// One through PutRecord, the rest through PutRecords.
		_, et, err := e.s.PutRecord(ctx, ref("s"), entries[0], "")
		if err != nil || et != want {
			t.Fatalf("PutRecord: %v, encryption %s, want %s", err, et, want)
		}
		res, err := e.s.PutRecords(ctx, ref("s"), entries[1:])
		if err != nil || res.FailedCount != 0 || res.EncryptionType != want {
			t.Fatalf("PutRecords: %v %+v", err, res)
		}
		all = append(all, batch...)
	}

	write(5, false)
	if err := e.s.StartEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	st, _ := e.s.Describe(ref("s"))
	if st.Status != StatusActive || st.EncryptionType != "KMS" || st.KeyID != "alias/aws/kinesis" || st.KMSKeyID == "" {
		t.Fatalf("after StartEncryption: %s %q %q %q", st.Status, st.EncryptionType, st.KeyID, st.KMSKeyID)
	}
	write(20, true)
	checkAll(t, e.s, "s", all)
	if err := e.s.StopEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.s.Describe(ref("s")); st.EncryptionType != "" || st.KeyID != "" {
		t.Fatalf("after StopEncryption: %q %q", st.EncryptionType, st.KeyID)
	}
	write(5, false)
	key, err := e.kr.CreateKey(acct, region, "test key")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.kr.CreateAlias(acct, region, "alias/mine", key.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.StartEncryption(ctx, ref("s"), "KMS", kms.AliasARN(region, acct, "alias/mine")); err != nil {
		t.Fatal(err)
	}
	write(20, true)
	checkAll(t, e.s, "s", all)
	e.close()

	found := scanDir(t, e.dataDir, append(append([]string(nil), secrets...), plains...))
	for _, s := range secrets {
		if len(found[s]) > 0 {
			t.Errorf("plaintext %s of an encrypted record found in %v", s, found[s])
		}
	}
	// The scan does find what is stored in plaintext.
	if len(found[plains[0]]) == 0 {
		t.Errorf("the scan did not find the unencrypted record %s: it cannot be trusted", plains[0])
	}

	// Restart: everything reads back; the rotated key wraps the new data
	// keys and the old version still unwraps the old ones.
	e.open()
	checkAll(t, e.s, "s", all)
	if _, err := e.kr.Rotate(acct, region, key.ID); err != nil {
		t.Fatal(err)
	}
	write(10, true)
	if err := e.s.StartEncryption(ctx, ref("s"), "KMS", key.ARN()); err != nil {
		t.Fatal(err)
	}
	write(10, true)
	checkAll(t, e.s, "s", all)
	e.close()
	e.open()
	checkAll(t, e.s, "s", all)
	e.close()
	found = scanDir(t, e.dataDir, secrets)
	for _, s := range secrets {
		if len(found[s]) > 0 {
			t.Errorf("after restart: plaintext %s of an encrypted record found in %v", s, found[s])
		}
	}
	// Nothing of the key material is in the data directory either, apart
	// from the key file itself.
	raw, err := os.ReadFile(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(e.keyFile); info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}
	if !strings.Contains(string(raw), key.ID) {
		t.Errorf("key file does not hold key %s", key.ID)
	}
}

// TestEncryptionKeyErrors covers unknown and disabled keys, the state and
// rate rules of StartStreamEncryption, and reads of records whose key is
// disabled.
func TestEncryptionKeyErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	kr := e.s.opts.KMS

	wantErr(t, e.s.StartEncryption(ctx, ref("s"), "KMS", "alias/nope"), KindKMSNotFound,
		"Alias arn:aws:kms:us-east-1:123456789012:alias/nope is not found.")
	wantErr(t, e.s.StartEncryption(ctx, ref("s"), "KMS", "11111111-2222-3333-4444-555555555555"), KindKMSNotFound,
		"Key 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' does not exist")
	wantErr(t, e.s.StartEncryption(ctx, ref("s"), "NONE", "alias/aws/kinesis"), KindInvalidArgument, "Encryption type NONE")
	wantErr(t, e.s.StartEncryption(ctx, ref("nope"), "KMS", "alias/aws/kinesis"), KindNotFound, "Stream nope under account 123456789012 not found.")

	key, err := kr.CreateKey(acct, region, "")
	if err != nil {
		t.Fatal(err)
	}
	// A key of another account is not found by its bare id.
	wantErr(t, e.s.StartEncryption(ctx, StreamRef{Account: "999999999999", Region: region, Name: "s"}, "KMS", key.ID), KindNotFound, "")
	if _, err := kr.SetEnabled(acct, region, key.ID, false); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.StartEncryption(ctx, ref("s"), "KMS", key.ID), KindKMSDisabled, key.ARN()+" is disabled.")
	kr.SetEnabled(acct, region, key.ID, true)
	if err := e.s.StartEncryption(ctx, ref("s"), "KMS", key.ID); err != nil {
		t.Fatal(err)
	}
	put(t, e, "s", PutEntry{PartitionKey: "pk", Data: []byte("secret")})
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")

	kr.SetEnabled(acct, region, key.ID, false)
	_, err = e.s.PutRecords(ctx, ref("s"), []PutEntry{{PartitionKey: "pk", Data: []byte("x")}})
	wantErr(t, err, KindKMSDisabled, "is disabled.")
	_, _, err = e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "pk", Data: []byte("x")}, "")
	wantErr(t, err, KindKMSDisabled, "is disabled.")
	_, err = e.s.GetRecords(ctx, it, 0)
	wantErr(t, err, KindKMSDisabled, "is disabled.")
	// Encryption can be turned off with the key disabled; its records stay
	// unreadable until the key is enabled again.
	if err := e.s.StopEncryption(ctx, ref("s"), "KMS", key.ID); err != nil {
		t.Fatal(err)
	}
	put(t, e, "s", PutEntry{PartitionKey: "pk2", Data: []byte("plain")})
	_, err = e.s.GetRecords(ctx, it, 0)
	wantErr(t, err, KindKMSDisabled, "is disabled.")
	kr.SetEnabled(acct, region, key.ID, true)
	res := get(t, e, it, 0)
	if len(res.Records) != 2 || string(res.Records[0].Data) != "secret" || res.Records[0].PartitionKey != "pk" || res.Records[0].EncryptionType != "KMS" ||
		string(res.Records[1].Data) != "plain" || res.Records[1].EncryptionType != "" {
		t.Fatalf("records %+v", res.Records)
	}

	// 25 changes per rolling 24 hours (two made above).
	for i := 2; i < MaxKeyChangesPerDay; i++ {
		if err := e.s.StartEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	wantErr(t, e.s.StartEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"), KindLimitExceeded, "encryption changes")
	e.clk.advance(25 * time.Hour)
	if err := e.s.StopEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}

	// Only an ACTIVE stream changes its encryption; UPDATING lasts the
	// update delay.
	slow := newEnv(t, func(o *Options) { o.UpdateDelay = time.Hour })
	slow.create("s", 1)
	if err := slow.s.StartEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if st := slow.describe("s"); st.Status != StatusUpdating || st.EncryptionType != "KMS" {
		t.Fatalf("status %s encryption %q", st.Status, st.EncryptionType)
	}
	wantErr(t, slow.s.StopEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"), KindInUse, "not ACTIVE, instead in state UPDATING")
}

// TestStartRefusesForeignKeys: data written under keys the keyring does
// not hold stops the start.
func TestStartRefusesForeignKeys(t *testing.T) {
	dir := t.TempDir()
	e := &encEnv{t: t, dataDir: filepath.Join(dir, "data"), keyFile: filepath.Join(dir, "keys.json"), clk: newClock()}
	ctx := context.Background()
	e.open()
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.StartEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{PartitionKey: "p", Data: []byte("d")}, ""); err != nil {
		t.Fatal(err)
	}
	e.close()

	eng, err := pebble.Open(pebble.Options{Dir: e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	other, _ := kms.Open(kms.Options{InMemory: true})
	_, err = New(ctx, Options{Log: eng, Catalog: eng, KMS: other})
	if err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("New with another keyring: %v", err)
	}
}

func TestDeletingAStreamDropsItsDataKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 2)
	if err := e.s.StartEncryption(ctx, ref("s"), "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	put(t, e, "s", PutEntry{PartitionKey: "a", Data: []byte("x")}, PutEntry{PartitionKey: "b", Data: []byte("y")})
	keys := func() int {
		kvs, err := e.cat.List(ctx, dataKeyPrefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(kvs)
	}
	if keys() == 0 {
		t.Fatal("no data key stored for an encrypted stream")
	}
	if err := e.s.DeleteStream(ctx, ref("s"), false); err != nil {
		t.Fatal(err)
	}
	if n := keys(); n != 0 {
		t.Fatalf("%d wrapped data keys left after the stream was deleted", n)
	}
}

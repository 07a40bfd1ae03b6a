package streams

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

func openTestEngine(t testing.TB) *pebble.Engine {
	t.Helper()
	e, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func testKeyring(t testing.TB) *keyring {
	t.Helper()
	k, err := loadKeyring(context.Background(), openTestEngine(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringPersistsAndAgrees(t *testing.T) {
	ctx := context.Background()
	e := openTestEngine(t)
	// Several servers starting at once on one catalog end up with one key.
	keys := make([]*keyring, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := loadKeyring(ctx, e)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	it := &iterator{Created: 1000, StreamID: 7, Shard: 3, Position: 42, Account: "000000000000", Region: "us-east-1", Name: "s"}
	s := keys[0].encodeIterator(it)
	for i, k := range keys {
		got, err := k.decodeIterator(s, time.UnixMilli(1000), time.Minute)
		if err != nil || *got != *it {
			t.Errorf("keyring %d: %+v, %v", i, got, err)
		}
	}
	// A later start reads the same key.
	again, err := loadKeyring(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.decodeIterator(s, time.UnixMilli(1000), time.Minute); err != nil {
		t.Errorf("after reload: %v", err)
	}
	// Another catalog has another key.
	if _, err := testKeyring(t).decodeIterator(s, time.UnixMilli(1000), time.Minute); !isKind(err, KindInvalidArgument) {
		t.Errorf("foreign key: %v", err)
	}
}

func TestKeyringRejectsCorruptEntry(t *testing.T) {
	ctx := context.Background()
	e := openTestEngine(t)
	if _, err := e.Put(ctx, keyringKey, []byte("short"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeyring(ctx, e); err == nil {
		t.Fatal("a corrupt key entry was accepted")
	}
}

func isKind(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}

func TestIteratorRoundTrip(t *testing.T) {
	k := testKeyring(t)
	name := strings.Repeat("n", 128)
	it := &iterator{Created: 1_700_000_000_123, StreamID: 1<<64 - 1, Shard: 1<<31 - 1, Position: 1<<63 - 1,
		Account: "123456789012", Region: "ap-southeast-2", Name: name}
	s := k.encodeIterator(it)
	if len(s) > maxIteratorLen {
		t.Fatalf("iterator of %d characters, the model allows %d", len(s), maxIteratorLen)
	}
	if !strings.HasPrefix(s, "AAAAAAAAAA") {
		t.Errorf("iterator %q does not start like AWS's", s)
	}
	got, err := k.decodeIterator(s, time.UnixMilli(it.Created+1), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *it {
		t.Errorf("got %+v, want %+v", got, it)
	}
	// Two iterators for the same position differ (fresh nonce).
	if k.encodeIterator(it) == s {
		t.Error("identical iterators for the same state")
	}
}

func TestIteratorTampered(t *testing.T) {
	k := testKeyring(t)
	it := &iterator{Created: 5000, StreamID: 1, Shard: 0, Position: 1, Account: "000000000000", Region: "us-east-1", Name: "s"}
	s := k.encodeIterator(it)
	raw, _ := base64.StdEncoding.DecodeString(s)
	now := time.UnixMilli(5000)
	for i := range raw {
		c := append([]byte(nil), raw...)
		c[i] ^= 0x01
		if _, err := k.decodeIterator(base64.StdEncoding.EncodeToString(c), now, time.Minute); !isKind(err, KindInvalidArgument) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
	}
	for _, bad := range []string{"", "garbage", "AAAAAAAAAAE=", s[:len(s)-4], s + "AAAA", strings.Repeat("A", 600),
		k.sealToken(purposeShardToken, now, it.marshal())} {
		_, err := k.decodeIterator(bad, now, time.Minute)
		if !isKind(err, KindInvalidArgument) || err.Error() != "Invalid ShardIterator." {
			t.Errorf("decodeIterator(%.20q...) = %v", bad, err)
		}
	}
}

func TestIteratorExpiry(t *testing.T) {
	k := testKeyring(t)
	created := time.Date(2015, 1, 22, 1, 22, 2, 0, time.UTC)
	it := &iterator{Created: created.UnixMilli(), StreamID: 1, Name: "s"}
	s := k.encodeIterator(it)
	ttl := 5 * time.Minute
	if _, err := k.decodeIterator(s, created.Add(ttl), ttl); err != nil {
		t.Errorf("at exactly the TTL: %v", err)
	}
	_, err := k.decodeIterator(s, created.Add(ttl+time.Millisecond), ttl)
	if !isKind(err, KindExpiredIterator) {
		t.Fatalf("after the TTL: %v", err)
	}
	want := "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC 2015 while right now it is Thu Jan 22 01:27:02 UTC 2015 which is further in the future than the tolerated delay of 300000 milliseconds."
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
}

func TestTokenExpiry(t *testing.T) {
	k := testKeyring(t)
	now := time.UnixMilli(1_700_000_000_000)
	tok := k.sealToken(purposeShardToken, now, []byte("payload"))
	got, err := k.openToken(purposeShardToken, tok, now.Add(tokenTTL))
	if err != nil || string(got) != "payload" {
		t.Fatalf("openToken = %q, %v", got, err)
	}
	if _, err := k.openToken(purposeShardToken, tok, now.Add(tokenTTL+time.Millisecond)); !isKind(err, KindExpiredNextToken) {
		t.Errorf("expired token: %v", err)
	}
	if _, err := k.openToken(purposeListToken, tok, now); !isKind(err, KindInvalidArgument) {
		t.Errorf("token of another purpose: %v", err)
	}
	if _, err := k.openToken(purposeShardToken, "bm9wZQ==", now); !isKind(err, KindInvalidArgument) {
		t.Errorf("garbage token: %v", err)
	}
}

func FuzzDecodeIterator(f *testing.F) {
	k := fixedKeyring(f)
	good := fixedIterator(k)
	f.Add(good)
	for _, v := range respellings(f, good) {
		f.Add(v.s)
	}
	f.Add("")
	f.Add("AAAAAAAAAAE=")
	f.Add(good[:len(good)/2])
	f.Add(strings.ToLower(good))
	f.Fuzz(func(t *testing.T, s string) {
		it, err := k.decodeIterator(s, fixedNow, 5*time.Minute)
		if err != nil {
			if !isKind(err, KindInvalidArgument) && !isKind(err, KindExpiredIterator) {
				t.Fatalf("decodeIterator(%q): unexpected error %v", s, err)
			}
			return
		}
		// Only genuine iterators open, and only as they were issued: the
		// state, sealed again with the same nonce, is the input byte for
		// byte.
		if again := k.sealNonce(purposeIterator, it.Created, it.marshal(), nonceOf(t, s)); again != s {
			t.Fatalf("decodeIterator accepted %q, which is issued as %q", s, again)
		}
	})
}

func FuzzOpenToken(f *testing.F) {
	k := fixedKeyring(f)
	for _, p := range sealPurposes {
		good := k.sealNonce(p, fixedNow.UnixMilli(), []byte("payload of a token"), fixedNonce)
		f.Add(good)
		for _, v := range respellings(f, good) {
			f.Add(v.s)
		}
	}
	f.Add("bm9wZQ==")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range sealPurposes {
			created, payload, err := k.open(p, s)
			if err != nil {
				continue
			}
			if again := k.sealNonce(p, created, payload, nonceOf(t, s)); again != s {
				t.Fatalf("open(%c) accepted %q, which is issued as %q", p, s, again)
			}
		}
		for _, p := range sealPurposes[1:] {
			if _, err := k.openToken(p, s, fixedNow); err != nil && !isKind(err, KindInvalidArgument) && !isKind(err, KindExpiredNextToken) {
				t.Fatalf("openToken(%c, %q): unexpected error %v", p, s, err)
			}
		}
	})
}

// sealPurposes is every kind of sealed value, the iterator first.
var sealPurposes = []byte{purposeIterator, purposeShardToken, purposeListToken, purposeConsumerToken}

// nonceOf returns the nonce of an accepted sealed value, read with the
// lenient decoder: a string it cannot read should not have been accepted.
func nonceOf(t *testing.T, s string) [12]byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) < sealedOverhead {
		t.Fatalf("accepted %q, which is not standard base64 (%v)", s, err)
	}
	return [12]byte(raw[8:20])
}

// The fuzz targets use a fixed key, clock and nonce, so that their
// committed seeds (genuine values spelled in other ways) stay genuine from
// run to run.
var (
	fixedNow = time.UnixMilli(1_700_000_000_000)
	// fixedNonce puts "+/+/" in the base64 (nonce bytes 1-3 are the
	// fourth group of three), so the URL-safe spelling differs.
	fixedNonce = [12]byte{0, 0xfb, 0xff, 0xbf, 4, 5, 6, 7, 8, 9, 10, 11}
)

func fixedKeyring(t testing.TB) *keyring {
	t.Helper()
	val := make([]byte, 1+32)
	val[0] = keyringVersion
	for i := range 32 {
		val[1+i] = byte(i)
	}
	k, err := newKeyring(val)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixedIterator is a genuine iterator under fixedKeyring at fixedNow. Its
// 95 bytes leave one '=' of padding.
func fixedIterator(k *keyring) string {
	it := &iterator{Created: fixedNow.UnixMilli(), StreamID: 3, Shard: 1, Position: 10, Account: "000000000000", Region: "us-east-1", Name: "stream"}
	return k.sealNonce(purposeIterator, it.Created, it.marshal(), fixedNonce)
}

type respelling struct{ name, s string }

// respellings returns ways a client might spell the base64 value s other
// than as it was issued, each of which decodes (with some decoder) to the
// same bytes or differs only in bits the encoding ignores.
func respellings(t testing.TB, s string) []respelling {
	t.Helper()
	if !strings.HasSuffix(s, "=") || !strings.ContainsAny(s, "+/") {
		t.Fatalf("%q needs padding and a '+' or '/' for every respelling to differ", s)
	}
	mid := len(s) / 2
	mime := ""
	for i := 0; i < len(s); i += 76 {
		mime += s[i:min(i+76, len(s))] + "\r\n"
	}
	// The last character before the padding carries bits the decoded
	// bytes do not use; a lenient decoder ignores them.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := len(strings.TrimRight(s, "=")) - 1
	spare := s[:last] + string(alphabet[strings.IndexByte(alphabet, s[last])^1]) + s[last+1:]
	return []respelling{
		{"trailing LF", s + "\n"},
		{"trailing CRLF", s + "\r\n"},
		{"trailing CR", s + "\r"},
		{"leading LF", "\n" + s},
		{"inner LF", s[:mid] + "\n" + s[mid:]},
		{"inner CRLF", s[:mid] + "\r\n" + s[mid:]},
		{"MIME lines", mime},
		{"inner space", s[:mid] + " " + s[mid:]},
		{"trailing space", s + " "},
		{"leading space", " " + s},
		{"inner tab", s[:mid] + "\t" + s[mid:]},
		{"URL-safe alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(s)},
		{"URL-safe alphabet, no padding", strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(s), "=")},
		{"no padding", strings.TrimRight(s, "=")},
		{"extra padding", s + "="},
		{"padding quad", s + "===="},
		{"spare bits set", spare},
	}
}

func TestSealedValuesHaveOneSpelling(t *testing.T) {
	k := fixedKeyring(t)
	it := fixedIterator(k)
	if _, err := k.decodeIterator(it, fixedNow, time.Minute); err != nil {
		t.Fatalf("the iterator as issued: %v", err)
	}
	for _, v := range respellings(t, it) {
		_, err := k.decodeIterator(v.s, fixedNow, time.Minute)
		if !isKind(err, KindInvalidArgument) || err.Error() != "Invalid ShardIterator." {
			t.Errorf("iterator, %s (%q): %v", v.name, v.s, err)
		}
	}
	for _, p := range sealPurposes[1:] {
		tok := k.sealNonce(p, fixedNow.UnixMilli(), []byte("a token's payload"), fixedNonce)
		if _, err := k.openToken(p, tok, fixedNow); err != nil {
			t.Fatalf("token %c as issued: %v", p, err)
		}
		for _, v := range respellings(t, tok) {
			_, err := k.openToken(p, v.s, fixedNow)
			if !isKind(err, KindInvalidArgument) || err.Error() != "Invalid NextToken." {
				t.Errorf("token %c, %s (%q): %v", p, v.name, v.s, err)
			}
		}
	}
}

func TestDecodeSealed(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 95, 96, 97} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(251 * i)
		}
		s := base64.StdEncoding.EncodeToString(raw)
		got, ok := decodeSealed(s)
		if !ok || !bytes.Equal(got, raw) {
			t.Errorf("%d bytes: decodeSealed(%q) = %x, %v", n, s, got, ok)
		}
		for _, bad := range []string{s + "\n", "\r\n" + s, s + "====", s + "A"} {
			if got, ok := decodeSealed(bad); ok {
				t.Errorf("%d bytes: decodeSealed(%q) = %x, want rejection", n, bad, got)
			}
		}
	}
}

// The committed fuzz seeds named genuine-* are genuine values under
// fixedKeyring spelled with extra whitespace: without it they open, so the
// fuzzer starts next to an accepted value.
func TestFuzzSeedsAreGenuine(t *testing.T) {
	for target, open := range map[string]func(string) error{
		"FuzzDecodeIterator": func(s string) error {
			_, err := fixedKeyring(t).decodeIterator(s, fixedNow, time.Minute)
			return err
		},
		"FuzzOpenToken": func(s string) error {
			_, err := fixedKeyring(t).openToken(purposeShardToken, s, fixedNow)
			return err
		},
	} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "genuine-*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no genuine seeds (%v)", target, err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "string(") {
				t.Fatalf("%s: not a one-string seed", file)
			}
			seed, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if err := open(seed); err == nil {
				t.Errorf("%s: the seed itself opens", file)
			}
			if err := open(strings.Join(strings.Fields(seed), "")); err != nil {
				t.Errorf("%s: without whitespace: %v", file, err)
			}
		}
	}
}

var _ storage.Catalog = (*pebble.Engine)(nil)

// BenchmarkDecodeIterator is the iterator's share of every GetRecords call:
// strict base64, AES-GCM open and the payload.
func BenchmarkDecodeIterator(b *testing.B) {
	k := testKeyring(b)
	now := time.UnixMilli(1_700_000_000_000)
	s := k.encodeIterator(&iterator{Created: now.UnixMilli(), StreamID: 3, Shard: 1, Position: 10,
		Account: "000000000000", Region: "us-east-1", Name: strings.Repeat("n", 64)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.decodeIterator(s, now, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

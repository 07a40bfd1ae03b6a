package streams

import (
	"context"
	"encoding/base64"
	"errors"
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
	// The URL-safe alphabet decodes to the same iterator.
	url := base64.URLEncoding.EncodeToString(raw)
	if _, err := k.decodeIterator(url, now, time.Minute); err != nil {
		t.Errorf("URL-safe form: %v", err)
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
	k := testKeyring(f)
	now := time.UnixMilli(1_700_000_000_000)
	good := k.encodeIterator(&iterator{Created: now.UnixMilli(), StreamID: 3, Shard: 1, Position: 10, Account: "000000000000", Region: "us-east-1", Name: "stream"})
	f.Add(good)
	f.Add("")
	f.Add("AAAAAAAAAAE=")
	f.Add(good[:len(good)/2])
	f.Add(strings.ToLower(good))
	f.Fuzz(func(t *testing.T, s string) {
		it, err := k.decodeIterator(s, now, 5*time.Minute)
		if err != nil {
			if !isKind(err, KindInvalidArgument) && !isKind(err, KindExpiredIterator) {
				t.Fatalf("decodeIterator(%q): unexpected error %v", s, err)
			}
			return
		}
		// Only genuine iterators open; re-encoding one gives an equal state.
		again, err := k.decodeIterator(k.encodeIterator(it), now, 5*time.Minute)
		if err != nil || *again != *it {
			t.Fatalf("re-encoded %+v: %+v, %v", it, again, err)
		}
	})
}

var _ storage.Catalog = (*pebble.Engine)(nil)

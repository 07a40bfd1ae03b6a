package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

// lockWatch is a catalog that reports the first read of a table lock.
type lockWatch struct {
	storage.Catalog
	once     sync.Once
	lockRead chan struct{}
}

func (c *lockWatch) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if strings.HasPrefix(key, lockPrefix) {
		c.once.Do(func() { close(c.lockRead) })
	}
	return c.Catalog.Get(ctx, key)
}

// TestRecoveryTakesTableLocks starts a node's DynamoDB service (cluster
// locks on) while the catalog holds a transaction record whose table lock
// another node holds, as it does while it applies the transaction: the
// service waits for the lock, so the other node's compare-and-set writes
// of the items and its deletion of the record succeed, and a write after
// the transaction is not undone by the record applied again.
func TestRecoveryTakesTableLocks(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const account, region = "123456789012", "us-east-1"
	put := func(key string, value any, rev uint64) uint64 {
		t.Helper()
		raw, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		nrev, err := eng.Put(ctx, key, raw, rev)
		if err != nil {
			t.Fatalf("put %s at revision %d: %v", key, rev, err)
		}
		return nrev
	}
	itemOf := func(pk, v string) map[string]any {
		return map[string]any{"pk": map[string]string{"S": pk}, "v": map[string]string{"N": v}}
	}
	put(metaKey(account, region, "other"), tableMeta{Name: "other", ID: "id0", Account: account, Region: region}, 0)
	put(metaKey(account, region, "accounts"), tableMeta{Name: "accounts", ID: "id1", Account: account, Region: region}, 0)
	k1 := "ddb/" + account + "/" + region + "/data/id1/61/"
	k2 := "ddb/" + account + "/" + region + "/data/id1/62/"
	r1 := put(k1, itemOf("a", "10"), 0)
	r2 := put(k2, itemOf("b", "0"), 0)
	// The other node's transaction moves 5 from a to b: its record, then
	// its lock (taken first in truth; the order here does not matter, as
	// nothing reads either yet).
	lockKey := lockPrefix + account + "/" + region + "/accounts"
	lockRev := put(lockKey, clusterLock{Owner: "other-node", Expires: time.Now().Add(time.Hour).UnixMilli()}, 0)
	v1, _ := json.Marshal(itemOf("a", "5"))
	v2, _ := json.Marshal(itemOf("b", "5"))
	recKey := txnPrefix + "x"
	recRev := put(recKey, intent{Writes: []intentWrite{{Key: k1, Value: v1}, {Key: k2, Value: v2}}}, 0)

	cat := &lockWatch{Catalog: eng, lockRead: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := New(ctx, Options{Catalog: cat, ClusterLocks: true})
		done <- err
	}()
	select {
	case <-cat.lockRead:
	case err := <-done:
		t.Fatalf("New returned (error %v) without reading the table lock another node holds", err)
	}

	// The other node finishes its transaction: its compare-and-set writes
	// find the revisions it read, nothing interleaved.
	put(k1, itemOf("a", "5"), r1)
	r2 = put(k2, itemOf("b", "5"), r2)
	if err := eng.Delete(ctx, recKey, recRev); err != nil {
		t.Fatalf("the other node deleting its transaction record: %v", err)
	}
	// A later write under the same lock.
	put(k2, itemOf("b", "7"), r2)
	if err := eng.Delete(ctx, lockKey, lockRev); err != nil {
		t.Fatal(err)
	}

	if err := <-done; err != nil {
		t.Fatalf("New: %v", err)
	}
	raw, _, err := eng.Get(ctx, k2)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]string
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["v"]["N"] != "7" {
		t.Errorf("item b after the start: v = %s, want 7 (the write after the transaction)", got["v"]["N"])
	}
	if _, _, err := eng.Get(ctx, recKey); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("transaction record after the start: %v, want not found", err)
	}
	if _, _, err := eng.Get(ctx, lockKey); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("table lock after the start: %v, want released", err)
	}
}

// TestRecoveryFinishesInterruptedTransaction: a record whose node died
// (its lock expired) is applied at the next start, under the lock.
func TestRecoveryFinishesInterruptedTransaction(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const account, region = "123456789012", "us-east-1"
	meta, _ := json.Marshal(tableMeta{Name: "accounts", ID: "id1", Account: account, Region: region})
	if _, err := eng.Put(ctx, metaKey(account, region, "accounts"), meta, 0); err != nil {
		t.Fatal(err)
	}
	k1 := "ddb/" + account + "/" + region + "/data/id1/61/"
	k2 := "ddb/" + account + "/" + region + "/data/id1/62/"
	if _, err := eng.Put(ctx, k1, []byte(`{"pk":{"S":"a"}}`), 0); err != nil {
		t.Fatal(err)
	}
	expired, _ := json.Marshal(clusterLock{Owner: "dead-node", Expires: time.Now().Add(-time.Second).UnixMilli()})
	lockKey := lockPrefix + account + "/" + region + "/accounts"
	if _, err := eng.Put(ctx, lockKey, expired, 0); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(intent{Writes: []intentWrite{{Key: k1}, {Key: k2, Value: json.RawMessage(`{"pk":{"S":"b"}}`)}}})
	if _, err := eng.Put(ctx, txnPrefix+"y", rec, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, Options{Catalog: eng, ClusterLocks: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := eng.Get(ctx, k1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("item a: %v, want deleted", err)
	}
	if raw, _, err := eng.Get(ctx, k2); err != nil || string(raw) != `{"pk":{"S":"b"}}` {
		t.Errorf("item b: %s, %v", raw, err)
	}
	for _, k := range []string{txnPrefix + "y", lockKey} {
		if _, _, err := eng.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s after the start: %v, want gone", k, err)
		}
	}
}

package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/jetstream"
	"github.com/millrace/millrace/internal/storage/pebble"
)

func openMem(t testing.TB) *pebble.Engine {
	t.Helper()
	e, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// fill writes catalog entries and three shards: one with several Appends,
// one trimmed to its last Append, one trimmed empty.
func fill(t testing.TB, e engine) []storage.ShardKey {
	t.Helper()
	ctx := context.Background()
	for i := range 5 {
		if _, err := e.Put(ctx, fmt.Sprintf("streams/s%d", i), []byte(fmt.Sprintf(`{"n":%d}`, i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	shards := []storage.ShardKey{{Stream: 1, Shard: 0}, {Stream: 1, Shard: 3}, {Stream: 7, Shard: 1}}
	for i, sk := range shards {
		for a := range 4 {
			entries := make([]storage.Entry, a+1)
			for j := range entries {
				entries[j] = storage.Entry{PartitionKey: []byte(fmt.Sprintf("pk%d", j)), Data: bytes.Repeat([]byte{byte(a + j)}, 10*j)}
			}
			if _, err := e.Append(ctx, sk, int64(1000*(a+1)+i), entries); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Trim(ctx, shards[1], 4000); err != nil {
		t.Fatal(err)
	}
	if err := e.Trim(ctx, shards[2], 10000); err != nil {
		t.Fatal(err)
	}
	return shards
}

// engine is what the tests need of a storage engine.
type engine interface {
	storage.Log
	storage.Catalog
	storage.Exporter
}

func backupOf(t testing.TB, e engine) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(context.Background(), e, &buf, Manifest{Engine: "pebble", Millrace: "test"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openMem(t)
	shards := fill(t, src)
	file := backupOf(t, src)

	m, c, err := Verify(ctx, bytes.NewReader(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != Version || m.Engine != "pebble" {
		t.Errorf("manifest %+v", m)
	}
	if c.CatalogEntries != 5 || c.Shards != 3 || c.Records != 10+4 {
		t.Errorf("counts %+v, want 5 entries, 3 shards, 14 records", c)
	}

	dst := openMem(t)
	rc, err := Restore(ctx, bytes.NewReader(file), dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Counts != c {
		t.Errorf("restore counts %+v, verify counts %+v", rc, c)
	}
	want, _ := src.List(ctx, "")
	got, _ := dst.List(ctx, "")
	if len(got) != len(want) {
		t.Fatalf("catalog: %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("catalog entry %d: %q=%s, want %q=%s", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
	for _, sk := range shards {
		wb, _ := src.Bounds(ctx, sk)
		gb, _ := dst.Bounds(ctx, sk)
		if gb != wb {
			t.Errorf("shard %v bounds %+v, want %+v", sk, gb, wb)
		}
		wr, _ := src.Read(ctx, sk, 0, 1000, 1<<20)
		gr, _ := dst.Read(ctx, sk, 0, 1000, 1<<20)
		if !reflect.DeepEqual(normalize(gr), normalize(wr)) {
			t.Errorf("shard %v records\n got %+v\nwant %+v", sk, gr, wr)
		}
		for _, at := range []int64{0, 1500, 2001, 4002, 99999} {
			ws, _ := src.SeekTime(ctx, sk, at)
			gs, _ := dst.SeekTime(ctx, sk, at)
			if gs != ws {
				t.Errorf("shard %v SeekTime(%d) = %d, want %d", sk, at, gs, ws)
			}
		}
		// Both number on from the same place.
		wa, err1 := src.Append(ctx, sk, 1, []storage.Entry{{PartitionKey: []byte("k")}})
		ga, err2 := dst.Append(ctx, sk, 1, []storage.Entry{{PartitionKey: []byte("k")}})
		if err1 != nil || err2 != nil || wa != ga {
			t.Errorf("shard %v next Append %+v %v, want %+v %v", sk, ga, err2, wa, err1)
		}
	}
	// A second backup of the restored engine holds the same bytes but for
	// the manifest's time and the catalog's revisions (not in the file).
	again := backupOf(t, dst)
	if len(again) < len(file)-64 {
		t.Errorf("backup of the restored engine is %d bytes, the original %d", len(again), len(file))
	}

	if _, err := Restore(ctx, bytes.NewReader(file), dst, nil); err == nil {
		t.Error("restore into an engine that holds data succeeded")
	}
}

// normalize drops the difference between nil and empty slices.
func normalize(rs []storage.Record) []storage.Record {
	out := make([]storage.Record, len(rs))
	for i, r := range rs {
		out[i] = storage.Record{Seq: r.Seq, Arrival: r.Arrival, PartitionKey: append([]byte{}, r.PartitionKey...), Data: append([]byte{}, r.Data...)}
	}
	return out
}

func TestCorruptRefused(t *testing.T) {
	ctx := context.Background()
	src := openMem(t)
	fill(t, src)
	file := backupOf(t, src)
	for i := range file {
		bad := bytes.Clone(file)
		bad[i] ^= 0x10
		if _, _, err := Verify(ctx, bytes.NewReader(bad), nil); err == nil {
			t.Fatalf("a backup with byte %d flipped verified", i)
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerVersion) {
			t.Fatalf("byte %d flipped: error %v is neither ErrCorrupt nor ErrNewerVersion", i, err)
		}
	}
	for _, n := range []int{0, 5, 12, len(file) / 2, len(file) - 1} {
		if _, _, err := Verify(ctx, bytes.NewReader(file[:n]), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	if _, _, err := Verify(ctx, io.MultiReader(bytes.NewReader(file), bytes.NewReader([]byte{0})), nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a byte after the end: %v, want ErrCorrupt", err)
	}
	dst := openMem(t)
	bad := bytes.Clone(file)
	bad[len(bad)-10] ^= 1
	if _, err := Restore(ctx, bytes.NewReader(bad), dst, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("restore of a corrupt backup: %v, want ErrCorrupt", err)
	}
}

func TestNewerVersionRefused(t *testing.T) {
	src := openMem(t)
	file := backupOf(t, src)
	file[11] = Version + 1
	_, _, err := Verify(context.Background(), bytes.NewReader(file), nil)
	if !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("got %v, want ErrNewerVersion", err)
	}
	t.Log(err)
}

func FuzzDecoder(f *testing.F) {
	e, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	fill(f, e)
	var buf bytes.Buffer
	if _, err := Write(context.Background(), e, &buf, Manifest{Engine: "pebble", Millrace: "test"}, nil, nil); err != nil {
		f.Fatal(err)
	}
	e.Close()
	f.Add(buf.Bytes())
	f.Add([]byte(Magic + "\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b))
		for range 10000 {
			it, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerVersion) {
					t.Fatalf("error %v is neither ErrCorrupt nor ErrNewerVersion", err)
				}
				return
			}
			if it.Record != nil && it.Record.Seq == 0 {
				t.Fatal("a record with sequence number 0")
			}
		}
	})
}

func TestKeyFileTravels(t *testing.T) {
	ctx := context.Background()
	src := openMem(t)
	fill(t, src)
	var buf bytes.Buffer
	key := []byte(`{"format":1,"keyringId":"k"}`)
	if _, err := Write(ctx, src, &buf, Manifest{Engine: "pebble", KMSKeyringID: "k"}, func() ([]byte, error) { return key, nil }, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Restore(ctx, bytes.NewReader(buf.Bytes()), openMem(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.KeyFile, key) || res.Manifest.KMSKeyringID != "k" || res.Records != 14 {
		t.Errorf("restored key file %q, keyring %q, %d records", res.KeyFile, res.Manifest.KMSKeyringID, res.Records)
	}
}

// TestFromJetStream backs up the cluster engine (over one embedded NATS
// server) and restores into Pebble: the same records at the same sequence
// numbers, bounds and time lookups, and the next Append numbered above.
func TestFromJetStream(t *testing.T) {
	ctx := context.Background()
	src, err := jetstream.Open(ctx, jetstream.Options{Embed: &jetstream.ServerOptions{Dir: filepath.Join(t.TempDir(), "nats")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	shards := fill(t, src)
	file := backupOf(t, src)
	dst := openMem(t)
	res, err := Restore(ctx, bytes.NewReader(file), dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.CatalogEntries != 5 || res.Shards != 3 || res.Records != 14 {
		t.Errorf("restored %+v, want 5 entries, 3 shards, 14 records", res.Counts)
	}
	for _, sk := range shards {
		wb, _ := src.Bounds(ctx, sk)
		gb, _ := dst.Bounds(ctx, sk)
		if gb != wb {
			t.Errorf("shard %v bounds %+v, want %+v", sk, gb, wb)
		}
		wr, _ := src.Read(ctx, sk, 0, 1000, 1<<20)
		gr, _ := dst.Read(ctx, sk, 0, 1000, 1<<20)
		if !reflect.DeepEqual(normalize(gr), normalize(wr)) {
			t.Errorf("shard %v records\n got %+v\nwant %+v", sk, gr, wr)
		}
		for _, at := range []int64{0, 1500, 2001, 4002, 99999} {
			ws, _ := src.SeekTime(ctx, sk, at)
			gs, _ := dst.SeekTime(ctx, sk, at)
			if gs != ws {
				t.Errorf("shard %v SeekTime(%d) = %d, want %d", sk, at, gs, ws)
			}
		}
		ga, err := dst.Append(ctx, sk, 1, []storage.Entry{{PartitionKey: []byte("k")}})
		if err != nil || ga.FirstSeq < wb.Next {
			t.Errorf("shard %v: Append after the restore at %d (%v), want at or above %d", sk, ga.FirstSeq, err, wb.Next)
		}
	}
}

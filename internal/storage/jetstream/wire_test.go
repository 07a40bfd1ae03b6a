package jetstream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

func TestKeyEncoding(t *testing.T) {
	for _, k := range []string{"", "a", "a/", "/", "streams/000000000000/us-east-1/demo", "z\xff\x00", "a.b c/*/>", "=41"} {
		enc := kvKey(k)
		if strings.Contains(enc, "..") || strings.HasPrefix(enc, ".") || strings.HasSuffix(enc, ".") || strings.ContainsAny(enc, " *>") {
			t.Fatalf("kvKey(%q) = %q: not a valid key", k, enc)
		}
		got, err := catalogKey(enc)
		if err != nil || got != k {
			t.Fatalf("catalogKey(kvKey(%q)) = %q, %v", k, got, err)
		}
	}
	// The filter keeps every key of the prefix.
	for _, tt := range []struct{ prefix, filter string }{
		{"", ">"}, {"a", ">"}, {"a/", "_a.>"}, {"a/b/c", "_a._b.>"},
	} {
		if got := listFilter(tt.prefix); got != tt.filter {
			t.Fatalf("listFilter(%q) = %q, want %q", tt.prefix, got, tt.filter)
		}
	}
}

func FuzzCatalogKey(f *testing.F) {
	f.Add("_a._b=2F")
	f.Add("_=")
	f.Add("_=4")
	f.Fuzz(func(t *testing.T, k string) {
		key, err := catalogKey(k)
		if err != nil {
			return
		}
		if again, err := catalogKey(kvKey(key)); err != nil || again != key {
			t.Fatalf("%q decodes to %q, which does not round-trip: %q %v", k, key, again, err)
		}
	})
}

// FuzzRecords decodes arbitrary message bodies: a body is refused or
// decodes into exactly its count of records, which encode into a body
// that decodes into the same records.
func FuzzRecords(f *testing.F) {
	f.Add(encodeEntries([]storage.Entry{{PartitionKey: []byte("pk"), Data: []byte("data")}, {}}), 2)
	f.Add([]byte{0x80}, 1)
	f.Fuzz(func(t *testing.T, body []byte, count int) {
		if count < 1 || count > maxEntries {
			return
		}
		lm := logMsg{seq: 7, arrival: 1, count: count, data: body}
		var es []storage.Entry
		err := lm.records(func(r storage.Record) bool {
			es = append(es, storage.Entry{PartitionKey: r.PartitionKey, Data: r.Data})
			return true
		})
		if err != nil {
			return
		}
		if len(es) != count {
			t.Fatalf("%d records from a count of %d", len(es), count)
		}
		again := logMsg{seq: 7, arrival: 1, count: count, data: encodeEntries(es)}
		i := 0
		if err := again.records(func(r storage.Record) bool {
			if !bytes.Equal(r.PartitionKey, es[i].PartitionKey) || !bytes.Equal(r.Data, es[i].Data) || r.Seq != firstRecordSeq(7, count)+uint64(i) {
				t.Fatalf("record %d changed through encoding", i)
			}
			i++
			return true
		}); err != nil || i != count {
			t.Fatalf("re-encoded records: %d of %d, %v", i, count, err)
		}
	})
}

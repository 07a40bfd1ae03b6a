package storagetest

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

// Engine is what the suite needs from an engine: both interfaces and Close.
type Engine interface {
	storage.Log
	storage.Catalog
	Close() error
}

// Option adjusts the suite to an engine.
type Option func(*config)

type config struct {
	volatile bool
}

// Volatile declares an engine that keeps nothing across Close (an in-memory
// one): the reopen and crash tests are skipped.
func Volatile() Option { return func(c *config) { c.volatile = true } }

type suite struct {
	open func(t *testing.T, dir string) Engine
	cfg  config
}

// Run runs the whole conformance suite as subtests of t. open must return a
// newly opened engine over dir (every call for one dir sees the same data,
// unless the engine is Volatile); the suite closes the engines it opens.
func Run(t *testing.T, open func(t *testing.T, dir string) Engine, opts ...Option) {
	s := &suite{open: open}
	for _, o := range opts {
		o(&s.cfg)
	}
	t.Run("sequence", s.testSequence)
	t.Run("arrival-clamp", s.testArrivalClamp)
	t.Run("all-or-nothing", s.testAllOrNothing)
	t.Run("read-limits", s.testReadLimits)
	t.Run("read-buffer", s.testReadBuffer)
	t.Run("bounds", s.testBounds)
	t.Run("seek-time", s.testSeekTime)
	t.Run("trim", s.testTrim)
	t.Run("delete-shard", s.testDeleteShard)
	t.Run("isolation", s.testIsolation)
	t.Run("concurrent-appends", s.testConcurrentAppends)
	t.Run("append-many", s.testAppendMany)
	t.Run("append-many-concurrent", s.testAppendManyConcurrent)
	t.Run("close-shard", s.testCloseShard)
	t.Run("closed", s.testClosed)
	t.Run("catalog-cas", s.testCatalogCAS)
	t.Run("catalog-race", s.testCatalogRace)
	t.Run("catalog-list", s.testCatalogList)
	t.Run("reopen", s.testReopen)
	t.Run("crash", s.testCrash)
}

// engine opens an engine on a fresh directory and closes it when the test
// ends.
func (s *suite) engine(t *testing.T) Engine {
	t.Helper()
	return s.openAt(t, t.TempDir())
}

func (s *suite) openAt(t *testing.T, dir string) Engine {
	t.Helper()
	e := s.open(t, dir)
	t.Cleanup(func() {
		if err := e.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// readAll reads a shard's whole visible log in chunks.
func readAll(t testing.TB, l storage.Log, sk storage.ShardKey) []storage.Record {
	t.Helper()
	var out []storage.Record
	var from uint64
	for {
		recs, err := l.Read(context.Background(), sk, from, 1000, 4<<20)
		if err != nil {
			t.Fatalf("Read %v from %d: %v", sk, from, err)
		}
		if len(recs) == 0 {
			return out
		}
		for i := range recs {
			if recs[i].Seq < from {
				t.Fatalf("Read %v from %d returned seq %d", sk, from, recs[i].Seq)
			}
			if len(out) > 0 && recs[i].Seq <= out[len(out)-1].Seq {
				t.Fatalf("Read %v: seq %d after %d", sk, recs[i].Seq, out[len(out)-1].Seq)
			}
			out = append(out, recs[i])
		}
		from = recs[len(recs)-1].Seq + 1
	}
}

func mustAppend(t testing.TB, l storage.Log, sk storage.ShardKey, arrival int64, entries ...storage.Entry) storage.AppendResult {
	t.Helper()
	res, err := l.Append(context.Background(), sk, arrival, entries)
	if err != nil {
		t.Fatalf("Append %v: %v", sk, err)
	}
	return res
}

func mustBounds(t testing.TB, l storage.Log, sk storage.ShardKey) storage.Bounds {
	t.Helper()
	b, err := l.Bounds(context.Background(), sk)
	if err != nil {
		t.Fatalf("Bounds %v: %v", sk, err)
	}
	return b
}

func mustSeek(t testing.TB, l storage.Log, sk storage.ShardKey, at int64) uint64 {
	t.Helper()
	seq, err := l.SeekTime(context.Background(), sk, at)
	if err != nil {
		t.Fatalf("SeekTime %v %d: %v", sk, at, err)
	}
	return seq
}

// entries makes n entries whose partition keys and data name their
// position, with data of the given size.
func entries(tag string, n, size int) []storage.Entry {
	out := make([]storage.Entry, n)
	for i := range out {
		pk := []byte(tag + "-" + strconv.Itoa(i))
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j + len(tag))
		}
		copy(data, pk)
		out[i] = storage.Entry{PartitionKey: pk, Data: data}
	}
	return out
}

// checkRecords checks that recs hold exactly want, stored from firstSeq on
// with contiguous sequence numbers and the given arrival.
func checkRecords(t testing.TB, recs []storage.Record, firstSeq uint64, arrival int64, want []storage.Entry) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i := range recs {
		r := &recs[i]
		if r.Seq != firstSeq+uint64(i) {
			t.Fatalf("record %d: seq %d, want %d", i, r.Seq, firstSeq+uint64(i))
		}
		if r.Arrival != arrival {
			t.Fatalf("record %d: arrival %d, want %d", i, r.Arrival, arrival)
		}
		if string(r.PartitionKey) != string(want[i].PartitionKey) || string(r.Data) != string(want[i].Data) {
			t.Fatalf("record %d: got pk %q data %d bytes, want pk %q data %d bytes",
				i, r.PartitionKey, len(r.Data), want[i].PartitionKey, len(want[i].Data))
		}
	}
}

package storagetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

var (
	shardA = storage.ShardKey{Stream: 1, Shard: 0}
	shardB = storage.ShardKey{Stream: 1, Shard: 1}
)

func (s *suite) testSequence(t *testing.T) {
	e := s.engine(t)
	first := entries("a", 3, 10)
	r1 := mustAppend(t, e, shardA, 1000, first...)
	if r1.FirstSeq < 1 {
		t.Fatalf("first Append got seq %d, want at least 1", r1.FirstSeq)
	}
	if r1.Arrival != 1000 {
		t.Fatalf("Arrival %d, want 1000", r1.Arrival)
	}
	second := entries("b", 5, 20)
	r2 := mustAppend(t, e, shardA, 1001, second...)
	if r2.FirstSeq < r1.FirstSeq+3 {
		t.Fatalf("second Append got seq %d, want more than %d", r2.FirstSeq, r1.FirstSeq+2)
	}
	one := entries("c", 1, 0)
	r3 := mustAppend(t, e, shardA, 1002, one...)
	if r3.FirstSeq < r2.FirstSeq+5 {
		t.Fatalf("third Append got seq %d, want more than %d", r3.FirstSeq, r2.FirstSeq+4)
	}

	recs := readAll(t, e, shardA)
	if len(recs) != 9 {
		t.Fatalf("read %d records, want 9", len(recs))
	}
	checkRecords(t, recs[:3], r1.FirstSeq, 1000, first)
	checkRecords(t, recs[3:8], r2.FirstSeq, 1001, second)
	checkRecords(t, recs[8:], r3.FirstSeq, 1002, one)

	// Reading from a sequence number inside a gap (if any) or inside the
	// log starts at the next stored record.
	recs, err := e.Read(context.Background(), shardA, r1.FirstSeq+1, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 || recs[0].Seq != r1.FirstSeq+1 {
		t.Fatalf("Read from %d: %d records starting at %d", r1.FirstSeq+1, len(recs), recs[0].Seq)
	}
}

func (s *suite) testArrivalClamp(t *testing.T) {
	e := s.engine(t)
	r1 := mustAppend(t, e, shardA, 5000, entries("a", 2, 1)...)
	r2 := mustAppend(t, e, shardA, 4000, entries("b", 2, 1)...)
	if r2.Arrival != 5000 {
		t.Fatalf("Append with an older arrival: got arrival %d, want it raised to 5000", r2.Arrival)
	}
	r3 := mustAppend(t, e, shardA, 6000, entries("c", 1, 1)...)
	if r3.Arrival != 6000 {
		t.Fatalf("Append with a newer arrival: got %d, want 6000", r3.Arrival)
	}
	// Another shard has its own clock.
	rb := mustAppend(t, e, shardB, 10, entries("d", 1, 1)...)
	if rb.Arrival != 10 {
		t.Fatalf("other shard: arrival %d, want 10", rb.Arrival)
	}
	recs := readAll(t, e, shardA)
	want := []int64{5000, 5000, 5000, 5000, 6000}
	for i, r := range recs {
		if r.Arrival != want[i] {
			t.Fatalf("record %d (seq %d): arrival %d, want %d", i, r.Seq, r.Arrival, want[i])
		}
	}
	if recs[0].Seq != r1.FirstSeq || recs[2].Seq != r2.FirstSeq {
		t.Fatalf("unexpected seqs %d, %d", recs[0].Seq, recs[2].Seq)
	}
	if b := mustBounds(t, e, shardA); b.LastArrival != 6000 {
		t.Fatalf("LastArrival %d, want 6000", b.LastArrival)
	}
}

// testAllOrNothing checks that a failed Append leaves nothing behind and
// that readers only ever see whole Appends.
func (s *suite) testAllOrNothing(t *testing.T) {
	e := s.engine(t)
	mustAppend(t, e, shardA, 1, entries("a", 2, 8)...)
	before := mustBounds(t, e, shardA)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Append(ctx, shardA, 2, entries("x", 3, 8)); err == nil {
		t.Fatal("Append with a cancelled context succeeded")
	}
	if _, err := e.Append(context.Background(), shardA, 2, nil); err == nil {
		t.Fatal("Append of no entries succeeded")
	}
	if after := mustBounds(t, e, shardA); after != before {
		t.Fatalf("failed Append changed bounds from %+v to %+v", before, after)
	}
	if n := len(readAll(t, e, shardA)); n != 2 {
		t.Fatalf("%d records after a failed Append, want 2", n)
	}

	// While one writer appends batches of 50, readers must only ever see
	// the log end at an Append boundary.
	const batches = 40
	boundaries := map[uint64]bool{before.Next: true}
	var (
		mu       sync.Mutex
		observed []uint64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := e.Bounds(context.Background(), shardA)
				if err != nil {
					t.Error(err)
					return
				}
				recs, err := e.Read(context.Background(), shardA, b.First, 100000, 64<<20)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				observed = append(observed, b.Next)
				if len(recs) > 0 {
					observed = append(observed, recs[len(recs)-1].Seq+1)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range batches {
		r := mustAppend(t, e, shardA, int64(10+i), entries("b", 50, 16)...)
		boundaries[r.FirstSeq+50] = true
	}
	close(stop)
	wg.Wait()
	for _, n := range observed {
		if !boundaries[n] {
			t.Fatalf("a reader saw the log end at %d, inside an Append", n)
		}
	}
}

func (s *suite) testReadLimits(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	// Ten records of size 100 (4-byte key + 96 bytes), then one of 5000,
	// then two more of 100.
	small := make([]storage.Entry, 10)
	for i := range small {
		small[i] = storage.Entry{PartitionKey: []byte("k-" + string(rune('a'+i)) + "0"), Data: make([]byte, 96)}
		small[i].Data[0] = byte(i)
	}
	r1 := mustAppend(t, e, shardA, 1, small...)
	big := storage.Entry{PartitionKey: []byte("big!"), Data: make([]byte, 4996)}
	r2 := mustAppend(t, e, shardA, 2, big)
	r3 := mustAppend(t, e, shardA, 3, small[:2]...)

	count := func(from uint64, maxRecords, maxBytes int) []storage.Record {
		t.Helper()
		recs, err := e.Read(ctx, shardA, from, maxRecords, maxBytes)
		if err != nil {
			t.Fatalf("Read(%d, %d, %d): %v", from, maxRecords, maxBytes, err)
		}
		total := 0
		for i := range recs {
			total += recs[i].Size()
		}
		if len(recs) > maxRecords {
			t.Fatalf("Read(%d, %d, %d) returned %d records", from, maxRecords, maxBytes, len(recs))
		}
		if len(recs) > 1 && total > maxBytes {
			t.Fatalf("Read(%d, %d, %d) returned %d bytes in %d records", from, maxRecords, maxBytes, total, len(recs))
		}
		return recs
	}
	tests := []struct {
		name       string
		from       uint64
		maxRecords int
		maxBytes   int
		wantFirst  uint64
		wantN      int
	}{
		{"maxRecords", r1.FirstSeq, 3, 1 << 20, r1.FirstSeq, 3},
		{"maxBytes exact", r1.FirstSeq, 100, 300, r1.FirstSeq, 3},
		{"maxBytes one short", r1.FirstSeq, 100, 299, r1.FirstSeq, 2},
		{"first record over maxBytes", r1.FirstSeq, 100, 1, r1.FirstSeq, 1},
		{"from the middle", r1.FirstSeq + 4, 100, 350, r1.FirstSeq + 4, 3},
		{"stops before a big record", r1.FirstSeq + 8, 100, 1000, r1.FirstSeq + 8, 2},
		{"big record alone", r2.FirstSeq, 100, 1000, r2.FirstSeq, 1},
		{"big record fits", r2.FirstSeq, 100, 5200, r2.FirstSeq, 3},
		{"everything", 0, 100, 1 << 20, r1.FirstSeq, 13},
		{"past the end", r3.FirstSeq + 2, 100, 1 << 20, 0, 0},
		{"far past the end", 1 << 62, 100, 1 << 20, 0, 0},
	}
	for _, tt := range tests {
		recs := count(tt.from, tt.maxRecords, tt.maxBytes)
		if len(recs) != tt.wantN {
			t.Fatalf("%s: got %d records, want %d", tt.name, len(recs), tt.wantN)
		}
		if tt.wantN > 0 && recs[0].Seq != tt.wantFirst {
			t.Fatalf("%s: first seq %d, want %d", tt.name, recs[0].Seq, tt.wantFirst)
		}
	}

	for _, lim := range [][2]int{{0, 100}, {100, 0}, {-1, -1}} {
		if _, err := e.Read(ctx, shardA, 0, lim[0], lim[1]); err == nil {
			t.Fatalf("Read with limits %d records, %d bytes succeeded", lim[0], lim[1])
		}
	}

	// Returned slices belong to the caller.
	recs := count(r1.FirstSeq, 1, 1<<20)
	recs[0].Data[0] = 0xee
	recs[0].PartitionKey[0] = 'X'
	again := count(r1.FirstSeq, 1, 1<<20)
	if again[0].Data[0] != 0 || again[0].PartitionKey[0] != 'k' {
		t.Fatal("modifying a returned record changed the stored one")
	}
}

func (s *suite) testBounds(t *testing.T) {
	e := s.engine(t)
	b := mustBounds(t, e, shardA)
	if b.Next < 1 || b.First != b.Next || b.LastArrival != 0 {
		t.Fatalf("empty shard: %+v, want First == Next >= 1 and LastArrival 0", b)
	}
	r1 := mustAppend(t, e, shardA, 70, entries("a", 4, 3)...)
	if r1.FirstSeq < b.Next {
		t.Fatalf("first Append got seq %d below the empty shard's Next %d", r1.FirstSeq, b.Next)
	}
	r2 := mustAppend(t, e, shardA, 80, entries("b", 2, 3)...)
	b = mustBounds(t, e, shardA)
	want := storage.Bounds{First: r1.FirstSeq, Next: r2.FirstSeq + 2, LastArrival: 80}
	if b != want {
		t.Fatalf("Bounds %+v, want %+v", b, want)
	}
}

func (s *suite) testSeekTime(t *testing.T) {
	e := s.engine(t)
	if got, next := mustSeek(t, e, shardA, 100), mustBounds(t, e, shardA).Next; got != next {
		t.Fatalf("SeekTime on an empty shard: %d, want Next %d", got, next)
	}
	a100 := mustAppend(t, e, shardA, 100, entries("a", 3, 1)...)
	a200 := mustAppend(t, e, shardA, 200, entries("b", 2, 1)...)
	mustAppend(t, e, shardA, 200, entries("c", 1, 1)...)
	a300 := mustAppend(t, e, shardA, 300, entries("d", 2, 1)...)
	next := mustBounds(t, e, shardA).Next
	tests := []struct {
		at   int64
		want uint64
	}{
		{-5, a100.FirstSeq},
		{50, a100.FirstSeq},
		{100, a100.FirstSeq},
		{101, a200.FirstSeq},
		{150, a200.FirstSeq},
		{200, a200.FirstSeq},
		{250, a300.FirstSeq},
		{300, a300.FirstSeq},
		{301, next},
		{1 << 50, next},
	}
	for _, tt := range tests {
		if got := mustSeek(t, e, shardA, tt.at); got != tt.want {
			t.Fatalf("SeekTime(%d) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

func (s *suite) testTrim(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	if err := e.Trim(ctx, shardA, 1000); err != nil {
		t.Fatalf("Trim on an empty shard: %v", err)
	}
	mustAppend(t, e, shardA, 100, entries("a", 3, 1)...)
	a200 := mustAppend(t, e, shardA, 200, entries("b", 2, 1)...)
	a300 := mustAppend(t, e, shardA, 300, entries("c", 2, 1)...)
	mustAppend(t, e, shardB, 100, entries("other", 2, 1)...)

	if err := e.Trim(ctx, shardA, 200); err != nil {
		t.Fatal(err)
	}
	b := mustBounds(t, e, shardA)
	if b.First != a200.FirstSeq || b.Next != a300.FirstSeq+2 {
		t.Fatalf("after Trim(200): %+v, want First %d Next %d", b, a200.FirstSeq, a300.FirstSeq+2)
	}
	recs := readAll(t, e, shardA)
	if len(recs) != 4 || recs[0].Seq != a200.FirstSeq {
		t.Fatalf("after Trim(200): %d records from %d, want 4 from %d", len(recs), recs[0].Seq, a200.FirstSeq)
	}
	if got := mustSeek(t, e, shardA, 50); got != a200.FirstSeq {
		t.Fatalf("SeekTime(50) after Trim = %d, want %d", got, a200.FirstSeq)
	}
	// Trimming less than already trimmed changes nothing.
	if err := e.Trim(ctx, shardA, 150); err != nil {
		t.Fatal(err)
	}
	if got := mustBounds(t, e, shardA); got != b {
		t.Fatalf("Trim(150) after Trim(200) changed bounds: %+v -> %+v", b, got)
	}
	// Trim at an arrival in the middle of an Append's range drops only
	// whole Appends.
	if err := e.Trim(ctx, shardA, 250); err != nil {
		t.Fatal(err)
	}
	if b := mustBounds(t, e, shardA); b.First != a300.FirstSeq {
		t.Fatalf("after Trim(250): First %d, want %d", b.First, a300.FirstSeq)
	}
	if len(readAll(t, e, shardB)) != 2 {
		t.Fatal("Trim on one shard removed records of another")
	}

	// Trim everything: the shard is empty but keeps its position.
	if err := e.Trim(ctx, shardA, 1000); err != nil {
		t.Fatal(err)
	}
	b = mustBounds(t, e, shardA)
	if b.First != b.Next || b.Next != a300.FirstSeq+2 {
		t.Fatalf("after trimming everything: %+v, want First == Next == %d", b, a300.FirstSeq+2)
	}
	if n := len(readAll(t, e, shardA)); n != 0 {
		t.Fatalf("%d records after trimming everything", n)
	}
	if got := mustSeek(t, e, shardA, 0); got != b.Next {
		t.Fatalf("SeekTime after trimming everything = %d, want %d", got, b.Next)
	}
	r := mustAppend(t, e, shardA, 400, entries("d", 1, 1)...)
	if r.FirstSeq < b.Next {
		t.Fatalf("Append after trimming everything got seq %d, below %d", r.FirstSeq, b.Next)
	}
	if recs := readAll(t, e, shardA); len(recs) != 1 || recs[0].Seq != r.FirstSeq {
		t.Fatalf("after Append: %d records", len(recs))
	}
}

func (s *suite) testDeleteShard(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	mustAppend(t, e, shardA, 100, entries("a", 5, 10)...)
	mustAppend(t, e, shardB, 100, entries("b", 3, 10)...)
	if err := e.DeleteShard(ctx, shardA); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, e, shardA)); n != 0 {
		t.Fatalf("%d records after DeleteShard", n)
	}
	b := mustBounds(t, e, shardA)
	if b.First != b.Next {
		t.Fatalf("Bounds after DeleteShard: %+v", b)
	}
	if got := mustSeek(t, e, shardA, 0); got != b.Next {
		t.Fatalf("SeekTime after DeleteShard = %d, want %d", got, b.Next)
	}
	if n := len(readAll(t, e, shardB)); n != 3 {
		t.Fatalf("DeleteShard removed records of another shard: %d left of 3", n)
	}
	if err := e.DeleteShard(ctx, storage.ShardKey{Stream: 99, Shard: 9}); err != nil {
		t.Fatalf("DeleteShard of a shard never written: %v", err)
	}
	// The key can be written again.
	r := mustAppend(t, e, shardA, 50, entries("c", 2, 1)...)
	recs := readAll(t, e, shardA)
	if len(recs) != 2 || recs[0].Seq != r.FirstSeq || recs[0].Arrival != 50 {
		t.Fatalf("after DeleteShard and Append: %d records", len(recs))
	}
}

func (s *suite) testIsolation(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	// Neighbouring keys in every byte-order sense.
	keys := []storage.ShardKey{
		{Stream: 1, Shard: 0},
		{Stream: 1, Shard: 1},
		{Stream: 1, Shard: 0xffffffff},
		{Stream: 2, Shard: 0},
		{Stream: 0xffffffffffffffff, Shard: 0xffffffff},
		{Stream: 0, Shard: 0},
	}
	for i, k := range keys {
		mustAppend(t, e, k, int64(100*(i+1)), entries("s"+strconv.Itoa(i), i+1, 4)...)
	}
	for i, k := range keys {
		recs := readAll(t, e, k)
		if len(recs) != i+1 {
			t.Fatalf("shard %v: %d records, want %d", k, len(recs), i+1)
		}
		for _, r := range recs {
			if r.Arrival != int64(100*(i+1)) || string(r.PartitionKey[:len("s"+strconv.Itoa(i))]) != "s"+strconv.Itoa(i) {
				t.Fatalf("shard %v holds a record of another shard: %+v", k, r)
			}
		}
	}
	if err := e.Trim(ctx, keys[2], 1<<40); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteShard(ctx, keys[4]); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		want := i + 1
		if i == 2 || i == 4 {
			want = 0
		}
		if n := len(readAll(t, e, k)); n != want {
			t.Fatalf("shard %v: %d records after Trim/DeleteShard of others, want %d", k, n, want)
		}
		if i != 2 && i != 4 {
			if got := mustSeek(t, e, k, 0); got != readAll(t, e, k)[0].Seq {
				t.Fatalf("shard %v: SeekTime(0) = %d", k, got)
			}
		}
	}
}

func (s *suite) testClosed(t *testing.T) {
	e := s.engine(t)
	ctx := context.Background()
	mustAppend(t, e, shardA, 1, entries("a", 1, 1)...)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Read(cancelled, shardA, 0, 10, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: %v", err)
	}
	if _, err := e.Put(cancelled, "k", []byte("v"), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{}
	_, checks["Append"] = e.Append(ctx, shardA, 2, entries("b", 1, 1))
	_, checks["Read"] = e.Read(ctx, shardA, 0, 10, 100)
	_, checks["Bounds"] = e.Bounds(ctx, shardA)
	_, checks["SeekTime"] = e.SeekTime(ctx, shardA, 0)
	checks["Trim"] = e.Trim(ctx, shardA, 0)
	checks["DeleteShard"] = e.DeleteShard(ctx, shardA)
	_, _, checks["Get"] = e.Get(ctx, "k")
	_, checks["Put"] = e.Put(ctx, "k", nil, 0)
	checks["Delete"] = e.Delete(ctx, "k", 1)
	_, checks["List"] = e.List(ctx, "")
	for op, err := range checks {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: %v, want storage.ErrClosed", op, err)
		}
	}
}

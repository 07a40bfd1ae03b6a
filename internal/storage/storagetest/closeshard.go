package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

// testCloseShard checks storage.ShardCloser, for engines that implement
// it: a closed shard refuses Appends, keeps its records and its end
// (Bounds, SeekTime) through Trim and a second close, and a shard never
// written can be closed too.
func (s *suite) testCloseShard(t *testing.T) {
	e := s.engine(t)
	c, ok := e.(storage.ShardCloser)
	if !ok {
		t.Skip("the engine does not implement storage.ShardCloser")
	}
	ctx := context.Background()
	mustAppend(t, e, shardA, 100, entries("a", 3, 1)...)
	last := mustAppend(t, e, shardA, 200, entries("b", 2, 1)...)
	b, err := c.CloseShard(ctx, shardA)
	if err != nil {
		t.Fatal(err)
	}
	if b.Next <= last.FirstSeq+1 || b.LastArrival != 200 {
		t.Fatalf("CloseShard: %+v; want Next above the last record %d and LastArrival 200", b, last.FirstSeq+1)
	}
	if _, err := e.Append(ctx, shardA, 300, entries("c", 1, 1)); !errors.Is(err, storage.ErrShardClosed) {
		t.Fatalf("Append to a closed shard: %v; want ErrShardClosed", err)
	}
	many := []storage.ShardAppend{{Shard: shardA, Entries: entries("d", 1, 1)}, {Shard: shardB, Entries: entries("d", 1, 1)}}
	e.AppendMany(ctx, 300, many)
	if !errors.Is(many[0].Err, storage.ErrShardClosed) || many[1].Err != nil {
		t.Fatalf("AppendMany to a closed and an open shard: %v, %v; want ErrShardClosed and success", many[0].Err, many[1].Err)
	}
	if recs := readAll(t, e, shardA); len(recs) != 5 || recs[4].Seq != last.FirstSeq+1 {
		t.Fatalf("a closed shard reads %d records; want the 5 appended before the close", len(recs))
	}
	if again, err := c.CloseShard(ctx, shardA); err != nil || again != b {
		t.Fatalf("closing again: %+v, %v; want %+v", again, err, b)
	}
	if got := mustBounds(t, e, shardA); got != b {
		t.Fatalf("Bounds of the closed shard %+v; want CloseShard's %+v", got, b)
	}
	if got := mustSeek(t, e, shardA, 201); got != b.Next {
		t.Fatalf("SeekTime after the last record: %d; want Next %d", got, b.Next)
	}
	if err := e.Trim(ctx, shardA, 1000); err != nil {
		t.Fatal(err)
	}
	if recs := readAll(t, e, shardA); len(recs) != 0 {
		t.Fatalf("%d records after trimming everything", len(recs))
	}
	if got := mustBounds(t, e, shardA); got.Next != b.Next || got.First != b.Next || got.LastArrival != 200 {
		t.Fatalf("Bounds after trimming everything: %+v; want First = Next = %d, LastArrival 200", got, b.Next)
	}
	if _, err := e.Append(ctx, shardA, 300, entries("e", 1, 1)); !errors.Is(err, storage.ErrShardClosed) {
		t.Fatalf("Append to a closed shard trimmed empty: %v; want ErrShardClosed", err)
	}
	empty := storage.ShardKey{Stream: shardA.Stream, Shard: 9}
	eb, err := c.CloseShard(ctx, empty)
	if err != nil || eb.First != eb.Next || eb.Next < 1 {
		t.Fatalf("closing a shard never written: %+v, %v", eb, err)
	}
	if _, err := e.Append(ctx, empty, 300, entries("f", 1, 1)); !errors.Is(err, storage.ErrShardClosed) {
		t.Fatalf("Append to a shard closed unwritten: %v; want ErrShardClosed", err)
	}
}

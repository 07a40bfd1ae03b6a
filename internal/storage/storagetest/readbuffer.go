package storagetest

import (
	"bytes"
	"context"
	"testing"
	"unsafe"

	"github.com/millrace/millrace/internal/storage"
)

// testReadBuffer checks storage.BufferReader, for engines that have it:
// ReadBuffer returns what Read returns, in recs's memory and in buf's
// while buf has room, and records past buf's room are still whole.
func (s *suite) testReadBuffer(t *testing.T) {
	e := s.engine(t)
	br, ok := e.(storage.BufferReader)
	if !ok {
		t.Skip("the engine does not implement storage.BufferReader")
	}
	ctx := context.Background()
	entries := make([]storage.Entry, 20)
	for i := range entries {
		entries[i] = storage.Entry{PartitionKey: []byte{'k', byte('a' + i)}, Data: bytes.Repeat([]byte{byte(i)}, 98)}
	}
	r := mustAppend(t, e, shardA, 1, entries...)
	want, err := e.Read(ctx, shardA, r.FirstSeq, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]storage.Record, 0, 32)
	buf := make([]byte, 1000) // room for the first ten records
	for round := 0; round < 2; round++ {
		got, err := br.ReadBuffer(ctx, shardA, r.FirstSeq, 100, 1<<20, recs, buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("ReadBuffer returned %d records, Read %d", len(got), len(want))
		}
		if unsafe.SliceData(got) != unsafe.SliceData(recs) {
			t.Error("ReadBuffer did not put the records in the slice given")
		}
		for i := range got {
			g, w := &got[i], &want[i]
			if g.Seq != w.Seq || g.Arrival != w.Arrival || !bytes.Equal(g.PartitionKey, w.PartitionKey) || !bytes.Equal(g.Data, w.Data) {
				t.Fatalf("record %d: ReadBuffer %+v, Read %+v", i, *g, *w)
			}
			inBuf := uintptr(unsafe.Pointer(unsafe.SliceData(g.Data))) >= uintptr(unsafe.Pointer(&buf[0])) &&
				uintptr(unsafe.Pointer(unsafe.SliceData(g.Data))) < uintptr(unsafe.Pointer(&buf[0]))+uintptr(len(buf))
			if i < 10 && !inBuf {
				t.Errorf("record %d is not in the buffer given, which had room for it", i)
			}
			if i >= 10 && inBuf {
				t.Errorf("record %d is in the buffer given, which had no room for it", i)
			}
		}
		// Writing over the buffer changes none of the records stored.
		for i := range buf {
			buf[i] = 0xee
		}
	}
	limited, err := br.ReadBuffer(ctx, shardA, r.FirstSeq, 3, 1<<20, nil, nil)
	if err != nil || len(limited) != 3 {
		t.Fatalf("ReadBuffer with 3 records at most and no buffer: %d records, %v", len(limited), err)
	}
}

package pebble_test

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/pebble"
)

func benchEngine(b *testing.B) *pebble.Engine {
	b.Helper()
	e, err := pebble.Open(pebble.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkAppend is one PutRecords call: 500 records of 1 KiB with random
// partition keys, routed to 4 shards by MD5 as Kinesis does, one fsync'd
// Append per shard, the 4 in parallel.
func BenchmarkAppend(b *testing.B) {
	e := benchEngine(b)
	const records, shards = 500, 4
	rng := rand.New(rand.NewPCG(1, 2))
	perShard := make([][]storage.Entry, shards)
	for range records {
		pk := []byte("pk-" + strconv.Itoa(rng.Int()))
		h := md5.Sum(pk)
		s := binary.BigEndian.Uint32(h[:4]) % shards
		data := make([]byte, 1024)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		perShard[s] = append(perShard[s], storage.Entry{PartitionKey: pk, Data: data})
	}
	ctx := context.Background()
	b.SetBytes(records * 1024)
	b.ResetTimer()
	for b.Loop() {
		done := make(chan error, shards)
		for s := range shards {
			go func() {
				_, err := e.Append(ctx, storage.ShardKey{Stream: 1, Shard: uint32(s)}, time.Now().UnixMilli(), perShard[s])
				done <- err
			}()
		}
		for range shards {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRead reads 10,000 records of 1 KiB in one call.
func BenchmarkRead(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	sk := storage.ShardKey{Stream: 1, Shard: 0}
	const records = 10000
	data := make([]byte, 1024)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var first uint64
	for i := 0; i < records; i += 500 {
		es := make([]storage.Entry, 500)
		for j := range es {
			es[j] = storage.Entry{PartitionKey: []byte("pk-" + strconv.Itoa(i+j)), Data: data}
		}
		res, err := e.Append(ctx, sk, 1, es)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = res.FirstSeq
		}
	}
	b.SetBytes(records * 1024)
	b.ResetTimer()
	for b.Loop() {
		recs, err := e.Read(ctx, sk, first, records, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) != records {
			b.Fatalf("read %d records", len(recs))
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkOpenEmpty measures Open and Close of a new data directory.
func BenchmarkOpenEmpty(b *testing.B) {
	for b.Loop() {
		e, err := pebble.Open(pebble.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

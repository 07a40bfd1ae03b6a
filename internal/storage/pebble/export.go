package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/millrace/millrace/internal/storage"
)

var (
	_ storage.Exporter = (*Engine)(nil)
	_ storage.Importer = (*Engine)(nil)
)

// Export hands sink everything in one Pebble snapshot: the catalog and
// every shard's records are as they were at one instant, across all
// shards, while writes go on. A write applied at that instant but not yet
// synced is in the snapshot; Export syncs the write-ahead log before
// reading, so that nothing it hands over can be lost in a crash (such a
// write is acknowledged moments later, or the engine stops).
func (e *Engine) Export(ctx context.Context, sink storage.ExportSink) error {
	done, err := e.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := e.failure(); err != nil {
		return err
	}
	snap := e.db.NewSnapshot()
	defer snap.Close()
	if err := e.db.LogData(nil, pdb.Sync); err != nil {
		return e.fail(err)
	}
	if err := exportCatalog(ctx, snap, sink); err != nil {
		return err
	}
	shards, err := snapshotShards(snap)
	if err != nil {
		return err
	}
	for _, sk := range shards {
		if err := exportShard(ctx, snap, sk, sink); err != nil {
			return err
		}
	}
	return nil
}

func exportCatalog(ctx context.Context, r pdb.Reader, sink storage.ExportSink) error {
	lower := []byte{prefixCatalog}
	it, err := r.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("pebble: export catalog: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("pebble: export catalog: %w", err)
		}
		if len(v) < 8 {
			return fmt.Errorf("%w: catalog key %q", errCorrupt, it.Key()[1:])
		}
		kv := storage.KV{Key: string(it.Key()[1:]), Value: append([]byte{}, v[8:]...), Rev: binary.BigEndian.Uint64(v)}
		if err := sink.CatalogEntry(kv); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("pebble: export catalog: %w", err)
	}
	return nil
}

// snapshotShards lists, in key order, every shard that has records or a
// meta entry (one whose records were all trimmed), one seek per shard.
func snapshotShards(r pdb.Reader) ([]storage.ShardKey, error) {
	seen := make(map[storage.ShardKey]bool)
	var out []storage.ShardKey
	for _, p := range []byte{prefixRecord, prefixShardMeta} {
		lower := []byte{p}
		it, err := r.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
		if err != nil {
			return nil, fmt.Errorf("pebble: export: %w", err)
		}
		for ok := it.First(); ok; {
			k := it.Key()
			if len(k) < shardPrefixLen {
				it.Close()
				return nil, fmt.Errorf("%w: key %x", errCorrupt, k)
			}
			sk := storage.ShardKey{Stream: binary.BigEndian.Uint64(k[1:9]), Shard: binary.BigEndian.Uint32(k[9:13])}
			if !seen[sk] {
				seen[sk] = true
				out = append(out, sk)
			}
			ok = it.SeekGE(prefixEnd(k[:shardPrefixLen]))
		}
		err = it.Error()
		it.Close()
		if err != nil {
			return nil, fmt.Errorf("pebble: export: %w", err)
		}
	}
	slices.SortFunc(out, compareShardKeys)
	return out, nil
}

func exportShard(ctx context.Context, r pdb.Reader, sk storage.ShardKey, sink storage.ExportSink) error {
	b, err := readBounds(r, sk)
	if err != nil {
		return err
	}
	if err := sink.Shard(sk, b); err != nil {
		return err
	}
	lower := shardPrefix(prefixRecord, sk)
	it, err := r.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("pebble: export shard: %w", err)
	}
	defer it.Close()
	var rec storage.Record
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		seq, err := recordKeySeq(it.Key())
		if err != nil {
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("pebble: export shard: %w", err)
		}
		arrival, pk, data, err := decodeRecordValue(v)
		if err != nil {
			return fmt.Errorf("%w: shard %d/%d seq %d", err, sk.Stream, sk.Shard, seq)
		}
		rec = storage.Record{Seq: seq, Arrival: arrival, PartitionKey: pk, Data: data}
		if err := sink.Record(&rec); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("pebble: export shard: %w", err)
	}
	return nil
}

// ImportRecords writes records at their own sequence numbers, with a
// time-index entry wherever the arrival changes (and at the start of each
// call), as one synced batch.
func (e *Engine) ImportRecords(ctx context.Context, sk storage.ShardKey, records []storage.Record) error {
	done, err := e.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if len(records) == 0 {
		return nil
	}
	if err := e.failure(); err != nil {
		return err
	}
	s, err := e.lockShard(sk)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	empty := s.first >= s.next
	prevSeq, prevArrival := s.next-1, s.lastArrival
	b := e.db.NewBatch()
	defer b.Close()
	for i := range records {
		r := &records[i]
		if r.Seq <= prevSeq {
			return fmt.Errorf("pebble: import into shard %d/%d: sequence number %d is not above %d", sk.Stream, sk.Shard, r.Seq, prevSeq)
		}
		if r.Arrival < prevArrival {
			return fmt.Errorf("pebble: import into shard %d/%d: arrival %d of sequence number %d is before %d", sk.Stream, sk.Shard, r.Arrival, r.Seq, prevArrival)
		}
		entry := storage.Entry{PartitionKey: r.PartitionKey, Data: r.Data}
		op := b.SetDeferred(recordKeyLen, recordValueLen(&entry))
		putRecordKey(op.Key, sk, r.Seq)
		putRecordValue(op.Value, r.Arrival, &entry)
		if err := op.Finish(); err != nil {
			return fmt.Errorf("pebble: import: %w", err)
		}
		if i == 0 || r.Arrival != prevArrival {
			if err := b.Set(indexKey(sk, r.Arrival, r.Seq), nil, nil); err != nil {
				return fmt.Errorf("pebble: import: %w", err)
			}
		}
		prevSeq, prevArrival = r.Seq, r.Arrival
	}
	if err := e.db.Apply(b, syncWrite); err != nil {
		return fmt.Errorf("pebble: import: %w", err)
	}
	if empty {
		s.first = records[0].Seq
	}
	s.next, s.lastArrival = prevSeq+1, prevArrival
	s.durable, s.durableArrival = s.next, s.lastArrival
	return nil
}

// ImportBounds writes the shard's meta entry, as Trim does, so that the
// shard numbers on from b.Next and keeps b.LastArrival after a restart
// whatever records it holds.
func (e *Engine) ImportBounds(ctx context.Context, sk storage.ShardKey, bounds storage.Bounds) error {
	done, err := e.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := e.failure(); err != nil {
		return err
	}
	s, err := e.lockShard(sk)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if bounds.Next < s.next {
		return fmt.Errorf("pebble: import into shard %d/%d: next sequence number %d is below the records' %d", sk.Stream, sk.Shard, bounds.Next, s.next)
	}
	if bounds.LastArrival < s.lastArrival {
		return errors.New("pebble: import: last arrival before the records' last arrival")
	}
	if err := e.db.Set(shardPrefix(prefixShardMeta, sk), shardMetaValue(bounds.Next, bounds.LastArrival), syncWrite); err != nil {
		return fmt.Errorf("pebble: import: %w", err)
	}
	empty := s.first >= s.next
	s.next, s.lastArrival = bounds.Next, bounds.LastArrival
	if empty {
		s.first = s.next
	}
	s.durable, s.durableArrival = s.next, s.lastArrival
	return nil
}

package jetstream

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/millrace/millrace/internal/storage"
)

var _ storage.Exporter = (*Engine)(nil)

// exportBatch bounds one Read of an Export.
const (
	exportBatchRecords = 1000
	exportBatchBytes   = 4 << 20
)

// Export hands sink the catalog as List returns it, then every shard's
// log, each read up to the bounds it has when its turn comes. Each shard
// is a copy of one instant, but JetStream has no snapshot across streams:
// shards are copied one after another while writes go on. The catalog is
// read first, so that every position it holds (a checkpoint, a shard's
// starting sequence number) is at or below what the copied logs hold.
// The sequence numbers are JetStream's (stream sequence << 16, see the
// package comment); an engine that imports records at their own numbers
// takes them as they are.
func (e *Engine) Export(ctx context.Context, sink storage.ExportSink) error {
	kvs, err := e.List(ctx, "")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := sink.CatalogEntry(kv); err != nil {
			return err
		}
	}
	shards, err := e.logShards(ctx)
	if err != nil {
		return err
	}
	for _, sk := range shards {
		if err := e.exportShard(ctx, sk, sink); err != nil {
			return fmt.Errorf("jetstream: export shard %d/%d: %w", sk.Stream, sk.Shard, err)
		}
	}
	return nil
}

// logShards lists the shards that have a log stream, in key order.
func (e *Engine) logShards(ctx context.Context) ([]storage.ShardKey, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	prefix := e.opts.Prefix + "-log-"
	names := e.js.StreamNames(ctx, jetstream.WithStreamListSubject(e.opts.Prefix+".log.>"))
	var out []storage.ShardKey
	for name := range names.Name() {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		stream, shard, ok := strings.Cut(rest, "-")
		s, err1 := strconv.ParseUint(stream, 10, 64)
		n, err2 := strconv.ParseUint(shard, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, storage.ShardKey{Stream: s, Shard: uint32(n)})
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("jetstream: listing the shards' streams: %w", err)
	}
	slices.SortFunc(out, func(a, b storage.ShardKey) int {
		return cmp.Or(cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.Shard, b.Shard))
	})
	return out, nil
}

func (e *Engine) exportShard(ctx context.Context, sk storage.ShardKey, sink storage.ExportSink) error {
	b, err := e.Bounds(ctx, sk)
	if err != nil {
		return err
	}
	if err := sink.Shard(sk, b); err != nil {
		return err
	}
	for from := b.First; from < b.Next; {
		recs, err := e.Read(ctx, sk, from, exportBatchRecords, exportBatchBytes)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for i := range recs {
			if recs[i].Seq >= b.Next {
				return nil
			}
			if err := sink.Record(&recs[i]); err != nil {
				return err
			}
		}
		from = recs[len(recs)-1].Seq + 1
	}
	return nil
}

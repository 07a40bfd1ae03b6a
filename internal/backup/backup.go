package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Progress is reported during a long operation: what has been copied so
// far.
type Progress struct {
	Counts
	FileBytes int64 // bytes of the backup file written or read
}

// progressEvery is how many records pass between two progress reports (a
// report also comes at the end of each shard).
const progressEvery = 10000

// Write writes a backup of everything src holds to w, reporting progress
// (nil: none). m is the manifest, whose Format and Created Write sets.
// keyFile, when not nil, is called once every shard is copied (so that it
// sees every key the copied records may need) and returns the KMS key
// file's bytes, or nil for none.
func Write(ctx context.Context, src storage.Exporter, w io.Writer, m Manifest, keyFile func() ([]byte, error), progress func(Progress)) (Counts, error) {
	enc, err := newEncoder(w)
	if err != nil {
		return Counts{}, fmt.Errorf("backup: writing: %w", err)
	}
	m.Format, m.Created = Version, time.Now().UTC().Truncate(time.Second)
	if err := enc.manifest(m); err != nil {
		return Counts{}, fmt.Errorf("backup: writing: %w", err)
	}
	s := &sink{enc: enc, progress: progress}
	if err := src.Export(ctx, s); err != nil {
		return s.c, fmt.Errorf("backup: %w", err)
	}
	if keyFile != nil {
		b, err := keyFile()
		if err != nil {
			return s.c, fmt.Errorf("backup: the KMS key file: %w", err)
		}
		if b != nil {
			if err := enc.keyFile(b); err != nil {
				return s.c, fmt.Errorf("backup: writing: %w", err)
			}
		}
	}
	if err := enc.end(s.c); err != nil {
		return s.c, fmt.Errorf("backup: writing: %w", err)
	}
	s.report()
	return s.c, nil
}

type sink struct {
	enc      *encoder
	c        Counts
	progress func(Progress)
	inShard  bool
}

func (s *sink) report() {
	if s.progress != nil {
		s.progress(Progress{Counts: s.c, FileBytes: s.enc.off})
	}
}

func (s *sink) CatalogEntry(kv storage.KV) error {
	s.c.CatalogEntries++
	return s.enc.catalog(kv)
}

func (s *sink) Shard(sk storage.ShardKey, b storage.Bounds) error {
	if s.inShard {
		s.report()
	}
	s.inShard = true
	s.c.Shards++
	return s.enc.shard(sk, b)
}

func (s *sink) Record(r *storage.Record) error {
	s.c.Records++
	s.c.RecordBytes += uint64(r.Size())
	if s.c.Records%progressEvery == 0 {
		s.report()
	}
	return s.enc.record(r)
}

// Verify reads a whole backup, checking every checksum and its structure,
// and returns its manifest and counts.
func Verify(ctx context.Context, r io.Reader, progress func(Progress)) (Manifest, Counts, error) {
	var m Manifest
	d := NewDecoder(r)
	var recs uint64
	for {
		if err := ctx.Err(); err != nil {
			return m, Counts{}, err
		}
		it, err := d.Next()
		if err == io.EOF {
			return m, d.seen, nil
		}
		if err != nil {
			return m, Counts{}, err
		}
		switch {
		case it.Manifest != nil:
			m = *it.Manifest
		case it.Record != nil:
			if recs++; recs%progressEvery == 0 && progress != nil {
				progress(Progress{Counts: d.seen, FileBytes: d.off})
			}
		}
	}
}

// Target is what a backup is restored into: an engine's catalog and log.
type Target interface {
	storage.Catalog
	storage.Importer
}

// importBatch bounds the records handed to ImportRecords at once.
const (
	importBatchRecords = 1000
	importBatchBytes   = 4 << 20
)

// Restore writes the backup read from r into dst, which must hold nothing
// yet, and returns its manifest and KMS key file (nil when it has none)
// for the caller to put in place. It checks the file as it reads; callers that must not leave a
// partial restore behind run Verify over the file first. Catalog entries
// get new revisions (revisions only order writes to one engine).
func Restore(ctx context.Context, r io.Reader, dst Target, progress func(Progress)) (Restored, error) {
	var res Restored
	existing, err := dst.List(ctx, "")
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	if len(existing) > 0 {
		return res, fmt.Errorf("restore: the target already holds %d catalog entries (e.g. %q): restore only into an empty data directory", len(existing), existing[0].Key)
	}
	cat := newCatalogWriter(ctx, dst)
	defer cat.wait()
	d := NewDecoder(r)
	var (
		cur     *ShardItem
		pending []storage.Record
		size    int
	)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := dst.ImportRecords(ctx, cur.Key, pending); err != nil {
			return fmt.Errorf("restore: shard %d/%d: %w", cur.Key.Stream, cur.Key.Shard, err)
		}
		pending, size = pending[:0], 0
		return nil
	}
	endShard := func() error {
		if cur == nil {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		if err := dst.ImportBounds(ctx, cur.Key, cur.Bounds); err != nil {
			return fmt.Errorf("restore: shard %d/%d: %w", cur.Key.Stream, cur.Key.Shard, err)
		}
		if progress != nil {
			progress(Progress{Counts: d.seen, FileBytes: d.off})
		}
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			res.Counts = d.seen
			return res, err
		}
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			res.Counts = d.seen
			return res, nil
		}
		if err != nil {
			res.Counts = d.seen
			return res, err
		}
		switch {
		case it.Catalog != nil:
			if err := cat.put(ctx, storage.KV{Key: it.Catalog.Key, Value: append([]byte(nil), it.Catalog.Value...)}); err != nil {
				return res, err
			}
		case it.Shard != nil:
			if err := cat.wait(); err != nil {
				return res, err
			}
			if err := endShard(); err != nil {
				res.Counts = d.seen
				return res, err
			}
			s := *it.Shard
			cur = &s
		case it.Record != nil:
			r := *it.Record
			// The decoder's slices are reused by its next frame.
			buf := make([]byte, len(r.PartitionKey)+len(r.Data))
			n := copy(buf, r.PartitionKey)
			copy(buf[n:], r.Data)
			r.PartitionKey, r.Data = buf[:n:n], buf[n:]
			pending = append(pending, r)
			size += len(buf)
			if len(pending) >= importBatchRecords || size >= importBatchBytes {
				if err := flush(); err != nil {
					res.Counts = d.seen
					return res, err
				}
			}
		case it.Manifest != nil:
			res.Manifest = *it.Manifest
		case it.KeyFile != nil:
			res.KeyFile = append([]byte(nil), it.KeyFile...)
		case it.End != nil:
			if err := cat.wait(); err != nil {
				return res, err
			}
			if err := endShard(); err != nil {
				res.Counts = d.seen
				return res, err
			}
		}
	}
}

// Restored is what Restore hands back besides the engine's contents.
type Restored struct {
	Counts
	Manifest Manifest
	KeyFile  []byte
}

// catalogWriters is how many catalog entries a restore writes at once: each
// Put is synced before it returns, and concurrent ones share their syncs
// (Pebble's group commit), so a catalog of many entries (a large DynamoDB
// table) restores many times faster than one Put after another.
const catalogWriters = 32

// catalogWriter puts catalog entries through a pool of goroutines; wait
// returns once all are written, with the first error.
type catalogWriter struct {
	dst  storage.Catalog
	ch   chan storage.KV
	wg   sync.WaitGroup
	once sync.Once
	mu   sync.Mutex
	err  error
}

func newCatalogWriter(ctx context.Context, dst storage.Catalog) *catalogWriter {
	w := &catalogWriter{dst: dst, ch: make(chan storage.KV)}
	for range catalogWriters {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for kv := range w.ch {
				if w.failed() != nil {
					continue
				}
				if _, err := dst.Put(ctx, kv.Key, kv.Value, 0); err != nil {
					w.mu.Lock()
					if w.err == nil {
						w.err = fmt.Errorf("restore: catalog entry %q: %w", kv.Key, err)
					}
					w.mu.Unlock()
				}
			}
		}()
	}
	return w
}

func (w *catalogWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *catalogWriter) put(ctx context.Context, kv storage.KV) error {
	if err := w.failed(); err != nil {
		return err
	}
	select {
	case w.ch <- kv:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *catalogWriter) wait() error {
	w.once.Do(func() { close(w.ch) })
	w.wg.Wait()
	return w.failed()
}

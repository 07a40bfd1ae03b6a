package pebble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/millrace/millrace/internal/storage"
)

var (
	_ storage.Log     = (*Engine)(nil)
	_ storage.Catalog = (*Engine)(nil)
)

// Options configures an Engine.
type Options struct {
	// Dir is the data directory. It holds exactly one database; a second
	// Open of the same directory fails while the first is open.
	Dir string
	// InMemory runs the engine on Pebble's in-memory filesystem: the same
	// code path, nothing written to disk, everything lost on Close.
	InMemory bool
	// Logger receives Pebble's warnings and errors; nil discards them.
	Logger *slog.Logger
	// MustExist makes Open fail when Dir holds no database, rather than
	// create one (tools that read a data directory).
	MustExist bool
}

// Tuning for a log of mostly incompressible record payloads, measured with
// BenchmarkAppend and `millrace bench` (docs/performance.md):
//
//   - memTableSize holds three PutRecords calls of 5 MiB, so that a busy
//     shard does not force a flush every call. Pebble keeps two memtables
//     (one filling, one flushing) outside the Go heap, so their size is
//     paid twice in RSS: 16 MiB (from 64, then 32) cost 35 MiB less peak
//     RSS through a bench run than 32 with no measurable change in
//     ingest CPU per MB, but twice the flushes, which share the disk with
//     WAL syncs: put latency at a steady 25 MB/s has a longer tail
//     (docs/performance.md, "Fifth round").
//   - No block compression: record data (already-compressed or encrypted
//     payloads, as a rule) does not shrink, and Snappy-compressing it in
//     every flush and compaction costs CPU for nothing.
//   - 64 KiB table blocks (Pebble's default is 4 KiB): records are read
//     back in key order, a shard at a time, so larger blocks mean 16 times
//     fewer block reads (each a system call when the block cache misses)
//     and fewer index entries to write in every flush. Pebble writes a
//     table through a 4 KiB bufio.Writer, so every block larger than that
//     costs two write system calls; 64 KiB blocks (from 32) took 8% off
//     the CPU of writing the log (BenchmarkAppend), 128 KiB no more.
//   - L0 compacts at 8 sublevels (Pebble's default is 4) into a 256 MiB
//     base level (64 MiB): the log is written in key order per shard and
//     read mostly once, so fewer, larger compactions rewrite less of it.
const (
	memTableSize          = 16 << 20
	l0CompactionThreshold = 8
	lBaseMaxBytes         = 256 << 20
	blockSize             = 64 << 10
)

// Engine is the default storage engine: a Pebble database holding every
// shard's log and the catalog.
type Engine struct {
	db     *pdb.DB
	logger *slog.Logger

	// closeMu is held for reading by every operation and for writing by
	// Close, so that Close waits for operations in flight and no operation
	// touches the database after it is closed.
	closeMu sync.RWMutex
	closed  bool

	// failed is set when a WAL sync fails: from then on the engine can no
	// longer promise durability and every write fails with it.
	failed atomic.Pointer[error]

	// Lock order: closeMu (read), then a shard's mu, then shardsMu;
	// catalogMu is never held with a shard's mu.
	shardsMu sync.RWMutex
	shards   map[storage.ShardKey]*shardState

	catalogMu  sync.Mutex
	catalogRev uint64 // last revision handed out; 0 until loaded
	revLoaded  bool
	catSync    catalogSync // which catalog revisions are durable
}

// Open opens (creating it if needed) the database in opts.Dir, or a fresh
// in-memory one when opts.InMemory is set.
func Open(opts Options) (*Engine, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir := opts.Dir
	po := &pdb.Options{
		MemTableSize:          memTableSize,
		L0CompactionThreshold: l0CompactionThreshold,
		L0StopWritesThreshold: 3 * l0CompactionThreshold,
		LBaseMaxBytes:         lBaseMaxBytes,
		FormatMajorVersion:    pdb.FormatNewest,
		Logger:                pebbleLogger{logger},
		ErrorIfNotExists:      opts.MustExist,
	}
	po.ApplyCompressionSettings(func() pdb.DBCompressionSettings { return pdb.DBCompressionNone })
	po.Levels[0].BlockSize = blockSize
	if opts.InMemory {
		po.FS = vfs.NewMem()
		if dir == "" {
			dir = "mem"
		}
	} else if dir == "" {
		return nil, errors.New("pebble: Options.Dir is empty")
	}
	db, err := pdb.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s: %w", dir, err)
	}
	return &Engine{
		db:     db,
		logger: logger,
		shards: make(map[storage.ShardKey]*shardState),
	}, nil
}

// Close waits for operations in flight, flushes the memtable (so the next
// Open does not replay the WAL) and closes the database. Every operation
// after Close returns storage.ErrClosed.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return storage.ErrClosed
	}
	e.closed = true
	var ferr error
	if e.failure() == nil {
		if err := e.db.Flush(); err != nil {
			ferr = fmt.Errorf("pebble: flush: %w", err)
		}
	}
	if err := e.db.Close(); err != nil {
		return errors.Join(ferr, fmt.Errorf("pebble: close: %w", err))
	}
	return ferr
}

// enter starts an operation: it fails when ctx is done or the engine is
// closed, and otherwise holds off Close until the returned func is called.
func (e *Engine) enter(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.closeMu.RLock()
	if e.closed {
		e.closeMu.RUnlock()
		return nil, storage.ErrClosed
	}
	return e.closeMu.RUnlock, nil
}

func (e *Engine) failure() error {
	if p := e.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (e *Engine) fail(err error) error {
	wrapped := fmt.Errorf("pebble: write-ahead log sync failed, engine stopped: %w", err)
	if e.failed.CompareAndSwap(nil, &wrapped) {
		e.logger.Error("storage engine stopped", "err", err)
	}
	return e.failure()
}

var syncWrite = pdb.Sync

// pebbleLogger routes Pebble's log through slog. Pebble logs routine
// events (flushes, compactions, WAL recycling) at info level; those go to
// debug so that they do not drown the server's own log.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if !p.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Warn(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble on an unrecoverable inconsistency; Pebble does
// not expect it to return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic("pebble: " + msg)
}

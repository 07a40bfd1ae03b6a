// Package storage declares the two small interfaces every storage engine
// implements: Log, an append-only record log per shard, and Catalog, a
// versioned key-value store for metadata. The domain (package streams) is
// written against these interfaces only; engines never import the domain.
//
// The contract, checked for every engine by package storagetest:
//   - The engine assigns sequence numbers on Append: strictly increasing
//     within a shard, contiguous within one Append, gaps allowed between
//     Appends. The first record of a shard never gets a number below 1.
//   - Arrival timestamps are given by the caller, one per Append; the engine
//     raises one that is older than the shard's last arrival to that last
//     arrival, so arrivals never decrease within a shard.
//   - Append is all-or-nothing for one shard and durable (fsync'd) when it
//     returns without error. AppendMany does the same for several shards at
//     once, each shard's part all-or-nothing; an engine may make the parts
//     one unit (Pebble does: one batch, one WAL sync) but callers must not
//     rely on cross-shard atomicity.
//   - Read never returns a record whose Append has not returned (a reader
//     never sees data that a crash could still take away).
//   - Read returns records in order and never more than maxBytes, except that
//     a first record larger than maxBytes is returned alone.
//   - SeekTime finds the first record that arrived at or after a time.
//   - Trim drops whole records that arrived before a time; reads after it
//     never return them.
//   - Catalog writes are compare-and-set on a revision.
//   - After kill -9 at any instant, every acknowledged Append is there after
//     restart, in order, with the same sequence numbers; nothing
//     unacknowledged appears half-written.
//
// Optional interfaces, asked for with a type assertion: ShardCloser
// (cluster engines), StatsReporter (monitoring), Exporter and Importer
// (backup and restore, package backup), BufferReader (reads into the
// caller's memory).
package storage

import (
	"context"
	"errors"
)

// ShardKey names one shard's log. Stream is a number the domain gives each
// stream incarnation and never reuses (a stream deleted and created again
// under the same name gets a new one); Shard is the shard's index within it.
type ShardKey struct {
	Stream uint64
	Shard  uint32
}

// Entry is one record to append.
type Entry struct {
	PartitionKey []byte
	Data         []byte
}

// Record is one stored record.
type Record struct {
	Seq          uint64 // engine-assigned, strictly increasing within the shard
	Arrival      int64  // milliseconds since the Unix epoch
	PartitionKey []byte
	Data         []byte
}

// Size is the record's size as the read byte limits count it: data plus
// partition key.
func (r *Record) Size() int { return len(r.Data) + len(r.PartitionKey) }

// AppendResult tells where an Append landed.
type AppendResult struct {
	FirstSeq uint64 // the i-th entry got FirstSeq+i
	Arrival  int64  // the arrival time stored with every entry of the Append
}

// ShardAppend is one shard's part of an AppendMany: the caller sets Shard
// and Entries; the engine sets Result or Err.
type ShardAppend struct {
	Shard   ShardKey
	Entries []Entry
	Result  AppendResult
	Err     error
}

// Bounds describes a shard's log as readers see it.
type Bounds struct {
	// First is the sequence number of the oldest record still stored, or Next
	// when the shard holds no record.
	First uint64
	// Next is one more than the newest durable record's sequence number (1
	// for a shard never written): the position a reader starting at LATEST
	// takes.
	Next uint64
	// LastArrival is the arrival time of the newest record ever appended,
	// kept when Trim drops that record (so that arrivals keep not
	// decreasing); 0 for a shard never written.
	LastArrival int64
}

// Log is an append-only, per-shard record log.
type Log interface {
	// Append writes entries as one unit at the end of the shard's log and
	// returns once they are durable. entries must not be empty.
	Append(ctx context.Context, shard ShardKey, arrival int64, entries []Entry) (AppendResult, error)
	// AppendMany appends to several distinct shards as Append does to one,
	// with the same arrival time offered to each, and returns once every
	// part is durable or has failed: each element's Result or Err is set.
	// It lets an engine write and sync the parts together rather than one
	// commit per shard. Every element must have entries and a shard of its
	// own.
	AppendMany(ctx context.Context, arrival int64, appends []ShardAppend)
	// Read returns up to maxRecords records with Seq >= from, in order, whose
	// sizes add up to at most maxBytes (a first record larger than maxBytes
	// is returned alone). Both limits must be at least 1. A from below the
	// first stored record starts at that record. The returned slices may be
	// retained by the caller.
	Read(ctx context.Context, shard ShardKey, from uint64, maxRecords, maxBytes int) ([]Record, error)
	// Bounds reports the shard's first and next sequence numbers.
	Bounds(ctx context.Context, shard ShardKey) (Bounds, error)
	// SeekTime returns the sequence number of the first record whose arrival
	// is at or after t (milliseconds), or Bounds().Next when there is none.
	SeekTime(ctx context.Context, shard ShardKey, t int64) (uint64, error)
	// Trim drops every record that arrived before t (milliseconds). Since
	// all records of one Append share an arrival, it drops whole Appends.
	// Sequence numbers are not reused: the next Append still numbers above
	// every record ever appended.
	Trim(ctx context.Context, shard ShardKey, before int64) error
	// DeleteShard drops the shard's whole log. A later Append to the same
	// key starts a new log (stream numbers are never reused, so the domain
	// never does that).
	DeleteShard(ctx context.Context, shard ShardKey) error
}

// BufferReader is implemented by engines that can copy what Read returns
// into memory the caller provides, so that a caller which knows when it is
// done with the records can use that memory again instead of leaving
// garbage behind. It is optional: callers ask for it with a type
// assertion and use Read otherwise.
type BufferReader interface {
	// ReadBuffer is Read, with the records appended to recs[:0] and their
	// partition keys and data copied into buf while it has room (into
	// memory of the engine's own once it has not). The records' slices
	// alias buf, so they are valid only until the caller writes buf again.
	ReadBuffer(ctx context.Context, shard ShardKey, from uint64, maxRecords, maxBytes int, recs []Record, buf []byte) ([]Record, error)
}

// ShardCloser is implemented by engines that several nodes append to at
// once (a cluster), where a node can route a write by a shard layout that
// another node has just replaced. CloseShard ends the shard's log at once
// on every node: every Append that has returned without error is before
// the returned Bounds.Next, and every later Append to the shard, through
// any node, fails with ErrShardClosed. Closing a closed shard changes
// nothing and returns the same Bounds. An engine used by one node only
// need not implement it: the domain orders its own writes against a
// reshard.
type ShardCloser interface {
	CloseShard(ctx context.Context, shard ShardKey) (Bounds, error)
}

// KV is one catalog entry.
type KV struct {
	Key   string
	Value []byte
	Rev   uint64
}

// Catalog is a small, durable key-value store for metadata, with
// compare-and-set on a per-key revision so that two writers can never both
// win.
type Catalog interface {
	// Get returns the value and revision stored at key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	// Put stores value at key if the key's current revision is expectRev
	// (0: the key must not exist) and returns the new revision; otherwise it
	// returns ErrConflict and changes nothing.
	Put(ctx context.Context, key string, value []byte, expectRev uint64) (uint64, error)
	// Delete removes key if its current revision is expectRev; ErrConflict
	// otherwise, ErrNotFound if it does not exist.
	Delete(ctx context.Context, key string, expectRev uint64) error
	// List returns every entry whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]KV, error)
}

// Errors every engine returns, matched with errors.Is.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrConflict = errors.New("storage: revision conflict")
	ErrClosed   = errors.New("storage: closed")
	// ErrShardClosed is an Append's error on a shard CloseShard closed.
	ErrShardClosed = errors.New("storage: shard closed")
)

// EngineStats are an engine's own figures, for monitoring. Counts are
// running totals since the engine was opened.
type EngineStats struct {
	// DiskBytes is the space the engine's files take (in memory for an
	// in-memory engine).
	DiskBytes uint64
	// Flushes and Compactions count completed memtable flushes and
	// compactions; CompactionDebtBytes estimates what remains to compact
	// for the engine to settle.
	Flushes, Compactions int64
	CompactionDebtBytes  uint64
	// WALBytesWritten is what was written to the write-ahead log.
	WALBytesWritten uint64
	// WALSync is the distribution of WAL sync latencies; Count is 0 when
	// the engine does not measure it.
	WALSync LatencyHistogram
}

// LatencyHistogram is a latency distribution: Counts[i] values took at
// most Bounds[i] seconds (cumulative), Count values in all, Sum seconds.
type LatencyHistogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// StatsReporter is implemented by engines that report EngineStats. It is
// optional: monitoring asks for it with a type assertion.
type StatsReporter interface {
	EngineStats() EngineStats
}

// ExportSink receives an Export: every catalog entry, then every shard,
// each with its bounds followed by its records in sequence order.
type ExportSink interface {
	CatalogEntry(kv KV) error
	Shard(shard ShardKey, b Bounds) error
	Record(r *Record) error
}

// Exporter is implemented by engines that can hand over a consistent copy
// of everything they hold (a backup). Export calls the sink from one
// goroutine; the Record passed to it is only valid during the call.
type Exporter interface {
	Export(ctx context.Context, sink ExportSink) error
}

// Importer is implemented by engines that a backup can be restored into.
// Restoring is done into an engine that holds nothing yet, by one caller,
// before any other use.
type Importer interface {
	// ImportRecords stores records in the shard with their own sequence
	// numbers and arrivals, unlike Append. Within a call and across calls
	// to one shard, sequence numbers must be strictly increasing and above
	// every record the shard holds, and arrivals must not decrease. It is
	// durable when it returns.
	ImportRecords(ctx context.Context, shard ShardKey, records []Record) error
	// ImportBounds sets what the shard's bounds cannot be learnt from its
	// records: the next sequence number (when above the last record's)
	// and the last arrival of a shard whose records were all trimmed. It
	// is called after the shard's records are imported.
	ImportBounds(ctx context.Context, shard ShardKey, b Bounds) error
}

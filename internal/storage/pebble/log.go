package pebble

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/millrace/millrace/internal/storage"
)

// shardState is what the engine keeps in memory for one shard. It is built
// on first use from the shard's last and first keys (never by scanning), and
// guarded by its own mutex so that appends to different shards never wait
// for each other.
type shardState struct {
	mu      sync.Mutex
	loaded  bool
	deleted bool // dropped by DeleteShard: look the shard up again

	next        uint64 // sequence number the next Append gets
	lastArrival int64  // arrival of the last applied Append
	first       uint64 // lowest sequence number that may still be stored

	// Records below durable are fsync'd and visible to readers. It moves
	// only over a contiguous run of synced Appends, so a reader never skips
	// past an Append whose sync is still pending.
	durable        uint64
	durableArrival int64
	synced         map[uint64]syncedRange // synced Appends above durable, by first seq
}

type syncedRange struct {
	end     uint64
	arrival int64
}

// lockShard returns the shard's state, loaded and locked.
func (e *Engine) lockShard(sk storage.ShardKey) (*shardState, error) {
	for {
		e.shardsMu.RLock()
		s := e.shards[sk]
		e.shardsMu.RUnlock()
		if s == nil {
			e.shardsMu.Lock()
			if s = e.shards[sk]; s == nil {
				s = &shardState{}
				e.shards[sk] = s
			}
			e.shardsMu.Unlock()
		}
		s.mu.Lock()
		if s.deleted {
			s.mu.Unlock()
			continue
		}
		if !s.loaded {
			if err := e.loadShard(sk, s); err != nil {
				s.mu.Unlock()
				return nil, err
			}
		}
		return s, nil
	}
}

// loadShard rebuilds a shard's state from its first and last records and
// its meta entry: a few seeks, whatever the shard's size.
func (e *Engine) loadShard(sk storage.ShardKey, s *shardState) error {
	b, err := readBounds(e.db, sk)
	if err != nil {
		return err
	}
	s.loaded = true
	s.next, s.lastArrival, s.first = b.Next, b.LastArrival, b.First
	s.durable, s.durableArrival = b.Next, b.LastArrival
	return nil
}

// readBounds works a shard's bounds out of what r holds (the database or a
// snapshot of it): its first and last records and its meta entry.
func readBounds(r pdb.Reader, sk storage.ShardKey) (storage.Bounds, error) {
	lower := shardPrefix(prefixRecord, sk)
	it, err := r.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return storage.Bounds{}, fmt.Errorf("pebble: load shard: %w", err)
	}
	defer it.Close()
	var next, first uint64
	var lastArrival int64
	if it.Last() {
		seq, err := recordKeySeq(it.Key())
		if err != nil {
			return storage.Bounds{}, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return storage.Bounds{}, fmt.Errorf("pebble: load shard: %w", err)
		}
		if lastArrival, _, _, err = decodeRecordValue(v); err != nil {
			return storage.Bounds{}, err
		}
		next = seq + 1
		if !it.First() {
			return storage.Bounds{}, fmt.Errorf("pebble: load shard: %w", it.Error())
		}
		if first, err = recordKeySeq(it.Key()); err != nil {
			return storage.Bounds{}, err
		}
	}
	if err := it.Error(); err != nil {
		return storage.Bounds{}, fmt.Errorf("pebble: load shard: %w", err)
	}
	floor, metaArrival, found, err := shardMeta(r, sk)
	if err != nil {
		return storage.Bounds{}, err
	}
	if next < 1 {
		next = 1
	}
	if found && floor > next {
		next = floor
	}
	switch {
	case first == 0:
		// No record stored: the shard is empty at its next position.
		first = next
		if found {
			lastArrival = metaArrival
		}
	case found:
		// Trim writes the last arrival it knows, never above the last
		// record's; an import (ImportBounds) may set one above it.
		lastArrival = max(lastArrival, metaArrival)
	}
	return storage.Bounds{First: first, Next: next, LastArrival: lastArrival}, nil
}

func shardMeta(r pdb.Reader, sk storage.ShardKey) (floor uint64, arrival int64, found bool, err error) {
	v, closer, err := r.Get(shardPrefix(prefixShardMeta, sk))
	if errors.Is(err, pdb.ErrNotFound) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("pebble: shard meta: %w", err)
	}
	defer closer.Close()
	if len(v) != 16 {
		return 0, 0, false, errCorrupt
	}
	return binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:])), true, nil
}

func shardMetaValue(floor uint64, arrival int64) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, floor)
	binary.BigEndian.PutUint64(v[8:], uint64(arrival))
	return v
}

// Append writes entries as one Pebble batch and returns once the WAL holding
// it is fsync'd. Sequence numbers are assigned and the batch applied under
// the shard's lock, so that batches reach Pebble in sequence order; the
// fsync is awaited outside it, so that concurrent Appends, to this shard or
// any other, share WAL syncs (group commit).
func (e *Engine) Append(ctx context.Context, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return storage.AppendResult{}, err
	}
	defer done()
	if len(entries) == 0 {
		return storage.AppendResult{}, errors.New("pebble: append of no entries")
	}
	if err := e.failure(); err != nil {
		return storage.AppendResult{}, err
	}
	s, err := e.lockShard(sk)
	if err != nil {
		return storage.AppendResult{}, err
	}
	b := e.db.NewBatchWithSize(appendBatchSize(entries))
	res, err := s.write(b, sk, arrival, entries)
	if err == nil {
		err = e.db.ApplyNoSyncWait(b, syncWrite)
	}
	if err != nil {
		s.mu.Unlock()
		b.Close()
		return storage.AppendResult{}, fmt.Errorf("pebble: append: %w", err)
	}
	s.applied(res, len(entries))
	s.mu.Unlock()

	err = b.SyncWait()
	b.Close()
	if err != nil {
		return storage.AppendResult{}, e.fail(err)
	}

	s.mu.Lock()
	s.markSynced(res.FirstSeq, res.FirstSeq+uint64(len(entries)), res.Arrival)
	s.mu.Unlock()
	return res, nil
}

// AppendMany writes every shard's entries in one Pebble batch, so that the
// whole call costs one WAL write and one fsync however many shards it
// touches. The shards are locked in key order (no two AppendMany calls can
// deadlock) while sequence numbers are assigned and the batch applied; the
// fsync is awaited with no lock held, as in Append. The parts succeed or
// fail together.
func (e *Engine) AppendMany(ctx context.Context, arrival int64, appends []storage.ShardAppend) {
	failAll := func(err error) {
		for i := range appends {
			appends[i].Result, appends[i].Err = storage.AppendResult{}, err
		}
	}
	done, err := e.enter(ctx)
	if err != nil {
		failAll(err)
		return
	}
	defer done()
	if err := e.failure(); err != nil {
		failAll(err)
		return
	}
	order := make([]int, len(appends))
	size := 0
	for i := range appends {
		if len(appends[i].Entries) == 0 {
			failAll(errors.New("pebble: append of no entries"))
			return
		}
		order[i] = i
		size += appendBatchSize(appends[i].Entries)
	}
	slices.SortFunc(order, func(a, b int) int { return compareShardKeys(appends[a].Shard, appends[b].Shard) })
	for i := 1; i < len(order); i++ {
		if appends[order[i]].Shard == appends[order[i-1]].Shard {
			failAll(fmt.Errorf("pebble: append to shard %v twice in one call", appends[order[i]].Shard))
			return
		}
	}

	states := make([]*shardState, len(appends))
	unlock := func() {
		for _, s := range states {
			if s != nil {
				s.mu.Unlock()
			}
		}
	}
	for _, i := range order {
		s, err := e.lockShard(appends[i].Shard)
		if err != nil {
			unlock()
			failAll(err)
			return
		}
		states[i] = s
	}
	b := e.db.NewBatchWithSize(size)
	for i := range appends {
		if appends[i].Result, err = states[i].write(b, appends[i].Shard, arrival, appends[i].Entries); err != nil {
			break
		}
	}
	if err == nil {
		err = e.db.ApplyNoSyncWait(b, syncWrite)
	}
	if err != nil {
		unlock()
		b.Close()
		failAll(fmt.Errorf("pebble: append: %w", err))
		return
	}
	for i, s := range states {
		s.applied(appends[i].Result, len(appends[i].Entries))
	}
	unlock()

	err = b.SyncWait()
	b.Close()
	if err != nil {
		failAll(e.fail(err))
		return
	}
	for i, s := range states {
		r := appends[i].Result
		s.mu.Lock()
		s.markSynced(r.FirstSeq, r.FirstSeq+uint64(len(appends[i].Entries)), r.Arrival)
		s.mu.Unlock()
	}
}

// appendBatchSize is the batch space one shard's entries take.
func appendBatchSize(entries []storage.Entry) int {
	size := indexKeyLen + 16
	for i := range entries {
		size += recordKeyLen + recordValueLen(&entries[i]) + 16
	}
	return size
}

// write adds the shard's records and their time-index entry to b, numbered
// from the shard's next sequence number, with arrival raised to the shard's
// last one. The caller holds s.mu and, once b is applied, calls applied.
func (s *shardState) write(b *pdb.Batch, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	if arrival < s.lastArrival {
		arrival = s.lastArrival
	}
	first := s.next
	for i := range entries {
		op := b.SetDeferred(recordKeyLen, recordValueLen(&entries[i]))
		putRecordKey(op.Key, sk, first+uint64(i))
		putRecordValue(op.Value, arrival, &entries[i])
		if err := op.Finish(); err != nil {
			return storage.AppendResult{}, err
		}
	}
	if err := b.Set(indexKey(sk, arrival, first), nil, nil); err != nil {
		return storage.AppendResult{}, err
	}
	return storage.AppendResult{FirstSeq: first, Arrival: arrival}, nil
}

// applied moves the shard past an Append whose batch has been applied.
func (s *shardState) applied(res storage.AppendResult, n int) {
	s.next = res.FirstSeq + uint64(n)
	s.lastArrival = res.Arrival
}

func compareShardKeys(a, b storage.ShardKey) int {
	if c := cmp.Compare(a.Stream, b.Stream); c != 0 {
		return c
	}
	return cmp.Compare(a.Shard, b.Shard)
}

// markSynced records that [first, end) is fsync'd and moves the durable
// watermark over every contiguous synced range.
func (s *shardState) markSynced(first, end uint64, arrival int64) {
	if first != s.durable {
		if first > s.durable {
			if s.synced == nil {
				s.synced = make(map[uint64]syncedRange)
			}
			s.synced[first] = syncedRange{end: end, arrival: arrival}
		}
		return
	}
	s.durable, s.durableArrival = end, arrival
	for len(s.synced) > 0 {
		r, ok := s.synced[s.durable]
		if !ok {
			break
		}
		delete(s.synced, s.durable)
		s.durable, s.durableArrival = r.end, r.arrival
	}
}

// view returns what readers may see of the shard: stored records from
// first up to (not including) durable.
func (e *Engine) view(sk storage.ShardKey) (first, durable uint64, lastArrival int64, err error) {
	s, err := e.lockShard(sk)
	if err != nil {
		return 0, 0, 0, err
	}
	defer s.mu.Unlock()
	return min(s.first, s.durable), s.durable, s.durableArrival, nil
}

// readArenaSize is the chunk Read copies records into: one allocation per
// 256 KiB of records instead of one per record.
const readArenaSize = 256 << 10

// Read copies records out of Pebble into shared chunks; each record's
// partition key and data are full slices that never overlap another's.
func (e *Engine) Read(ctx context.Context, sk storage.ShardKey, from uint64, maxRecords, maxBytes int) ([]storage.Record, error) {
	return e.read(ctx, sk, from, maxRecords, maxBytes, nil, nil)
}

// ReadBuffer is Read into the caller's memory (storage.BufferReader): the
// records go into recs[:0], their bytes into buf while it has room, then
// into chunks of the engine's own as Read's do.
func (e *Engine) ReadBuffer(ctx context.Context, sk storage.ShardKey, from uint64, maxRecords, maxBytes int, recs []storage.Record, buf []byte) ([]storage.Record, error) {
	return e.read(ctx, sk, from, maxRecords, maxBytes, recs[:0], buf[:cap(buf)])
}

func (e *Engine) read(ctx context.Context, sk storage.ShardKey, from uint64, maxRecords, maxBytes int, out []storage.Record, arena []byte) ([]storage.Record, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if maxRecords < 1 || maxBytes < 1 {
		return nil, fmt.Errorf("pebble: read limits must be positive (maxRecords %d, maxBytes %d)", maxRecords, maxBytes)
	}
	first, durable, _, err := e.view(sk)
	if err != nil {
		return nil, err
	}
	from = max(from, first)
	if from >= durable {
		return nil, nil
	}
	it, err := e.db.NewIter(&pdb.IterOptions{
		LowerBound: recordKey(sk, from),
		UpperBound: recordKey(sk, durable),
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: read: %w", err)
	}
	defer it.Close()

	if out == nil {
		out = make([]storage.Record, 0, min(uint64(maxRecords), durable-from, 1024))
	}
	total := 0
	// Records are carved out of shared chunks: the caller's buffer first,
	// when it gave one.
	for ok := it.First(); ok; ok = it.Next() {
		seq, err := recordKeySeq(it.Key())
		if err != nil {
			return nil, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("pebble: read: %w", err)
		}
		arrival, pk, data, err := decodeRecordValue(v)
		if err != nil {
			return nil, fmt.Errorf("%w: shard %d/%d seq %d", err, sk.Stream, sk.Shard, seq)
		}
		size := len(pk) + len(data)
		if len(out) > 0 && total+size > maxBytes {
			break
		}
		if len(arena) < size {
			arena = make([]byte, max(size, readArenaSize))
		}
		buf := arena[:size:size]
		arena = arena[size:]
		n := copy(buf, pk)
		copy(buf[n:], data)
		out = append(out, storage.Record{
			Seq:          seq,
			Arrival:      arrival,
			PartitionKey: buf[:n:n],
			Data:         buf[n:],
		})
		total += size
		if len(out) >= maxRecords || total >= maxBytes {
			break
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: read: %w", err)
	}
	return out, nil
}

// Bounds reports the shard as readers see it.
func (e *Engine) Bounds(ctx context.Context, sk storage.ShardKey) (storage.Bounds, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return storage.Bounds{}, err
	}
	defer done()
	first, durable, arrival, err := e.view(sk)
	if err != nil {
		return storage.Bounds{}, err
	}
	return storage.Bounds{First: first, Next: durable, LastArrival: arrival}, nil
}

// SeekTime is one seek in the shard's time index.
func (e *Engine) SeekTime(ctx context.Context, sk storage.ShardKey, t int64) (uint64, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	_, durable, _, err := e.view(sk)
	if err != nil {
		return 0, err
	}
	seq, found, err := e.firstAppendAtOrAfter(sk, t)
	if err != nil {
		return 0, err
	}
	if !found || seq > durable {
		return durable, nil
	}
	return seq, nil
}

// firstAppendAtOrAfter finds, in the time index, the first sequence number
// of the first Append whose arrival is at or after t.
func (e *Engine) firstAppendAtOrAfter(sk storage.ShardKey, t int64) (uint64, bool, error) {
	lower := shardPrefix(prefixTimeIndex, sk)
	it, err := e.db.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return 0, false, fmt.Errorf("pebble: time index: %w", err)
	}
	defer it.Close()
	if !it.SeekGE(indexTimeKey(sk, t)) {
		if err := it.Error(); err != nil {
			return 0, false, fmt.Errorf("pebble: time index: %w", err)
		}
		return 0, false, nil
	}
	seq, err := indexKeySeq(it.Key())
	if err != nil {
		return 0, false, err
	}
	return seq, true, nil
}

// Trim deletes, with two range deletions, the records and time-index
// entries of every Append that arrived before t. It holds the shard's lock
// so that no Append is applied between finding the cut and deleting up to
// it.
func (e *Engine) Trim(ctx context.Context, sk storage.ShardKey, before int64) error {
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
	cut, found, err := e.firstAppendAtOrAfter(sk, before)
	if err != nil {
		return err
	}
	if !found {
		cut = s.next
	}
	if cut <= s.first {
		return nil
	}
	b := e.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(recordKey(sk, 0), recordKey(sk, cut), nil); err != nil {
		return fmt.Errorf("pebble: trim: %w", err)
	}
	if err := b.DeleteRange(shardPrefix(prefixTimeIndex, sk), indexTimeKey(sk, before), nil); err != nil {
		return fmt.Errorf("pebble: trim: %w", err)
	}
	if err := b.Set(shardPrefix(prefixShardMeta, sk), shardMetaValue(cut, s.lastArrival), nil); err != nil {
		return fmt.Errorf("pebble: trim: %w", err)
	}
	// Not synced: Appends to the shard wait for this lock, and a sync here
	// would make them wait for a WAL sync of their own. A trim lost in a
	// crash leaves records readers skip anyway (they filter by the
	// retention cutoff) and the next trim deletes; the WAL is written in
	// order, so the next synced Append makes it durable with its own.
	if err := e.db.Apply(b, pdb.NoSync); err != nil {
		return fmt.Errorf("pebble: trim: %w", err)
	}
	s.first = cut
	return nil
}

// DeleteShard drops the shard's records, time index, meta entry and
// in-memory state. An Append to the same key afterwards starts a new log at
// sequence number 1 (stream numbers are never reused, so that only happens
// to a shard that is really new).
func (e *Engine) DeleteShard(ctx context.Context, sk storage.ShardKey) error {
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
	b := e.db.NewBatch()
	defer b.Close()
	for _, p := range []byte{prefixRecord, prefixTimeIndex} {
		start := shardPrefix(p, sk)
		if err := b.DeleteRange(start, prefixEnd(start), nil); err != nil {
			return fmt.Errorf("pebble: delete shard: %w", err)
		}
	}
	if err := b.Delete(shardPrefix(prefixShardMeta, sk), nil); err != nil {
		return fmt.Errorf("pebble: delete shard: %w", err)
	}
	if err := e.db.Apply(b, syncWrite); err != nil {
		return fmt.Errorf("pebble: delete shard: %w", err)
	}
	s.deleted = true
	e.shardsMu.Lock()
	delete(e.shards, sk)
	e.shardsMu.Unlock()
	return nil
}

package streams

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/millrace/millrace/internal/storage"
)

// The data path: PutRecord(s), GetShardIterator and GetRecords. Each call
// takes one snapshot of its stream from memory and never reads the catalog.

// Request limits of the data path.
const (
	// MaxPutRecordsEntries is the most entries one PutRecords takes.
	MaxPutRecordsEntries = 500
	// MaxGetRecordsLimit is the most records, and the default number, one
	// GetRecords returns.
	MaxGetRecordsLimit = 10000
	// maxGetRecordsBytes is the most data one GetRecords returns.
	maxGetRecordsBytes = 10 << 20
)

// putRecordsLimit is the most data (data plus partition keys) one PutRecords
// carries. AWS has long rejected more than 5 MiB with "Records size exceeds
// 5 MB limit" on streams with the default 1 MiB record size; the current
// documentation, written for streams taking records up to 10 MiB, gives 10
// MiB. A stream keeps the 5 MiB limit while its records are capped at 1 MiB
// and gets 10 MiB once its MaxRecordSizeInKiB is raised.
func putRecordsLimit(st *Stream) (bytes int, label string) {
	if st.MaxRecordSizeKiB <= DefaultMaxRecordSizeKiB {
		return 5 << 20, "5 MB"
	}
	return 10 << 20, "10 MB"
}

// PutEntry is one record to write.
type PutEntry struct {
	Data         []byte
	PartitionKey string
	// ExplicitHashKey overrides the partition key's MD5 when not "".
	ExplicitHashKey string
}

// PutResult is the outcome of one entry: ShardID and SequenceNumber on
// success, ErrorCode and ErrorMessage on failure.
type PutResult struct {
	ShardID, SequenceNumber string
	ErrorCode, ErrorMessage string
}

// PutRecordsResult is a PutRecords response.
type PutRecordsResult struct {
	Records        []PutResult // in request order
	FailedCount    int
	EncryptionType string // "NONE" or "KMS"
}

// writableStream returns the snapshot of a stream that takes writes: AWS
// answers ResourceNotFoundException for a stream still CREATING or already
// DELETING.
func (s *Streams) writableStream(ref StreamRef) (*Stream, error) {
	st, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	if st.Status != StatusActive && st.Status != StatusUpdating {
		return nil, notFound(st.mapKey())
	}
	return st, nil
}

func encryptionType(st *Stream) string {
	if st.EncryptionType == "" {
		return "NONE"
	}
	return st.EncryptionType
}

// PutRecord writes one record. sequenceNumberForOrdering, when not "", must be
// a sequence number this server issued; numbers are strictly increasing per
// shard regardless, which is the ordering it asks for.
func (s *Streams) PutRecord(ctx context.Context, ref StreamRef, e PutEntry, sequenceNumberForOrdering string) (PutResult, string, error) {
	st, err := s.writableStream(ref)
	if err != nil {
		return PutResult{}, "", err
	}
	defer st.stats.putRecordDone(time.Now())
	st, layout := s.pinLayout(st)
	defer layout.RUnlock()
	now := s.now()
	if sequenceNumberForOrdering != "" {
		n, ok := parseSeqNum(sequenceNumberForOrdering)
		if !ok || int64(n.RecordSecs) > now.Unix() {
			return PutResult{}, "", errorf(KindInvalidArgument,
				"ExclusiveMinimumSequenceNumber %s used in PutRecord on stream %s under account %s is invalid.",
				sequenceNumberForOrdering, st.Name, st.Account)
		}
	}
	if err := checkRecordSize(st, &e, "data"); err != nil {
		return PutResult{}, "", err
	}
	sh, err := route(st, &e)
	if err != nil {
		return PutResult{}, "", err
	}
	if err := s.admitPut(st, sh, &e); err != nil {
		return PutResult{}, "", err
	}
	entry := []storage.Entry{{PartitionKey: []byte(e.PartitionKey), Data: e.Data}}
	if encrypted(st) {
		if err := s.sealEntries(ctx, st, sh.Index, entry); err != nil {
			return PutResult{}, "", err
		}
	}
	res, err := s.log.Append(ctx, st.Key(sh.Index), now.UnixMilli(), entry)
	if err != nil {
		s.shardClosedUnder(ctx, st, err)
		return PutResult{}, "", s.storageError("append", st, sh, err)
	}
	s.notifyAppend(st.Key(sh.Index))
	st.stats.putRecordStored(sh.Index, len(e.Data)+len(e.PartitionKey))
	return PutResult{ShardID: sh.ID(), SequenceNumber: st.SequenceNumber(sh, res.FirstSeq, res.Arrival)}, encryptionType(st), nil
}

// PutRecords writes up to 500 records. Entries are grouped per shard and each
// shard's group is appended as one unit, all groups in one AppendMany so
// that the call costs one storage commit and one sync. A storage failure
// fails only the entries of the shards it hit (ErrorCode InternalFailure);
// the call as a whole succeeds, as on AWS, where PutRecords is not atomic.
func (s *Streams) PutRecords(ctx context.Context, ref StreamRef, entries []PutEntry) (*PutRecordsResult, error) {
	st, err := s.writableStream(ref)
	if err != nil {
		return nil, err
	}
	var tally putTally // what the call stored, for its metrics (stats.go)
	defer st.stats.putRecordsDone(time.Now(), &tally)
	st, layout := s.pinLayout(st)
	defer layout.RUnlock()
	if len(entries) == 0 || len(entries) > MaxPutRecordsEntries {
		return nil, errorf(KindValidation,
			"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", MaxPutRecordsEntries)
	}
	tally.total = len(entries)
	limit, label := putRecordsLimit(st)
	maxRecord := st.MaxRecordSizeKiB * 1024
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordSizeKiB * 1024
	}
	total, keyBytes := 0, 0
	shardOf := make([]*Shard, len(entries))
	for i := range entries {
		e := &entries[i]
		if len(e.Data)+len(e.PartitionKey) > maxRecord {
			// Only a record over the limit pays for its member path.
			if err := checkRecordSize(st, e, "records."+strconv.Itoa(i+1)+".member.data"); err != nil {
				return nil, err
			}
		}
		total += len(e.Data) + len(e.PartitionKey)
		keyBytes += len(e.PartitionKey)
		if shardOf[i], err = route(st, e); err != nil {
			return nil, err
		}
	}
	if total > limit {
		return nil, errorf(KindInvalidArgument, "Records size exceeds %s limit", label)
	}

	// Group the entries per shard, keeping request order within a shard.
	type group struct {
		sh      *Shard
		idx     []int
		entries []storage.Entry
		res     storage.AppendResult
		err     error
	}
	var groups []*group
	byShard := make(map[uint32]*group, 4)
	count := make(map[uint32]int, 4)
	for _, sh := range shardOf {
		count[sh.Index]++
	}
	// One buffer holds every partition key the storage entries point to.
	keys := make([]byte, 0, keyBytes)
	for i, sh := range shardOf {
		g := byShard[sh.Index]
		if g == nil {
			n := count[sh.Index]
			g = &group{sh: sh, idx: make([]int, 0, n), entries: make([]storage.Entry, 0, n)}
			byShard[sh.Index] = g
			groups = append(groups, g)
		}
		start := len(keys)
		keys = append(keys, entries[i].PartitionKey...)
		g.idx = append(g.idx, i)
		g.entries = append(g.entries, storage.Entry{PartitionKey: keys[start:len(keys):len(keys)], Data: entries[i].Data})
	}
	// Throughput limits and injected faults refuse entries before they are
	// written (throttle.go).
	out := &PutRecordsResult{Records: make([]PutResult, len(entries)), EncryptionType: encryptionType(st)}
	for _, g := range groups {
		g.idx, g.entries = s.admitPutGroup(st, g.sh, entries, g.idx, g.entries, out)
	}
	if encrypted(st) {
		for _, g := range groups {
			if len(g.entries) > 0 {
				if err := s.sealEntries(ctx, st, g.sh.Index, g.entries); err != nil {
					return nil, err
				}
			}
		}
	}
	arrival := s.now().UnixMilli()
	var parts []storage.ShardAppend
	var partOf []*group
	for _, g := range groups {
		if len(g.entries) > 0 {
			parts = append(parts, storage.ShardAppend{Shard: st.Key(g.sh.Index), Entries: g.entries})
			partOf = append(partOf, g)
		}
	}
	switch len(parts) {
	case 0:
	case 1:
		g := partOf[0]
		g.res, g.err = s.log.Append(ctx, parts[0].Shard, arrival, g.entries)
	default:
		s.log.AppendMany(ctx, arrival, parts)
		for i, g := range partOf {
			g.res, g.err = parts[i].Result, parts[i].Err
		}
	}
	for i, g := range partOf {
		if g.err == nil {
			s.notifyAppend(parts[i].Shard)
		}
	}

	for _, g := range partOf {
		if s.shardClosedUnder(ctx, st, g.err) {
			break
		}
	}
	for _, g := range groups {
		if g.err != nil {
			if errors.Is(g.err, storage.ErrShardClosed) {
				s.logger.Info("records routed to a shard another node has just closed fail; the client retries them", "stream", st.Name, "shard", g.sh.ID(), "records", len(g.idx))
			} else {
				s.logger.Error("appending records failed", "stream", st.Name, "shard", g.sh.ID(), "records", len(g.idx), "err", g.err)
			}
			for _, i := range g.idx {
				out.Records[i] = PutResult{ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."}
			}
			out.FailedCount += len(g.idx)
			st.stats.writeRefused(g.sh.Index, 0, len(g.idx), true)
			continue
		}
		id := g.sh.ID()
		bytes := 0
		for j, i := range g.idx {
			out.Records[i] = PutResult{ShardID: id, SequenceNumber: st.SequenceNumber(g.sh, g.res.FirstSeq+uint64(j), g.res.Arrival)}
			bytes += len(entries[i].Data) + len(entries[i].PartitionKey)
		}
		st.stats.shardStored(g.sh.Index, len(g.idx), bytes)
		tally.stored += len(g.idx)
		tally.bytes += bytes
	}
	return out, nil
}

// shardClosedUnder handles an append refused because another node
// resharded the stream (the shard's log is closed, storage.ErrShardClosed)
// while this node still routed by the old layout: it reads the stream
// from the catalog, so that the client's retry routes by the new one. It
// reports whether err was that refusal.
func (s *Streams) shardClosedUnder(ctx context.Context, st *Stream, err error) bool {
	if !errors.Is(err, storage.ErrShardClosed) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.adoptNewer(ctx, st.mapKey())
	// The catalog may still list the shard open: a reshard cut short
	// after it closed it. Finish it.
	if _, closes := s.log.(storage.ShardCloser); closes {
		s.recoverReshard(st)
	}
	return true
}

// checkRecordSize applies the stream's maximum record size, which counts the
// data and the partition key. Data alone over the limit gets the validation
// error AWS's model gives an oversized blob; data that fits but does not
// leave room for its partition key gets InvalidArgumentException.
func checkRecordSize(st *Stream, e *PutEntry, member string) error {
	max := st.MaxRecordSizeKiB * 1024
	if max <= 0 {
		max = DefaultMaxRecordSizeKiB * 1024
	}
	if len(e.Data) > max {
		return errorf(KindValidation,
			"1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, max)
	}
	if size := len(e.Data) + len(e.PartitionKey); size > max {
		return errorf(KindInvalidArgument,
			"Record size %d bytes (data plus partition key) exceeds the maximum record size of %d bytes of stream %s under account %s.",
			size, max, st.Name, st.Account)
	}
	return nil
}

// route finds the open shard whose hash key range holds the entry's hash key.
func route(st *Stream, e *PutEntry) (*Shard, error) {
	var key HashKey
	if e.ExplicitHashKey != "" {
		k, ok := ParseHashKey(e.ExplicitHashKey)
		if !ok {
			return nil, errorf(KindInvalidArgument,
				"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", e.ExplicitHashKey)
		}
		key = k
	} else {
		key = HashPartitionKey([]byte(e.PartitionKey))
	}
	open := st.openShards()
	// The last open shard starting at or below key.
	i := sort.Search(len(open), func(i int) bool { return open[i].StartingHashKey.Cmp(key) > 0 }) - 1
	if i < 0 || open[i].EndingHashKey.Cmp(key) < 0 {
		// Open shards always cover the whole key space; a gap is a bug.
		return nil, errorf(KindInternal, "No open shard of stream %s under account %s covers hash key %s.", st.Name, st.Account, key)
	}
	return open[i], nil
}

// storageError logs a storage failure and turns it into InternalFailure.
func (s *Streams) storageError(op string, st *Stream, sh *Shard, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.logger.Error("storage "+op+" failed", "stream", st.Name, "shard", sh.ID(), "err", err)
	return errorf(KindInternal, "Internal service failure.")
}

// Shard iterator types.
const (
	AtSequenceNumber    = "AT_SEQUENCE_NUMBER"
	AfterSequenceNumber = "AFTER_SEQUENCE_NUMBER"
	TrimHorizon         = "TRIM_HORIZON"
	Latest              = "LATEST"
	AtTimestamp         = "AT_TIMESTAMP"
)

// IteratorParams is a GetShardIterator request.
type IteratorParams struct {
	Ref     StreamRef
	ShardID string
	Type    string
	// StartingSequenceNumber is "" when the request has none.
	StartingSequenceNumber string
	// Timestamp is nil when the request has none.
	Timestamp *time.Time
}

// parseShardID reads a shard id the way AWS does: the number after the
// first '-' ("shardId-000000000001", "shardId-1"), or a bare number.
func parseShardID(id string) (uint32, bool) {
	digits := id
	if _, after, found := strings.Cut(id, "-"); found {
		digits = after
	}
	if digits == "" || len(digits) > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n > 1<<31-1 {
		return 0, false
	}
	return uint32(n), true
}

// shardOf resolves a shard id within a stream snapshot.
func shardOf(st *Stream, id string) (*Shard, error) {
	idx, ok := parseShardID(id)
	if !ok {
		return nil, errorf(KindNotFound, "Could not find shard %s in stream %s under account %s.", id, st.Name, st.Account)
	}
	if int(idx) >= len(st.Shards) {
		return nil, shardNotFound(st.Name, st.Account, idx)
	}
	return &st.Shards[idx], nil
}

func shardNotFound(stream, account string, idx uint32) *Error {
	return errorf(KindNotFound, "Shard shardId-%012d in stream %s under account %s does not exist", idx, stream, account)
}

// GetShardIterator returns an iterator for one shard, positioned by type.
func (s *Streams) GetShardIterator(ctx context.Context, p IteratorParams) (string, error) {
	st, err := s.lookup(p.Ref)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindNotFound {
			// AWS names the shard when the stream does not exist.
			if k, kerr := p.Ref.key(); kerr == nil {
				if idx, ok := parseShardID(p.ShardID); ok {
					return "", shardNotFound(k.name, k.account, idx)
				}
			}
		}
		return "", err
	}
	sh, err := shardOf(st, p.ShardID)
	if err != nil {
		return "", err
	}
	key := st.Key(sh.Index)
	now := s.now()
	var pos uint64
	switch p.Type {
	case AtSequenceNumber, AfterSequenceNumber:
		if p.StartingSequenceNumber == "" {
			return "", errorf(KindInvalidArgument,
				"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and no StartingSequenceNumber.", p.Type)
		}
		if pos, err = st.startingSequence(sh, p.StartingSequenceNumber); err != nil {
			return "", err
		}
		if p.Type == AfterSequenceNumber {
			pos++
		}
	case TrimHorizon, Latest:
		if p.StartingSequenceNumber != "" {
			return "", errorf(KindInvalidArgument,
				"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and also a StartingSequenceNumber.", p.Type)
		}
		if p.Type == Latest {
			b, err := s.log.Bounds(ctx, key)
			if err != nil {
				return "", s.storageError("bounds", st, sh, err)
			}
			pos = b.Next
		} else if pos, err = s.log.SeekTime(ctx, key, s.retentionCutoff(st, now)); err != nil {
			// The oldest record still within the retention period.
			return "", s.storageError("seek", st, sh, err)
		}
	case AtTimestamp:
		if p.Timestamp == nil {
			return "", errorf(KindInvalidArgument,
				"Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
		}
		ts := p.Timestamp.UnixMilli()
		if ts > now.UnixMilli() {
			return "", errorf(KindInvalidArgument,
				"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d",
				ts, now.UnixMilli())
		}
		// A time before the trim horizon starts at the trim horizon.
		ts = max(ts, s.retentionCutoff(st, now))
		if pos, err = s.log.SeekTime(ctx, key, ts); err != nil {
			return "", s.storageError("seek", st, sh, err)
		}
	default:
		return "", errorf(KindInvalidArgument, "Invalid ShardIteratorType %s.", p.Type)
	}
	return s.keys.encodeIterator(&iterator{
		Created: now.UnixMilli(), StreamID: st.ID, Shard: sh.Index, Position: pos,
		Account: st.Account, Region: st.Region, Name: st.Name,
	}), nil
}

// Record is one record as GetRecords returns it.
type Record struct {
	SequenceNumber string
	Arrival        int64 // ms since the epoch
	Data           []byte
	PartitionKey   string
	// EncryptionType is "KMS" for an encrypted record and "" otherwise: AWS
	// leaves the member out for unencrypted records.
	EncryptionType string
}

// ChildShard is a shard created from a closed shard by a split or merge.
type ChildShard struct {
	ShardID                        string
	ParentShards                   []string
	StartingHashKey, EndingHashKey HashKey
}

// GetRecordsResult is a GetRecords response.
type GetRecordsResult struct {
	Records []Record
	// NextShardIterator is "" once the end of a closed shard is reached.
	NextShardIterator  string
	MillisBehindLatest int64
	// ChildShards is set once the end of a closed shard is reached.
	ChildShards []ChildShard
}

// GetRecords reads from the position an iterator holds. limit is 0 for the
// default (10,000). Every call returns a new iterator, also when it returns no
// records, except at the end of a closed shard, where it returns the shard's
// children instead.
func (s *Streams) GetRecords(ctx context.Context, shardIterator string, limit int) (*GetRecordsResult, error) {
	return s.getRecords(ctx, shardIterator, limit, nil)
}

// GetRecordsBuffered is GetRecords for a caller that is done with the
// result at a point it knows, such as a GetRecords response once written:
// the records are read into memory the server reuses (readbuf.go), and
// release, which must be called exactly once when nothing uses the result
// any more, hands it back. On error release is nil.
func (s *Streams) GetRecordsBuffered(ctx context.Context, shardIterator string, limit int) (res *GetRecordsResult, release func(), err error) {
	var l *readLease
	res, err = s.getRecords(ctx, shardIterator, limit, &l)
	switch {
	case err != nil:
		if l != nil {
			s.readBufs.release(l)
		}
		return nil, nil, err
	case l == nil:
		return res, func() {}, nil
	}
	return res, func() { s.readBufs.release(l) }, nil
}

// getRecords is GetRecords; with lease set it reads into a lease from the
// read buffers and leaves it in *lease (nil when it read without one).
func (s *Streams) getRecords(ctx context.Context, shardIterator string, limit int, lease **readLease) (res *GetRecordsResult, err error) {
	if limit == 0 {
		limit = MaxGetRecordsLimit
	}
	if limit < 1 || limit > MaxGetRecordsLimit {
		return nil, errorf(KindInvalidArgument, "Limit %d is not in the range [1, %d].", limit, MaxGetRecordsLimit)
	}
	now := s.now()
	it, err := s.keys.decodeIterator(shardIterator, now, s.opts.IteratorTTL)
	if err != nil {
		return nil, err
	}
	st, err := s.lookup(StreamRef{Account: it.Account, Region: it.Region, Name: it.Name})
	if err != nil || st.ID != it.StreamID || int(it.Shard) >= len(st.Shards) {
		// Deleted, or deleted and created again: the iterator's shard is gone.
		return nil, shardNotFound(it.Name, it.Account, it.Shard)
	}
	sh := &st.Shards[it.Shard]
	defer st.stats.getRecordsDone(sh.Index, time.Now(), &res, &err)
	key := st.Key(sh.Index)
	lim, err := s.admitGet(st, sh)
	if err != nil {
		return nil, err
	}
	out := &GetRecordsResult{}
	pos := it.Position

	if !sh.IsOpen() && pos > sh.EndingSeq {
		out.ChildShards = childShards(st, sh)
		out.Records = []Record{}
		return out, nil
	}

	cutoff := s.retentionCutoff(st, now)
	read := s.log.Read
	maxBytes := maxGetRecordsBytes
	var l *readLease
	if lease != nil {
		if l = s.readBufs.acquire(ctx); l == nil {
			maxBytes = overdraftBytes
		} else if br, ok := s.log.(storage.BufferReader); ok {
			read = func(ctx context.Context, key storage.ShardKey, from uint64, maxRecords, maxBytes int) ([]storage.Record, error) {
				recs, err := br.ReadBuffer(ctx, key, from, maxRecords, maxBytes, l.srecs, l.buf)
				l.noteRead(recs)
				return recs, err
			}
		}
		*lease = l
	}
	recs, err := read(ctx, key, pos, limit, maxBytes)
	if err != nil {
		return nil, s.storageError("read", st, sh, err)
	}
	if len(recs) > 0 && recs[0].Arrival < cutoff {
		// Expired records not trimmed yet: skip straight past them.
		if pos, err = s.log.SeekTime(ctx, key, cutoff); err != nil {
			return nil, s.storageError("seek", st, sh, err)
		}
		if recs, err = read(ctx, key, pos, limit, maxBytes); err != nil {
			return nil, s.storageError("read", st, sh, err)
		}
	}
	// The records' sequence numbers and partition keys are carved from
	// shared chunks, not two allocations per record.
	var text textArena
	if l != nil {
		out.Records = l.recs[:0]
		text.buf = l.text[:0]
	} else {
		out.Records = make([]Record, 0, len(recs))
	}
	next := pos
	for i := range recs {
		r := &recs[i]
		if r.Arrival < cutoff {
			next = r.Seq + 1
			continue
		}
		if !sh.IsOpen() && r.Seq > sh.EndingSeq {
			break
		}
		rec := Record{
			SequenceNumber: text.sequenceNumber(st, sh, r.Seq, r.Arrival),
			Arrival:        r.Arrival,
			Data:           r.Data,
			PartitionKey:   text.string(r.PartitionKey),
		}
		if len(r.PartitionKey) == 0 { // encrypted (encryption.go)
			if err := s.openRecord(ctx, key, r, &rec); err != nil {
				return nil, err
			}
			if l != nil {
				// Decrypted records live outside the lease: its
				// release forgets them.
				l.foreign = len(out.Records) + 1
			}
		}
		out.Records = append(out.Records, rec)
		next = r.Seq + 1
	}
	s.chargeGet(st.Key(sh.Index), lim, out.Records)
	if !sh.IsOpen() && len(recs) == 0 {
		// Nothing left at or after the position in a closed shard: its
		// records are all read, or expired and reclaimed.
		next = max(next, sh.EndingSeq+1)
	}

	if !sh.IsOpen() && next > sh.EndingSeq {
		out.ChildShards = childShards(st, sh)
		return out, nil
	}
	out.NextShardIterator = s.keys.encodeIterator(&iterator{
		Created: now.UnixMilli(), StreamID: st.ID, Shard: sh.Index, Position: next,
		Account: st.Account, Region: st.Region, Name: st.Name,
	})
	if out.MillisBehindLatest, err = s.behind(ctx, st, sh, next, out.Records, now); err != nil {
		return nil, err
	}
	return out, nil
}

// textArena carves the strings of a GetRecords response (sequence numbers
// and partition keys) from shared chunks. A chunk's bytes are never
// written again once a string covers them, so the strings may share its
// memory.
type textArena struct{ buf []byte }

// textChunk is below the runtime's large-object size, so that chunks come
// from the per-thread caches.
const textChunk = 16 << 10

func (a *textArena) sequenceNumber(st *Stream, sh *Shard, seq uint64, arrival int64) string {
	if cap(a.buf)-len(a.buf) < 64 {
		a.buf = make([]byte, 0, textChunk)
	}
	start := len(a.buf)
	a.buf = st.appendSequenceNumber(a.buf, sh, seq, arrival)
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

func (a *textArena) string(b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > textChunk/8:
		return string(b)
	case cap(a.buf)-len(a.buf) < len(b):
		a.buf = make([]byte, 0, textChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

// behind computes MillisBehindLatest: 0 when the reader has caught up with
// the shard's newest record; otherwise how old the oldest record it has not
// read yet is, approximated by the newest record this call returned (the
// next unread one arrived at or after it). When the call returned nothing
// but the reader is behind, the next unread record is read to date it.
func (s *Streams) behind(ctx context.Context, st *Stream, sh *Shard, next uint64, recs []Record, now time.Time) (int64, error) {
	b, err := s.log.Bounds(ctx, st.Key(sh.Index))
	if err != nil {
		return 0, s.storageError("bounds", st, sh, err)
	}
	if next >= b.Next {
		return 0, nil
	}
	var at int64
	if len(recs) > 0 {
		at = recs[len(recs)-1].Arrival
	} else {
		peek, err := s.log.Read(ctx, st.Key(sh.Index), next, 1, 1)
		if err != nil {
			return 0, s.storageError("read", st, sh, err)
		}
		if len(peek) == 0 {
			return 0, nil
		}
		at = peek[0].Arrival
	}
	return max(0, now.UnixMilli()-at), nil
}

// childShards lists the shards created from sh by a split or merge.
func childShards(st *Stream, sh *Shard) []ChildShard {
	var out []ChildShard
	for i := range st.Shards {
		c := &st.Shards[i]
		if c.ParentIndex != int64(sh.Index) && c.AdjacentParentIndex != int64(sh.Index) {
			continue
		}
		cs := ChildShard{ShardID: c.ID(), StartingHashKey: c.StartingHashKey, EndingHashKey: c.EndingHashKey}
		for _, p := range [...]int64{c.ParentIndex, c.AdjacentParentIndex} {
			if p >= 0 && int(p) < len(st.Shards) {
				cs.ParentShards = append(cs.ParentShards, st.Shards[p].ID())
			}
		}
		out = append(out, cs)
	}
	return out
}

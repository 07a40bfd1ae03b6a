package agent

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/producer"
)

// finishAfter is how long a file no longer at a matching path (renamed
// away, deleted, or truncated without a copy) is watched for more data
// after it stopped growing.
const finishAfter = 5 * time.Second

// putter is the part of the producer a flow uses.
type putter interface {
	PutCallback(ctx context.Context, rec aggregation.Record, cb func(producer.Result)) error
}

// flowRunner tails the files of one flow.
type flowRunner struct {
	fl     *Flow
	id     string
	prod   putter
	log    *slog.Logger
	stats  *Stats
	buf    []byte
	nextID int64

	mu      sync.Mutex // guards files for the checkpoint writer
	files   []*tracked
	shadows map[fileID]*tracked // copies of files not yet truncated
	// maybeCopy holds files that start as a tracked file does, as far as
	// they go, but are shorter than what was read of it, since when they
	// were first seen.
	maybeCopy map[fileID]time.Time
	started   bool
	resume    []*fileCheckpoint // from the checkpoint, not yet matched
	fresh     bool              // no checkpoint for the flow: initialPosition applies
	skip      map[string]int    // partition keys found in the stream after a crash
	ctx       context.Context

	ackedMu  sync.Mutex
	maxAcked map[string]string // per shard, the highest sequence number acknowledged
}

func newFlowRunner(fl *Flow, prod putter, cp *flowCheckpoint, skip map[string]int, log *slog.Logger, stats *Stats) *flowRunner {
	r := &flowRunner{fl: fl, id: fl.ID(), prod: prod, log: log, stats: stats,
		buf: make([]byte, 256<<10), shadows: map[fileID]*tracked{}, maybeCopy: map[fileID]time.Time{}, maxAcked: map[string]string{}, skip: skip, fresh: cp == nil}
	if cp != nil {
		r.resume = cp.Files
	}
	return r
}

func (r *flowRunner) run(ctx context.Context) error {
	r.ctx = ctx
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := r.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.Reset(r.fl.MinTimeBetweenFilePolls)
	}
}

type listed struct {
	path string
	id   fileID
	size int64
	mt   time.Time
}

// list returns the regular files matching the flow's pattern, oldest first.
func (r *flowRunner) list() []listed {
	paths, _ := filepath.Glob(r.fl.FilePattern)
	var out []listed
	for _, p := range paths {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".gz", ".bz2", ".zip":
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, listed{p, statID(fi), fi.Size(), fi.ModTime()})
	}
	slices.SortStableFunc(out, func(a, b listed) int { return a.mt.Compare(b.mt) })
	return out
}

func (r *flowRunner) poll(ctx context.Context) error {
	now := time.Now()
	// Truncation is checked before listing: copytruncate copies before it
	// truncates, so the listing that follows holds the copy.
	for _, t := range r.files {
		if t.detached || t.f == nil {
			continue
		}
		fi, err := t.f.Stat()
		if err != nil || fi.Size() < t.scan || !t.sameStart(t.f) {
			r.detach(t)
		}
	}
	ls := r.list()
	byID := map[fileID]listed{}
	for _, l := range ls {
		byID[l.id] = l
	}
	attached := map[fileID]*tracked{}
	for _, t := range r.files {
		if !t.detached {
			attached[t.ident] = t
		}
	}
	for id, orig := range r.shadows {
		if _, ok := byID[id]; !ok || orig.finishedOrGone() {
			delete(r.shadows, id)
		}
	}
	for id := range r.maybeCopy {
		if _, ok := byID[id]; !ok {
			delete(r.maybeCopy, id)
		}
	}
	found := ls
	if !r.started {
		// The files checkpointed under their identity are found first,
		// so that a copy being made of one (copytruncate) is known for
		// one whatever the order of the listing.
		found = slices.Clone(ls)
		slices.SortStableFunc(found, func(a, b listed) int {
			return compareBool(r.checkpointedAt(b.id), r.checkpointedAt(a.id))
		})
	}
	for _, l := range found {
		if t := attached[l.id]; t != nil {
			t.path = l.path
			if t.f == nil && (l.size != t.size || !l.mt.Equal(t.mtime)) {
				r.open(t, l)
			}
			t.size, t.mtime = l.size, l.mt
			continue
		}
		r.discover(l, attached)
	}
	if !r.started {
		// They are read oldest first all the same.
		rank := make(map[fileID]int, len(ls))
		for i, l := range ls {
			rank[l.id] = i
		}
		order := slices.Clone(r.files)
		slices.SortStableFunc(order, func(a, b *tracked) int { return rank[a.ident] - rank[b.ident] })
		for i, t := range order {
			t.born = int64(i + 1)
		}
	}
	r.started = true
	r.resume = nil
	r.publish(r.files...)

	order := slices.Clone(r.files)
	slices.SortFunc(order, func(a, b *tracked) int { return int(a.born - b.born) })
	for _, t := range order {
		if t.f == nil {
			continue
		}
		ok, err := t.read(r.fl, r.buf, r.emit, r.stats)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// A read error (EIO, a file system gone) is the file's, not
			// the flow's: try again at the next poll.
			r.log.Warn("reading a file", "path", t.path, "offset", t.scan, "err", err)
			continue
		}
		if !ok {
			r.detach(t)
			continue
		}
		r.publish(t)
		_, listedNow := byID[t.ident]
		idle := now.Sub(t.lastGrowth)
		if len(t.rec) > 0 && idle >= r.fl.MaxBufferAge {
			if err := t.flushRec(r.emit); err != nil {
				return err
			}
		}
		if idle >= finishAfter && (!listedNow || t.detached) {
			if err := t.flushRec(r.emit); err != nil {
				return err
			}
			t.f.Close()
			t.f = nil
			t.footer = true
		} else if idle >= time.Minute && listedNow {
			t.f.Close() // reopened when it changes
			t.f = nil
		}
	}
	// Forget files that are gone and fully acknowledged.
	r.mu.Lock()
	r.files = slices.DeleteFunc(r.files, func(t *tracked) bool {
		if t.f != nil {
			return false
		}
		if _, ok := byID[t.ident]; ok && !t.detached {
			return false
		}
		if t.detached && now.Sub(t.lastGrowth) < finishAfter {
			return false
		}
		_, _, pending, _ := t.acks.state()
		return pending == 0
	})
	r.mu.Unlock()
	return nil
}

// checkpointedAt reports whether the checkpoint holds a file at identity
// id.
func (r *flowRunner) checkpointedAt(id fileID) bool {
	return slices.ContainsFunc(r.resume, func(cp *fileCheckpoint) bool {
		return cp != nil && (fileID{cp.Dev, cp.Ino}) == id
	})
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func (t *tracked) finishedOrGone() bool { return t.footer && t.f == nil }

// fileMeta is what the checkpoint writer and the metrics read of a
// tracked file, published by the poll goroutine under flowRunner.mu.
type fileMeta struct {
	path          string
	ident, origin fileID
	detached      bool
	fpLen         int
	fp            string
	size          int64
}

// publish makes t's current state visible to the checkpoint writer.
func (r *flowRunner) publish(ts ...*tracked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		t.meta = fileMeta{t.path, t.ident, t.origin, t.detached, t.fingerprintLen(), t.fingerprint(), max(t.size, t.scan)}
	}
}

// detach separates t from an inode whose content was replaced; a copy of
// the old content, when one appears, continues t.
func (r *flowRunner) detach(t *tracked) {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.detached = true
	t.lastGrowth = time.Now()
	defer r.publish(t)
	r.log.Info("file truncated or replaced", "path", t.path, "offset", t.scan)
	for id, orig := range r.shadows {
		if orig == t {
			delete(r.shadows, id)
			r.attachCopy(t, id)
			return
		}
	}
}

// attachCopy continues t in the copy with identity id, when it is listed.
func (r *flowRunner) attachCopy(t *tracked, id fileID) {
	for _, l := range r.list() {
		if l.id == id {
			f, err := os.Open(l.path)
			if err != nil {
				return
			}
			if fi, err := f.Stat(); err != nil || statID(fi) != id || !t.isCopy(f) {
				f.Close()
				return
			}
			t.f, t.ident, t.path, t.detached = f, id, l.path, false
			t.size, t.mtime = l.size, l.mt
			r.log.Info("continuing in the copy", "path", l.path, "offset", t.scan)
			return
		}
	}
}

func (r *flowRunner) open(t *tracked, l listed) {
	f, err := os.Open(l.path)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil || statID(fi) != t.ident {
		f.Close()
		return
	}
	if fi.Size() < t.scan || !t.sameStart(f) {
		f.Close()
		r.detach(t)
		return
	}
	t.f = f
}

// discover starts tracking a file not tracked yet: a checkpointed file at
// its offset, a copy of a truncated file where the original stopped, or a
// new file.
func (r *flowRunner) discover(l listed, attached map[fileID]*tracked) {
	f, err := os.Open(l.path)
	if err != nil {
		return
	}
	if fi, err := f.Stat(); err != nil || statID(fi) != l.id {
		f.Close()
		return
	}
	if orig, ok := r.shadows[l.id]; ok {
		if !orig.detached {
			f.Close()
			return
		}
		delete(r.shadows, l.id)
	}
	// A checkpointed file, at its identity or (copied while the agent
	// was down) elsewhere.
	if !r.started {
		for _, pass := range []bool{true, false} {
			for i, cp := range r.resume {
				if cp == nil || (pass && (fileID{cp.Dev, cp.Ino} != l.id)) || (!pass && cp.FingerprintLen == 0) {
					continue
				}
				sum, ok := fingerprintOf(f, cp.FingerprintLen)
				if !ok || sum != cp.Fingerprint || l.size < cp.Offset {
					continue
				}
				r.resume[i] = nil
				t := r.newTracked(l, f, cp.Offset)
				t.origin = fileID{cp.OriginDev, cp.OriginIno}
				t.fp = make([]byte, cp.FingerprintLen)
				f.ReadAt(t.fp, 0)
				t.skipUntil = l.size
				return
			}
		}
	}
	// A copy of a file truncated, or about to be (copytruncate).
	for _, t := range r.files {
		if t.fingerprintLen() == 0 {
			continue
		}
		if l.size < t.scan {
			// Perhaps a copy still being written: decide when it has
			// grown, or after a while. It is written in pieces, so a
			// poll can list it before it holds the bytes that identify
			// t (even empty): as far as it goes, it must start as t.
			if !t.startsLike(f, l.size) {
				continue
			}
			first, seen := r.maybeCopy[l.id]
			if !seen {
				r.maybeCopy[l.id] = time.Now()
			}
			if !seen || time.Since(first) < finishAfter {
				f.Close()
				return
			}
			continue
		}
		if !t.isCopy(f) {
			continue
		}
		if t.detached && t.f == nil {
			t.f, t.ident, t.path, t.detached = f, l.id, l.path, false
			t.size, t.mtime = l.size, l.mt
			r.log.Info("continuing in the copy", "path", l.path, "offset", t.scan)
			return
		}
		if !t.detached {
			r.shadows[l.id] = t
			f.Close()
			return
		}
	}
	start := int64(0)
	if !r.started && r.fresh && r.fl.InitialPosition == "END_OF_FILE" {
		start = lastLineEnd(f, l.size)
	}
	t := r.newTracked(l, f, start)
	if start == 0 {
		t.headerLeft = r.fl.SkipHeaderLines
	}
	if !r.started {
		t.skipUntil = l.size
	}
}

func (r *flowRunner) newTracked(l listed, f *os.File, off int64) *tracked {
	r.nextID++
	t := &tracked{ident: l.id, origin: l.id, path: l.path, f: f, size: l.size, mtime: l.mt,
		born: r.nextID, scan: off, recOff: off, recEnd: off, lastGrowth: time.Now()}
	t.acks.acked = off
	if off > 0 {
		t.fp = make([]byte, min(off, fingerprintMax))
		if _, err := f.ReadAt(t.fp, 0); err != nil {
			t.fp = nil
		}
	}
	r.mu.Lock()
	r.files = append(r.files, t)
	r.mu.Unlock()
	r.publish(t)
	return t
}

// lastLineEnd is the offset after the last newline before size.
func lastLineEnd(f *os.File, size int64) int64 {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, _ := f.ReadAt(buf[:end-start], start)
		if i := lastIndexNL(buf[:n]); i >= 0 {
			return start + int64(i) + 1
		}
		end = start
	}
	return 0
}

func lastIndexNL(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

// partitionKey is the record's key. DETERMINISTIC is the hex MD5 of the
// data, as in the Java agent. RANDOM is, as there, a decimal number in
// [0, 1e6), but derived from the record's place (its file's identity, its
// offset, its content): uniformly spread, and the same when a record is
// read again, so that after a crash the records already in the stream are
// recognised.
func (r *flowRunner) partitionKey(t *tracked, start int64, data []byte) string {
	if r.fl.PartitionKeyOption == "DETERMINISTIC" {
		s := md5.Sum(data)
		return hex.EncodeToString(s[:])
	}
	// FNV-1a (hash/fnv's New64a, without its interface and copies) of
	// the flow, the file's identity, the offset and the data.
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], t.origin.Dev)
	binary.BigEndian.PutUint64(b[8:], t.origin.Ino)
	binary.BigEndian.PutUint64(b[16:], uint64(start))
	h := fnv1a(fnv1a(fnv1a(fnvOffset64, r.id), b[:]), data)
	v := float64(h>>11) / (1 << 53) * 1e6
	var k [32]byte
	return string(strconv.AppendFloat(k[:0], v, 'f', -1, 64))
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnv1a[T string | []byte](h uint64, b T) uint64 {
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime64
	}
	return h
}

func (r *flowRunner) emit(t *tracked, start, end int64, data []byte, cut bool) error {
	now := time.Now()
	if data == nil {
		t.acks.add(end, now, true)
		return nil
	}
	if cut {
		r.stats.RecordsTruncated.Add(1)
	}
	data, failed := process(r.fl.Processors, data)
	r.stats.ConversionFailures.Add(int64(failed))
	if len(data) > maxRecordData {
		data = cutRecord(data[:maxRecordData], true, r.fl.TruncatedRecordTerm)
	}
	pk := r.partitionKey(t, start, data)
	if r.skip != nil && end <= t.skipUntil && r.skip[pk] > 0 {
		r.skip[pk]--
		r.stats.RecordsRecovered.Add(1)
		t.acks.add(end, now, true)
		return nil
	}
	seq := t.acks.add(end, now, false)
	size := int64(len(data))
	err := r.prod.PutCallback(r.ctx, aggregation.Record{PartitionKey: pk, Data: data}, func(res producer.Result) {
		if res.Err != nil {
			r.stats.RecordsFailed.Add(1)
			return
		}
		r.stats.RecordsSent.Add(1)
		r.stats.BytesSent.Add(size)
		r.ackedMu.Lock()
		r.maxAcked[res.ShardID] = maxSeq(r.maxAcked[res.ShardID], res.SequenceNumber)
		r.ackedMu.Unlock()
		t.acks.done(seq, res.ShardID, res.SequenceNumber)
	})
	if err != nil && r.ctx.Err() == nil {
		r.stats.RecordsFailed.Add(1)
	}
	return err
}

// checkpoint returns the flow's state to write.
func (r *flowRunner) checkpoint(now time.Time) (*flowCheckpoint, bool) {
	r.ackedMu.Lock()
	// Records put after now land after these on their shards.
	start := make(map[string]string, len(r.maxAcked))
	for k, v := range r.maxAcked {
		start[k] = v
	}
	r.ackedMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := &flowCheckpoint{Since: now}
	clean := true
	for _, t := range r.files {
		acked, oldest, pending, prefix := t.acks.state()
		if pending > 0 {
			clean = false
			if oldest.Before(cp.Since) {
				cp.Since = oldest
			}
			// The file's records after acked land, on each shard, after
			// its records before acked; on a shard where it has none
			// acknowledged, anywhere since its oldest put.
			for sh, s := range start {
				if p, ok := prefix[sh]; !ok {
					start[sh] = ""
				} else if s != "" && maxSeq(p, s) == s {
					start[sh] = p
				}
			}
		}
		m := t.meta
		fc := &fileCheckpoint{Path: m.path, Dev: m.ident.Dev, Ino: m.ident.Ino,
			OriginDev: m.origin.Dev, OriginIno: m.origin.Ino,
			FingerprintLen: m.fpLen, Fingerprint: m.fp, Offset: acked, LastUpdated: now}
		if m.detached {
			// Its inode holds other data now; it continues only in a
			// copy, found by fingerprint.
			fc.Dev, fc.Ino = 0, 0
		}
		cp.Files = append(cp.Files, fc)
	}
	cp.ShardStart = start
	return cp, clean
}

// backlog returns the bytes of the flow's files not yet acknowledged and
// the age of the oldest record not acknowledged.
func (r *flowRunner) backlog(now time.Time) (bytes int64, behind time.Duration) {
	type file struct {
		m     fileMeta
		acked int64
	}
	var fs []file
	r.mu.Lock()
	for _, t := range r.files {
		acked, oldest, pending, _ := t.acks.state()
		if pending > 0 {
			behind = max(behind, now.Sub(oldest))
		}
		fs = append(fs, file{t.meta, acked})
	}
	r.mu.Unlock()
	for _, f := range fs {
		if f.m.detached {
			continue
		}
		size := f.m.size
		if fi, err := os.Stat(f.m.path); err == nil && statID(fi) == f.m.ident {
			size = max(size, fi.Size())
		}
		bytes += max(0, size-f.acked)
	}
	return bytes, behind
}

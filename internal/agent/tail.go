package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// fingerprintMax is how many bytes at the start of a file identify it with
// its device and inode.
const fingerprintMax = 1024

// maxRecordData bounds a record's data; a longer one is cut and ends with
// truncatedRecordTerminator (1000 KiB leaves room for the partition key
// within Kinesis's 1 MiB and is Firehose's limit).
const maxRecordData = 1000 << 10

type fileID struct{ Dev, Ino uint64 }

func statID(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}
}

// tracked is one logical file: a byte sequence read from one inode, or
// from the copy that copytruncate made of it.
type tracked struct {
	ident, origin fileID
	path          string
	f             *os.File
	size          int64 // last size seen
	mtime         time.Time
	born          int64  // creation order in the flow, for reading order
	fp            []byte // the first bytes of the file, up to fingerprintMax
	tail          []byte // the last bytes read, before scan
	slab          []byte // the block records are copied into (see keep)

	scan    int64 // file offset read into the state below
	recOff  int64 // offset where the record being assembled starts
	line    []byte
	lineCut bool // line exceeded maxRecordData: the rest is dropped
	rec     []byte
	recEnd  int64 // end of the last complete line in rec (multi-line)
	recCut  bool

	headerLeft int
	footer     bool
	detached   bool // its inode was truncated; waiting for a copy
	lastGrowth time.Time
	// skipUntil bounds, after a restart, the records that may have been
	// delivered before it (the file's size at the start).
	skipUntil int64

	acks ackQueue
	meta fileMeta // guarded by flowRunner.mu
}

// ackQueue tracks the records of a file in flight: the offset before which
// every one is acknowledged advances as the first ones complete.
type ackQueue struct {
	mu    sync.Mutex
	base  int64
	q     []pend
	head  int
	acked int64
	// prefix holds, per shard, the highest sequence number of the
	// records before acked.
	prefix map[string]string
}

type pend struct {
	end        int64
	put        time.Time
	done       bool
	shard, seq string
}

func (a *ackQueue) add(end int64, put time.Time, done bool) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	seq := a.base + int64(len(a.q)-a.head)
	a.q = append(a.q, pend{end: end, put: put, done: done})
	a.advance()
	return seq
}

// done marks record i acknowledged, written to shard with sequence number
// seq.
func (a *ackQueue) done(i int64, shard, seq string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := &a.q[a.head+int(i-a.base)]
	p.done, p.shard, p.seq = true, shard, seq
	a.advance()
}

func (a *ackQueue) advance() {
	for a.head < len(a.q) && a.q[a.head].done {
		p := &a.q[a.head]
		a.acked = p.end
		if p.shard != "" {
			if a.prefix == nil {
				a.prefix = map[string]string{}
			}
			a.prefix[p.shard] = maxSeq(a.prefix[p.shard], p.seq)
		}
		*p = pend{}
		a.head++
		a.base++
	}
	if a.head > 1024 && a.head*2 > len(a.q) {
		a.q = append(a.q[:0], a.q[a.head:]...)
		a.head = 0
	}
}

// maxSeq returns the greater of two sequence numbers (decimal strings
// without leading zeros; "" is less than any).
func maxSeq(a, b string) string {
	if len(a) != len(b) {
		if len(a) > len(b) {
			return a
		}
		return b
	}
	return max(a, b)
}

// state returns the acknowledged offset, the put time of the oldest record
// not acknowledged, the count not acknowledged and, per shard, the
// highest sequence number before the acknowledged offset.
func (a *ackQueue) state() (acked int64, oldest time.Time, pending int, prefix map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.head < len(a.q) {
		oldest = a.q[a.head].put
	}
	prefix = make(map[string]string, len(a.prefix))
	for k, v := range a.prefix {
		prefix[k] = v
	}
	return a.acked, oldest, len(a.q) - a.head, prefix
}

// startsLike reports whether the first size bytes of f, a file perhaps
// still being written, agree with t's first bytes as far as both go.
func (t *tracked) startsLike(f *os.File, size int64) bool {
	n := min(size, int64(len(t.fp)))
	if n == 0 {
		return true
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		return false
	}
	return bytes.Equal(b, t.fp[:n])
}

// fingerprint returns the hash of the first n bytes of f, or false when f
// has fewer.
func fingerprintOf(f *os.File, n int) (string, bool) {
	if n == 0 {
		return "", true
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return "", false
	}
	s := sha256.Sum256(buf)
	return hex.EncodeToString(s[:]), true
}

func (t *tracked) fingerprintLen() int { return len(t.fp) }

func (t *tracked) fingerprint() string {
	s := sha256.Sum256(t.fp)
	return hex.EncodeToString(s[:])
}

// isCopy reports whether f holds what t read: the same first bytes and the
// same bytes just before t's offset.
func (t *tracked) isCopy(f *os.File) bool {
	if len(t.fp) == 0 || !t.sameStart(f) {
		return false
	}
	if len(t.tail) == 0 {
		return true
	}
	b := make([]byte, len(t.tail))
	_, err := f.ReadAt(b, t.scan-int64(len(b)))
	return err == nil && bytes.Equal(b, t.tail)
}

// sameStart reports whether f begins with the bytes that identify t.
func (t *tracked) sameStart(f *os.File) bool {
	n := t.fingerprintLen()
	if n == 0 {
		return true
	}
	sum, ok := fingerprintOf(f, n)
	return ok && sum == t.fingerprint()
}

// emitFunc receives a complete record: its bytes in the file, its data
// (nil for a skipped header or footer line) and whether it was cut.
type emitFunc func(t *tracked, start, end int64, data []byte, cut bool) error

// read reads what was appended to t's file since the last call and emits
// the complete records. It returns false when the file turned out to be
// truncated or replaced under t (t is then detached).
func (t *tracked) read(fl *Flow, buf []byte, emit emitFunc, stats *Stats) (ok bool, err error) {
	for {
		n, rerr := t.f.ReadAt(buf, t.scan)
		if n == 0 {
			if rerr != nil && rerr != io.EOF {
				return true, rerr
			}
			return true, nil
		}
		// What was read belongs to this file only if its start is still
		// the one read before (copytruncate refills the same inode).
		if len(t.fp) > 0 && !t.sameStart(t.f) {
			return false, nil
		}
		if from, to := int64(len(t.fp))-t.scan, min(int64(n), fingerprintMax-t.scan); from >= 0 && to > from {
			t.fp = append(t.fp, buf[from:to]...)
		}
		keep := min(n, 256)
		t.tail = append(t.tail[:0], buf[n-keep:n]...)
		t.lastGrowth = time.Now()
		stats.BytesRead.Add(int64(n))
		if err := t.consume(fl, buf[:n], emit, stats); err != nil {
			return true, err
		}
		if n < len(buf) {
			return true, nil
		}
	}
}

// consume feeds bytes read at t.scan into the line and record assembly.
func (t *tracked) consume(fl *Flow, b []byte, emit emitFunc, stats *Stats) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		b = b[len(chunk):]
		t.scan += int64(len(chunk))
		if t.footer {
			t.recOff = t.scan
			continue
		}
		if room := maxRecordData - len(t.line); len(chunk) > room {
			t.line = append(t.line, chunk[:room]...)
			t.lineCut = true
		} else {
			t.line = append(t.line, chunk...)
		}
		if i < 0 {
			break
		}
		stats.LinesRead.Add(1)
		if err := t.endLine(fl, emit); err != nil {
			return err
		}
	}
	return nil
}

// endLine handles the complete line in t.line (ending at t.scan).
func (t *tracked) endLine(fl *Flow, emit emitFunc) error {
	line, cut := t.line, t.lineCut
	t.line, t.lineCut = t.line[:0], false
	if t.headerLeft > 0 {
		t.headerLeft--
		return t.emitRange(emit, t.recOff, t.scan, nil, false)
	}
	body := bytes.TrimSuffix(line, []byte("\n"))
	if fl.FileFooterPattern != nil && fl.FileFooterPattern.Match(body) {
		t.footer = true
		if err := t.flushRec(emit); err != nil {
			return err
		}
		return t.emitRange(emit, t.recOff, t.scan, nil, false)
	}
	if fl.MultiLineStartPattern == nil {
		return t.emitRange(emit, t.recOff, t.scan, cutRecord(line, cut, fl.TruncatedRecordTerm), cut)
	}
	if fl.MultiLineStartPattern.Match(body) && len(t.rec) > 0 {
		if err := t.flushRec(emit); err != nil {
			return err
		}
	}
	if !t.recCut {
		if room := maxRecordData - len(t.rec); cut || len(line) > room {
			t.rec = append(t.rec, line[:min(room, len(line))]...)
			t.rec = cutRecord(t.rec, true, fl.TruncatedRecordTerm)
			t.recCut = true
		} else {
			t.rec = append(t.rec, line...)
		}
	}
	t.recEnd = t.scan
	return nil
}

// flushRec emits the multi-line record assembled so far.
func (t *tracked) flushRec(emit emitFunc) error {
	if len(t.rec) == 0 {
		return nil
	}
	rec, cut := t.rec, t.recCut
	t.rec, t.recCut = nil, false
	return t.emitRange(emit, t.recOff, t.recEnd, rec, cut)
}

func (t *tracked) emitRange(emit emitFunc, start, end int64, data []byte, cut bool) error {
	if data != nil {
		data = t.keep(data)
	}
	t.recOff = end
	return emit(t, start, end, data, cut)
}

// slabSize is the size of the blocks that records are copied into.
const slabSize = 64 << 10

// keep returns a copy of data that stays valid until the record is
// acknowledged. Small records are copied into a shared block rather than
// an allocation each: a block lives as long as one of its records is in
// flight, a few blocks for the flow's bounded buffer. The copy's capacity
// ends with it, so that appending to it cannot reach its neighbour.
func (t *tracked) keep(data []byte) []byte {
	if len(data) > slabSize/8 {
		return bytes.Clone(data)
	}
	if cap(t.slab)-len(t.slab) < len(data) {
		t.slab = make([]byte, 0, slabSize)
	}
	n := len(t.slab)
	t.slab = append(t.slab, data...)
	return t.slab[n:len(t.slab):len(t.slab)]
}

// cutRecord ends a record that exceeded the size limit with the
// terminator, within the limit.
func cutRecord(rec []byte, cut bool, term string) []byte {
	if !cut {
		return rec
	}
	if len(rec) > maxRecordData-len(term) {
		rec = rec[:maxRecordData-len(term)]
	}
	return append(rec, term...)
}

package streams

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/millrace/millrace/internal/storage"
)

// Read buffers of the GetRecords API call.
//
// Every GetRecords copies its records out of the log into memory of its
// own. Readers inside the server (enhanced fan-out, event source mappings,
// Firehose, analytics) keep the records they get, but a GetRecords answered
// over HTTP is done with them once its response is written: such a call
// (GetRecordsBuffered) reads into a lease, one record-bytes buffer of the
// per-call maximum with the call's record and string slices, which goes
// back to a pool when the response is out, so that the next call reuses
// the memory instead of allocating, zeroing and collecting it.
//
// Leases are also the server's budget for that memory: at most
// ReadBufferBudget bytes of leases are out at once. A call that finds none
// free waits up to readBufferWait for one; after that it reads at most
// overdraftBytes of records into memory of its own (fewer records than it
// could have had, never an error: AWS's GetRecords too returns fewer
// records than are there), so a stalled client holding a lease slows
// nobody down for longer than the wait. Memory of GetRecords calls in
// flight is therefore at most the budget plus overdraftBytes (and its
// records' entries) for each call beyond it.
//
// Free leases are kept, at most as many as the budget allows out at once,
// and made once each: a pool the garbage collector empties (sync.Pool)
// made a new lease after every other collection, and a new lease in
// reused heap memory is zeroed whole, so reading many shards a few
// records at a time kept tens of MiB of dead leases resident. A kept
// lease holds only the pages its reads have touched.

const (
	// DefaultReadBufferBudget is the budget when Options.ReadBufferBudget
	// is 0: three leases, enough for three shards read at the full 10 MiB
	// per call at once.
	DefaultReadBufferBudget = 3 * readLeaseBytes
	// readLeaseBytes is what one lease holds at most: the per-call maximum
	// of record bytes, and for the most records a call returns their
	// storage and domain entries and their sequence numbers' text.
	readLeaseBytes = maxGetRecordsBytes + MaxGetRecordsLimit*(int(unsafe.Sizeof(storage.Record{}))+int(unsafe.Sizeof(Record{}))+readLeaseTextPerRecord)
	// readLeaseTextPerRecord is the text arena's room per record: a
	// 56-digit sequence number and a short partition key (longer keys
	// spill into chunks of the arena's own).
	readLeaseTextPerRecord = 80
	// readBufferWait is the longest a call waits for a lease.
	readBufferWait = 50 * time.Millisecond
	// overdraftBytes is the most record bytes a call without a lease reads.
	overdraftBytes = 1 << 20
	// leaseStartBytes is the record-bytes buffer of a new lease.
	leaseStartBytes = 1 << 20
)

// readLease is the memory of one GetRecords call.
type readLease struct {
	// buf starts at leaseStartBytes and grows on release to what a read
	// needed, up to maxGetRecordsBytes: a lease that only ever serves
	// small reads keeps a small buffer (making one of the maximum zeroes,
	// and so makes resident, all of it).
	buf   []byte
	need  int // the most record bytes a read into the lease needed
	srecs []storage.Record
	recs  []Record
	text  []byte
	// foreign is how many of recs may point outside the lease (decrypted
	// records), to be cleared on release so that the pool keeps no
	// memory that is not its own.
	foreign int
}

// readBuffers hands out leases within the budget.
type readBuffers struct {
	slots chan struct{}   // one element per lease out
	free  chan *readLease // leases made and not out; capacity: the slots
	wait  time.Duration

	// For tests and monitoring: leases out now and at most, and calls
	// that read without one.
	out, peak, overdrafts atomic.Int64
}

func newReadBuffers(budget int) *readBuffers {
	if budget <= 0 {
		budget = DefaultReadBufferBudget
	}
	n := max(1, budget/readLeaseBytes)
	return &readBuffers{slots: make(chan struct{}, n), free: make(chan *readLease, n), wait: readBufferWait}
}

// acquire returns a lease, or nil when none became free within the wait
// (or ctx ended first): the caller then reads at most overdraftBytes into
// memory of its own.
func (b *readBuffers) acquire(ctx context.Context) *readLease {
	select {
	case b.slots <- struct{}{}:
	default:
		t := time.NewTimer(b.wait)
		defer t.Stop()
		select {
		case b.slots <- struct{}{}:
		case <-t.C:
			b.overdrafts.Add(1)
			return nil
		case <-ctx.Done():
			b.overdrafts.Add(1)
			return nil
		}
	}
	n := b.out.Add(1)
	for p := b.peak.Load(); n > p && !b.peak.CompareAndSwap(p, n); p = b.peak.Load() {
	}
	var l *readLease
	select {
	case l = <-b.free:
	default:
		l = &readLease{
			buf:   make([]byte, 0, leaseStartBytes),
			srecs: make([]storage.Record, 0, MaxGetRecordsLimit),
			recs:  make([]Record, 0, MaxGetRecordsLimit),
			text:  make([]byte, 0, MaxGetRecordsLimit*readLeaseTextPerRecord),
		}
	}
	return l
}

// release takes a lease back; nothing may use its memory afterwards.
func (b *readBuffers) release(l *readLease) {
	clear(l.recs[:l.foreign])
	l.foreign = 0
	if l.need > cap(l.buf) {
		l.buf = make([]byte, 0, min(maxGetRecordsBytes, max(l.need, 2*cap(l.buf))))
	}
	l.need = 0
	b.free <- l // never blocks: a lease out holds a slot
	b.out.Add(-1)
	<-b.slots
}

// noteRead records the record bytes a read into the lease returned, so
// that release grows a buffer that was too small for them (the rest went
// to memory of the engine's own).
func (l *readLease) noteRead(recs []storage.Record) {
	n := 0
	for i := range recs {
		n += len(recs[i].Data) + len(recs[i].PartitionKey)
	}
	l.need = max(l.need, n)
}

// ReadBufferStats reports the GetRecords read buffers: leases out now, and
// calls since the start that found none free within the wait and read at
// most 1 MiB of records into memory of their own.
func (s *Streams) ReadBufferStats() (leasesOut, overdrafts int64) {
	return s.readBufs.out.Load(), s.readBufs.overdrafts.Load()
}

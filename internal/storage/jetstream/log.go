package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/millrace/millrace/internal/storage"
)

// metaLastArrival is the stream metadata key holding the last arrival
// once Trim has dropped every message.
const metaLastArrival = "millrace-last-arrival"

// JetStream's error code for a publish whose Nats-Expected-Last-Sequence
// is not the stream's last sequence.
const errCodeWrongLastSeq = 10071

// shardState is what a node remembers of a shard's stream between calls.
// Every field is a cache of the stream's own state, checked or reloaded
// when it may be stale, so nodes never disagree on what is stored.
type shardState struct {
	// mu serializes this node's Appends to the shard.
	mu sync.Mutex

	cmu         sync.Mutex // guards the fields below
	loaded      bool       // lastSeq and lastArrival are the stream's
	lastSeq     uint64     // stream sequence of the last message
	lastArrival int64      // its arrival (or the metadata's when empty)
	closed      bool       // the last message is the closing marker
	firstSeq    uint64     // stream sequence of a message whose count is firstN
	firstN      int
}

func (e *Engine) streamName(sk storage.ShardKey) string {
	return fmt.Sprintf("%s-log-%d-%d", e.opts.Prefix, sk.Stream, sk.Shard)
}

func (e *Engine) subject(sk storage.ShardKey) string {
	return fmt.Sprintf("%s.log.%d.%d", e.opts.Prefix, sk.Stream, sk.Shard)
}

func (e *Engine) shard(sk storage.ShardKey) *shardState {
	e.shardsMu.Lock()
	defer e.shardsMu.Unlock()
	st := e.shards[sk]
	if st == nil {
		st = &shardState{}
		e.shards[sk] = st
	}
	return st
}

// Append implements storage.Log.
func (e *Engine) Append(ctx context.Context, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	if err := checkEntries(entries); err != nil {
		return storage.AppendResult{}, err
	}
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return storage.AppendResult{}, err
	}
	defer done()
	return e.append(ctx, sk, arrival, entries)
}

func checkEntries(entries []storage.Entry) error {
	switch {
	case len(entries) == 0:
		return errors.New("jetstream: Append of no entries")
	case len(entries) > maxEntries:
		return fmt.Errorf("jetstream: Append of %d entries: at most %d", len(entries), maxEntries)
	}
	return nil
}

// AppendMany implements storage.Log: each part is an Append of its own,
// run side by side.
func (e *Engine) AppendMany(ctx context.Context, arrival int64, appends []storage.ShardAppend) {
	fail := func(err error) {
		for i := range appends {
			appends[i].Err = err
		}
	}
	seen := make(map[storage.ShardKey]bool, len(appends))
	for i := range appends {
		if err := checkEntries(appends[i].Entries); err != nil {
			fail(err)
			return
		}
		if seen[appends[i].Shard] {
			fail(fmt.Errorf("jetstream: AppendMany names shard %v twice", appends[i].Shard))
			return
		}
		seen[appends[i].Shard] = true
	}
	ctx, done, err := e.begin(ctx)
	if err != nil {
		fail(err)
		return
	}
	defer done()
	if len(appends) == 1 {
		a := &appends[0]
		a.Result, a.Err = e.append(ctx, a.Shard, arrival, a.Entries)
		return
	}
	var wg sync.WaitGroup
	for i := range appends {
		wg.Add(1)
		go func(a *storage.ShardAppend) {
			defer wg.Done()
			a.Result, a.Err = e.append(ctx, a.Shard, arrival, a.Entries)
		}(&appends[i])
	}
	wg.Wait()
}

func (e *Engine) append(ctx context.Context, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	st := e.shard(sk)
	st.mu.Lock()
	defer st.mu.Unlock()
	payload := encodeEntries(entries)
	var arr int64
	ack, err := e.publishNext(ctx, sk, st, func(lastArrival int64) *nats.Msg {
		arr = max(arrival, lastArrival)
		m := nats.NewMsg(e.subject(sk))
		m.Header.Set(hdrArrival, strconv.FormatInt(arr, 10))
		m.Header.Set(hdrCount, strconv.Itoa(len(entries)))
		m.Data = payload
		return m
	})
	if err != nil {
		return storage.AppendResult{}, err
	}
	if ack.Duplicate {
		// An earlier try of this Append was stored: report it as stored.
		lm, err := e.getMsg(ctx, sk, ack.Sequence)
		if err != nil {
			return storage.AppendResult{}, err
		}
		if lm.seq != ack.Sequence || lm.count != len(entries) {
			return storage.AppendResult{}, fmt.Errorf("jetstream: append to %v: duplicate of message %d, which holds %d entries", sk, ack.Sequence, lm.count)
		}
		arr = lm.arrival
	}
	return storage.AppendResult{FirstSeq: firstRecordSeq(ack.Sequence, len(entries)), Arrival: arr}, nil
}

// publishNext publishes the message build makes (given the shard's last
// arrival) as the shard's next message: it expects the last stream
// sequence this node knows of, and when another node appended since, it
// reloads the shard and builds the message again. It fails with
// storage.ErrShardClosed once the shard's last message is its closing
// marker. The caller holds st.mu.
func (e *Engine) publishNext(ctx context.Context, sk storage.ShardKey, st *shardState, build func(lastArrival int64) *nats.Msg) (*jetstream.PubAck, error) {
	// One id for every try: a try that was stored but whose
	// acknowledgement was lost is found again by it, not stored twice.
	id := nuid.Next()
	var lastErr error
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return nil, errors.Join(err, lastErr)
			}
		} else if err := ctx.Err(); err != nil {
			return nil, err
		}
		st.cmu.Lock()
		loaded, lastSeq, lastArrival, closed := st.loaded, st.lastSeq, st.lastArrival, st.closed
		st.cmu.Unlock()
		if !loaded {
			var err error
			if lastSeq, lastArrival, closed, err = e.loadShard(ctx, sk, st); err != nil {
				if errors.Is(err, storage.ErrClosed) || ctx.Err() != nil {
					return nil, err
				}
				lastErr = err
				continue
			}
		}
		if closed {
			return nil, fmt.Errorf("jetstream: append to %v: %w", sk, storage.ErrShardClosed)
		}
		m := build(lastArrival)
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(lastSeq, 10))
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ack, err := e.js.PublishMsg(actx, m, jetstream.WithRetryAttempts(0))
		cancel()
		if err != nil {
			lastErr = err
			var apiErr *jetstream.APIError
			switch {
			case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeWrongLastSeq:
				// Another node appended (or closed the shard) since:
				// reload.
			case errors.Is(err, nats.ErrConnectionClosed):
				return nil, e.connErr(err)
			case errors.As(err, &apiErr) && apiErr.Code != 503:
				return nil, fmt.Errorf("jetstream: append to %v: %w", sk, err)
			}
			// Timeouts, no responders (a leader election, or the stream
			// deleted and to be created again): reload and try again.
			st.cmu.Lock()
			st.loaded = false
			st.cmu.Unlock()
			continue
		}
		st.cmu.Lock()
		if ack.Duplicate {
			st.loaded = false
		} else {
			arr, _ := strconv.ParseInt(m.Header.Get(hdrArrival), 10, 64)
			st.loaded, st.lastSeq, st.lastArrival, st.closed = true, ack.Sequence, arr, false
		}
		st.cmu.Unlock()
		return ack, nil
	}
}

// CloseShard implements storage.ShardCloser: it appends the shard's
// closing marker, a message of no entries. JetStream orders it against
// every node's Appends: an Append stored before it is read back, and an
// Append after it expects a last sequence below the marker's (only a
// reload that finds the marker could give it the marker's own, and then
// it refuses), so it fails, reloads, finds the marker and fails with
// storage.ErrShardClosed. The marker is published without an expected
// last sequence, so that a stream of Appends through other nodes cannot
// keep it out; it is never trimmed, so the shard stays closed.
func (e *Engine) CloseShard(ctx context.Context, sk storage.ShardKey) (storage.Bounds, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return storage.Bounds{}, err
	}
	defer done()
	st := e.shard(sk)
	st.mu.Lock()
	defer st.mu.Unlock()
	id := nuid.Next()
	var lastErr error
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return storage.Bounds{}, fmt.Errorf("jetstream: close %v: %w", sk, errors.Join(err, lastErr))
			}
		}
		// The shard's stream must exist, and need not be closed again.
		_, lastArrival, closed, err := e.loadShard(ctx, sk, st)
		if err != nil {
			if errors.Is(err, storage.ErrClosed) || ctx.Err() != nil {
				return storage.Bounds{}, err
			}
			lastErr = err
			continue
		}
		if !closed {
			m := nats.NewMsg(e.subject(sk))
			m.Header.Set(jetstream.MsgIDHeader, id)
			m.Header.Set(hdrArrival, strconv.FormatInt(lastArrival, 10))
			m.Header.Set(hdrClosed, "1")
			actx, cancel := context.WithTimeout(ctx, attemptTimeout)
			_, err = e.js.PublishMsg(actx, m, jetstream.WithRetryAttempts(0))
			cancel()
			st.cmu.Lock()
			st.loaded = false // Appends may have landed just before it
			st.cmu.Unlock()
			if err != nil {
				lastErr = err
				var apiErr *jetstream.APIError
				switch {
				case errors.Is(err, nats.ErrConnectionClosed):
					return storage.Bounds{}, e.connErr(err)
				case errors.As(err, &apiErr) && apiErr.Code != 503:
					return storage.Bounds{}, fmt.Errorf("jetstream: close %v: %w", sk, err)
				}
				continue // a timeout or a leader election: the id dedupes
			}
		}
		return e.bounds(ctx, sk)
	}
}

// nextSeq is Bounds.Next of a shard whose last message is at stream
// sequence last: the number after that message's records, or the first
// number of the closing marker, which holds none.
func nextSeq(last uint64, closed bool) uint64 {
	if closed {
		return last << seqShift
	}
	return (last + 1) << seqShift
}

func backoff(try int) time.Duration {
	return min(time.Duration(try)*50*time.Millisecond, 500*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// streamInfo returns the shard's stream, or nil when it does not exist.
func (e *Engine) streamInfo(ctx context.Context, sk storage.ShardKey) (*jetstream.StreamInfo, error) {
	var lastErr error
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return nil, errors.Join(err, lastErr)
			}
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		s, err := e.js.Stream(actx, e.streamName(sk))
		cancel()
		switch {
		case err == nil:
			return s.CachedInfo(), nil
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, nil
		case errors.Is(err, nats.ErrConnectionClosed):
			return nil, e.connErr(err)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		lastErr = err
	}
}

// loadShard reads the shard's last sequence and arrival from its stream,
// creating the stream if it does not exist, and whether it is closed.
func (e *Engine) loadShard(ctx context.Context, sk storage.ShardKey, st *shardState) (uint64, int64, bool, error) {
	info, err := e.streamInfo(ctx, sk)
	if err != nil {
		return 0, 0, false, err
	}
	if info == nil {
		if info, err = e.createStream(ctx, sk); err != nil {
			return 0, 0, false, err
		}
	}
	lastSeq, lastArrival, closed, err := e.lastOf(ctx, sk, info)
	if err != nil {
		return 0, 0, false, err
	}
	st.cmu.Lock()
	st.loaded, st.lastSeq, st.lastArrival, st.closed = true, lastSeq, lastArrival, closed
	st.cmu.Unlock()
	return lastSeq, lastArrival, closed, nil
}

// lastOf returns the stream's last sequence, the arrival of its newest
// record ever appended, and whether the last message is the closing
// marker.
func (e *Engine) lastOf(ctx context.Context, sk storage.ShardKey, info *jetstream.StreamInfo) (uint64, int64, bool, error) {
	last := info.State.LastSeq
	st := e.shard(sk)
	st.cmu.Lock()
	if st.loaded && st.lastSeq == last {
		a, closed := st.lastArrival, st.closed
		st.cmu.Unlock()
		return last, a, closed, nil
	}
	st.cmu.Unlock()
	if info.State.Msgs == 0 {
		a, _ := strconv.ParseInt(info.Config.Metadata[metaLastArrival], 10, 64)
		return last, a, false, nil
	}
	lm, err := e.getStoredMsg(ctx, sk, last)
	if err != nil {
		return 0, 0, false, err
	}
	return last, lm.arrival, lm.closed, nil
}

func (e *Engine) streamConfig(sk storage.ShardKey) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        e.streamName(sk),
		Subjects:    []string{e.subject(sk)},
		Storage:     jetstream.FileStorage,
		Replicas:    e.opts.Replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxMsgSize:  -1,
		Duplicates:  2 * time.Minute,
		DenyDelete:  true,
		AllowDirect: true,
	}
}

func (e *Engine) createStream(ctx context.Context, sk storage.ShardKey) (*jetstream.StreamInfo, error) {
	s, err := e.js.CreateStream(ctx, e.streamConfig(sk))
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// Created by another node meanwhile (its metadata may differ).
		return e.streamInfo(ctx, sk)
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: create stream for %v: %w", sk, err)
	}
	return s.CachedInfo(), nil
}

// getMsg reads the first message of the shard at or after stream sequence
// seq.
func (e *Engine) getMsg(ctx context.Context, sk storage.ShardKey, seq uint64) (logMsg, error) {
	msgs, _, err := e.directGet(ctx, e.streamName(sk), getRequest{Seq: max(seq, 1), NextFor: e.subject(sk)})
	if err != nil {
		return logMsg{}, err
	}
	if len(msgs) == 0 {
		return logMsg{}, errNoMessage
	}
	return parseLogMsg(msgs[0])
}

var errNoMessage = errors.New("jetstream: no message at or after that sequence")

// getStoredMsg reads the message at stream sequence seq, which the stream
// leader reported stored: a direct get may reach a replica that has not
// applied it yet (by the replication delay), so a miss is asked again a
// few times before it counts.
func (e *Engine) getStoredMsg(ctx context.Context, sk storage.ShardKey, seq uint64) (logMsg, error) {
	for try := 0; ; try++ {
		lm, err := e.getMsg(ctx, sk, seq)
		if !errors.Is(err, errNoMessage) || try == 20 {
			return lm, err
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return logMsg{}, err
		}
	}
}

// Read implements storage.Log.
func (e *Engine) Read(ctx context.Context, sk storage.ShardKey, from uint64, maxRecords, maxBytes int) ([]storage.Record, error) {
	if maxRecords < 1 || maxBytes < 1 {
		return nil, fmt.Errorf("jetstream: Read limits %d records, %d bytes: both must be at least 1", maxRecords, maxBytes)
	}
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []storage.Record
	size := 0
	full := false
	m := max(from>>seqShift, 1)
	for !full {
		msgs, pending, err := e.directGet(ctx, e.streamName(sk), getRequest{
			Seq:      m,
			Batch:    min(maxRecords-len(out), 10000),
			MaxBytes: maxBytes - size + 64<<10,
			NextFor:  e.subject(sk),
		})
		if errors.Is(err, errNoStream) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for _, nm := range msgs {
			lm, err := parseLogMsg(nm)
			if err != nil {
				return nil, err
			}
			err = lm.records(func(r storage.Record) bool {
				if r.Seq < from {
					return true
				}
				if len(out) == maxRecords || (len(out) > 0 && size+r.Size() > maxBytes) {
					full = true
					return false
				}
				out = append(out, r)
				size += r.Size()
				return true
			})
			if err != nil {
				return nil, err
			}
			if full {
				break
			}
			m = lm.seq + 1
		}
		if len(msgs) == 0 || pending == 0 || len(out) == maxRecords {
			break
		}
	}
	return out, nil
}

// Bounds implements storage.Log.
func (e *Engine) Bounds(ctx context.Context, sk storage.ShardKey) (storage.Bounds, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return storage.Bounds{}, err
	}
	defer done()
	return e.bounds(ctx, sk)
}

func (e *Engine) bounds(ctx context.Context, sk storage.ShardKey) (storage.Bounds, error) {
	info, err := e.streamInfo(ctx, sk)
	if err != nil || info == nil {
		return storage.Bounds{First: 1 << seqShift, Next: 1 << seqShift}, err
	}
	last, lastArrival, closed, err := e.lastOf(ctx, sk, info)
	if err != nil {
		return storage.Bounds{}, err
	}
	b := storage.Bounds{Next: nextSeq(last, closed), LastArrival: lastArrival}
	b.First = b.Next
	if info.State.Msgs > 0 {
		first := info.State.FirstSeq
		st := e.shard(sk)
		st.cmu.Lock()
		n, ok := st.firstN, st.firstSeq == first && st.firstN > 0
		st.cmu.Unlock()
		if !ok {
			lm, err := e.getMsg(ctx, sk, first)
			if err != nil {
				return storage.Bounds{}, err
			}
			if lm.closed {
				// Only the closing marker is left.
				return b, nil
			}
			first, n = lm.seq, lm.count
			st.cmu.Lock()
			st.firstSeq, st.firstN = first, n
			st.cmu.Unlock()
		}
		b.First = firstRecordSeq(first, n)
	}
	return b, nil
}

// SeekTime implements storage.Log.
func (e *Engine) SeekTime(ctx context.Context, sk storage.ShardKey, t int64) (uint64, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	info, err := e.streamInfo(ctx, sk)
	if err != nil {
		return 0, err
	}
	if info == nil {
		return 1 << seqShift, nil
	}
	lm, found, err := e.search(ctx, sk, info, t)
	if err != nil {
		return 0, err
	}
	if found && lm.closed {
		return lm.seq << seqShift, nil
	}
	if !found {
		last, _, closed, err := e.lastOf(ctx, sk, info)
		if err != nil {
			return 0, err
		}
		return nextSeq(last, closed), nil
	}
	return firstRecordSeq(lm.seq, lm.count), nil
}

// search finds the first message whose arrival is at or after t, by a
// binary search over the stream's sequences (arrivals never decrease
// within a shard).
func (e *Engine) search(ctx context.Context, sk storage.ShardKey, info *jetstream.StreamInfo, t int64) (logMsg, bool, error) {
	if info.State.Msgs == 0 {
		return logMsg{}, false, nil
	}
	first, err := e.getMsg(ctx, sk, info.State.FirstSeq)
	if errors.Is(err, errNoMessage) {
		return logMsg{}, false, nil // trimmed meanwhile
	}
	if err != nil {
		return logMsg{}, false, err
	}
	if first.searchArrival() >= t {
		return first, true, nil
	}
	last, err := e.getMsg(ctx, sk, info.State.LastSeq)
	if err != nil && !errors.Is(err, errNoMessage) {
		return logMsg{}, false, err
	}
	if err != nil || last.searchArrival() < t {
		return logMsg{}, false, nil
	}
	// first.arrival < t <= last.arrival
	lo, hi := first, last
	for hi.seq-lo.seq > 1 {
		mid, err := e.getMsg(ctx, sk, lo.seq+(hi.seq-lo.seq)/2)
		if err != nil {
			return logMsg{}, false, err
		}
		if mid.seq >= hi.seq {
			break
		}
		if mid.searchArrival() >= t {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true, nil
}

// Trim implements storage.Log: a purge of the stream up to the first
// message that arrived at or after before.
func (e *Engine) Trim(ctx context.Context, sk storage.ShardKey, before int64) error {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	info, err := e.streamInfo(ctx, sk)
	if err != nil || info == nil || info.State.Msgs == 0 {
		return err
	}
	lm, found, err := e.search(ctx, sk, info, before)
	if err != nil {
		return err
	}
	last, lastArrival, closed, err := e.lastOf(ctx, sk, info)
	if err != nil {
		return err
	}
	cut := last + 1
	switch {
	case found:
		cut = lm.seq
	case closed:
		cut = last // the closing marker stays
	}
	if cut <= info.State.FirstSeq {
		return nil
	}
	if !found && !closed {
		// Every message goes: keep the last arrival in the metadata, so
		// that arrivals keep not decreasing.
		cfg := info.Config
		meta := make(map[string]string, len(cfg.Metadata)+1)
		for k, v := range cfg.Metadata {
			meta[k] = v
		}
		meta[metaLastArrival] = strconv.FormatInt(lastArrival, 10)
		cfg.Metadata = meta
		if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("jetstream: trim %v: keep the last arrival: %w", sk, err)
		}
	}
	s, err := e.js.Stream(ctx, e.streamName(sk))
	if err != nil {
		return fmt.Errorf("jetstream: trim %v: %w", sk, err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(cut)); err != nil {
		return fmt.Errorf("jetstream: trim %v: %w", sk, err)
	}
	return nil
}

// DeleteShard implements storage.Log.
func (e *Engine) DeleteShard(ctx context.Context, sk storage.ShardKey) error {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	st := e.shard(sk)
	st.mu.Lock()
	defer st.mu.Unlock()
	err = e.js.DeleteStream(ctx, e.streamName(sk))
	st.cmu.Lock()
	st.loaded, st.closed, st.firstSeq, st.firstN = false, false, 0, 0
	st.cmu.Unlock()
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("jetstream: delete %v: %w", sk, err)
	}
	return nil
}

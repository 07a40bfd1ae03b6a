package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Reshard intents make a reshard that was cut short finish.
//
// In a cluster a reshard closes the parents' logs (storage.ShardCloser)
// before it stores the new layout: a node killed between the two would
// leave parents that refuse every write while the catalog lists them
// open. So the reshard first records the layout it is about to store, an
// intent, created with compare-and-set under the stream's number, and
// deletes it once the layout is stored. A node that finds an intent (a
// reshard about to begin, or a write refused by a closed log that the
// catalog lists open) finishes it: it closes the intent's parents (a
// closed log stays as it is and reports the same end) and stores the
// intent's layout over the stream with compare-and-set, so that of two
// nodes finishing at once one stores it and the other finds it stored.
// Only one reshard of a stream runs at a time: the intent's create is
// the lock, and a stale one is finished, never overwritten. An intent is
// finished by another node only once it is reshardIntentGrace old, or
// at once when its node is known to be gone (Membership), so that a
// reshard running on its node (its closes and store take milliseconds)
// is not finished under it; until then the other node's reshard is
// refused as concurrent and its writes to the closed parents fail, and
// are retried by their clients.
//
// Finishing a reshard whose node is in fact still running (cut off from
// this one, say) is safe all the same, only needless: closing a closed
// log changes nothing and reports the same end, so both store the same
// layout, with compare-and-set; the one that loses finds the layout
// stored (its own reshard then drops the intent and succeeds).

// Membership tells whether another node of the cluster is gone.
type Membership interface {
	// Self is this node's name.
	Self() string
	// Gone reports whether the node named name is known to be gone now:
	// stopped, killed or cut off from this one. false when not known.
	Gone(name string) bool
}

const reshardIntentPrefix = "reshard-intent/"

// reshardIntentGrace is how old an intent must be for another node to
// finish it. The nodes' clocks must agree to well within it.
const reshardIntentGrace = 10 * time.Second

func reshardIntentKey(id uint64) string {
	return reshardIntentPrefix + strconv.FormatUint(id, 10)
}

// reshardIntent is a layout about to be stored.
type reshardIntent struct {
	// Shards is the stream's whole new shard list; the closed parents'
	// EndingSeq are not known yet.
	Shards []Shard `json:"shards"`
	// Close are the shards whose logs the reshard closes.
	Close []uint32 `json:"close"`
	// ShardCountUpdates is the stream's UpdateShardCount history after
	// the reshard.
	ShardCountUpdates []int64 `json:"shardCountUpdates,omitempty"`
	// Started is when the reshard recorded it (ms since the epoch).
	Started int64 `json:"started"`
	// Node is the node running the reshard (Membership.Self), if known.
	Node string `json:"node,omitempty"`
}

// reshardHooks let tests cut a reshard short.
type reshardHooks struct {
	// afterClose runs between closing the parents and storing the layout;
	// an error ends the reshard there.
	afterClose func() error
}

// beginReshard records c's layout as the stream's reshard intent and
// returns its revision. An intent already there is a reshard cut short
// (or running on another node): it is finished first, and the returned
// error asks the caller to plan again on the stream as it is then. The
// caller holds s.ctl.
func (s *Streams) beginReshard(ctx context.Context, st *Stream, c *layoutChange, closing []uint32) (uint64, error) {
	in := reshardIntent{Shards: c.st.Shards, Close: closing, ShardCountUpdates: c.st.ShardCountUpdates, Started: s.now().UnixMilli()}
	if m := s.opts.Membership; m != nil {
		in.Node = m.Self()
	}
	data, err := json.Marshal(in)
	if err != nil {
		return 0, fmt.Errorf("streams: encoding a reshard intent: %w", err)
	}
	rev, err := s.cat.Put(ctx, reshardIntentKey(st.ID), data, 0)
	if errors.Is(err, storage.ErrConflict) {
		if err := s.finishReshard(ctx, st.mapKey(), st.ID, false); err != nil {
			return 0, err
		}
		e := errorf(KindInUse, "Stream %s under account %s is being modified concurrently; retry the request.", st.Name, st.Account)
		e.conflict = true
		return 0, e
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.logger.Error("recording a reshard intent failed", "stream", st.Name, "err", err)
		return 0, errorf(KindInternal, "Internal service failure.")
	}
	return rev, nil
}

// endReshard drops the intent of a reshard whose layout is stored.
func (s *Streams) endReshard(ctx context.Context, id, rev uint64) {
	err := s.cat.Delete(ctx, reshardIntentKey(id), rev)
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
		// The next reshard of the stream finds it and, seeing the layout
		// stored, drops it.
		s.logger.Warn("dropping a reshard intent failed", "stream", id, "err", err)
	}
}

// finishReshard finishes the stream's reshard intent, if there is one
// at least reshardIntentGrace old or whose node is gone (any when own,
// this node's own reshard's): closes its parents and stores its layout, unless the
// stream is gone or already has it. The caller holds s.ctl.
func (s *Streams) finishReshard(ctx context.Context, k streamKey, id uint64, own bool) error {
	val, rev, err := s.cat.Get(ctx, reshardIntentKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("streams: reading a reshard intent: %w", err)
	}
	var in reshardIntent
	if err := json.Unmarshal(val, &in); err != nil {
		return fmt.Errorf("streams: decoding the reshard intent of stream %d: %w", id, err)
	}
	s.refresh(ctx, k)
	cur := s.current(k)
	// Shards are only ever added: a stream with as many as the intent
	// has its layout (or a later one).
	if cur == nil || cur.ID != id || len(cur.Shards) >= len(in.Shards) {
		s.endReshard(ctx, id, rev)
		return nil
	}
	if !own && s.now().UnixMilli()-in.Started < reshardIntentGrace.Milliseconds() && !s.intentNodeGone(in) {
		return nil // running on its node, most likely
	}
	next := cur.clone()
	next.Shards = in.Shards
	next.ShardCountUpdates = in.ShardCountUpdates
	closer, _ := s.log.(storage.ShardCloser)
	for _, idx := range in.Close {
		if int(idx) >= len(next.Shards) {
			return fmt.Errorf("streams: the reshard intent of stream %s closes shard %d of %d", cur.Name, idx, len(next.Shards))
		}
		var b storage.Bounds
		if closer != nil {
			b, err = closer.CloseShard(ctx, next.Key(idx))
		} else {
			b, err = s.log.Bounds(ctx, next.Key(idx))
		}
		if err != nil {
			return s.storageError("close", cur, &next.Shards[idx], err)
		}
		next.Shards[idx].EndingSeq = b.Next - 1
	}
	if err := s.store(ctx, next); err != nil {
		return err
	}
	s.logger.Info("finished a reshard cut short", "stream", cur.Name, "account", cur.Account, "shards", len(next.Shards))
	s.endReshard(ctx, id, rev)
	return nil
}

// recoverReshard finishes, in the background, a reshard intent of the
// stream whose write a closed log refused, once per stream at a time. It
// cannot run in the write itself, which holds the stream's layout lock.
func (s *Streams) recoverReshard(st *Stream) {
	if _, busy := s.rs.recovering.LoadOrStore(st.ID, true); busy {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.rs.recovering.Delete(st.ID)
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		s.ctl.Lock()
		defer s.ctl.Unlock()
		if s.closed {
			return
		}
		if err := s.finishReshard(ctx, st.mapKey(), st.ID, false); err != nil && ctx.Err() == nil {
			s.logger.Warn("finishing a reshard cut short failed", "stream", st.Name, "account", st.Account, "err", err)
		}
	}()
}

// intentNodeGone reports whether the node that recorded in is known to
// be gone (never this node: its own intents are finished by itself).
func (s *Streams) intentNodeGone(in reshardIntent) bool {
	m := s.opts.Membership
	if m == nil || in.Node == "" || in.Node == m.Self() {
		return false
	}
	return m.Gone(in.Node)
}

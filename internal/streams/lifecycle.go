package streams

import (
	"context"
	"errors"
	"time"
)

// retryDelay is how long a failed background transition waits before it is
// tried again.
const retryDelay = time.Second

// resume finishes the transitions whose deadline passed while the server was
// down and schedules the others. It runs in New, before anything else can
// touch the streams.
func (s *Streams) resume(ctx context.Context) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	now := s.now().UnixMilli()
	for _, st := range s.snapshot() {
		if !transitional(st.Status) {
			continue
		}
		if st.Deadline <= now {
			err := s.finish(ctx, st)
			var de *Error
			if errors.As(err, &de) && de.conflict {
				// In a cluster the listing may trail a change another
				// node made meanwhile (it finished the transition, or
				// started another): store has read the stream again.
				if cur := s.current(st.mapKey()); cur != nil && transitional(cur.Status) {
					s.schedule(cur)
				}
				continue
			}
			if err != nil {
				return err
			}
			continue
		}
		s.schedule(st)
	}
	return nil
}

func transitional(st Status) bool {
	return st == StatusCreating || st == StatusUpdating || st == StatusDeleting
}

// enter moves a new snapshot into a transitional state ending after delay,
// stores it, and either finishes the transition at once (delay 0) or
// schedules it. The caller holds s.ctl.
func (s *Streams) enter(ctx context.Context, st *Stream, status Status, delay time.Duration) error {
	st.Status = status
	st.Deadline = s.now().Add(delay).UnixMilli()
	if err := s.store(ctx, st); err != nil {
		return err
	}
	if delay <= 0 {
		return s.finish(ctx, st)
	}
	s.schedule(st)
	return nil
}

// schedule arranges for st's transitional state to end at its deadline. The
// caller holds s.ctl (or runs inside New).
func (s *Streams) schedule(st *Stream) {
	if s.closed {
		return
	}
	k, id, status := st.mapKey(), st.ID, st.Status
	wait := time.Duration(st.Deadline-s.now().UnixMilli()) * time.Millisecond
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			if !s.sleep(wait) {
				return
			}
			if s.advance(k, id, status) {
				return
			}
			wait = retryDelay
		}
	}()
}

// sleep waits for d or until Close; it reports whether d passed.
func (s *Streams) sleep(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// advance ends the transition of stream k if it is still the one that was
// scheduled. It reports false when the transition failed and should be
// retried.
func (s *Streams) advance(k streamKey, id uint64, status Status) bool {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed {
		return true
	}
	st := s.current(k)
	if st == nil || st.ID != id || st.Status != status {
		return true
	}
	if err := s.finish(s.ctx, st); err != nil {
		s.logger.Error("stream state transition failed; retrying",
			"stream", st.Name, "account", st.Account, "region", st.Region, "status", st.Status, "err", err)
		return false
	}
	return true
}

// finish ends st's transitional state: CREATING and UPDATING become ACTIVE;
// a DELETING stream loses its shard logs and then its catalog entry (in that
// order, so that a crash in between finishes the deletion at restart). The
// caller holds s.ctl.
func (s *Streams) finish(ctx context.Context, st *Stream) error {
	switch st.Status {
	case StatusCreating, StatusUpdating:
		n := st.clone()
		n.Status = StatusActive
		n.Deadline = 0
		return s.store(ctx, n)
	case StatusDeleting:
		for i := range st.Shards {
			if err := s.log.DeleteShard(ctx, st.Key(st.Shards[i].Index)); err != nil {
				return err
			}
			if err := s.dropDataKeys(ctx, st.Key(st.Shards[i].Index)); err != nil {
				return err
			}
		}
		// Stream ids are never reused and a DELETING stream takes no
		// writes: nothing asks for these again.
		s.rs.layouts.Delete(st.ID)
		for i := range st.Shards {
			s.rs.reclaimed.Delete(st.Key(st.Shards[i].Index))
		}
		return s.remove(ctx, st)
	}
	return nil
}

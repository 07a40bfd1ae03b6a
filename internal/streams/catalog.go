package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/millrace/millrace/internal/storage"
)

// Catalog layout. Names are restricted to [a-zA-Z0-9_.-] and accounts to
// digits, so "/" separates the parts unambiguously.
const (
	streamPrefix  = "stream/"
	accountPrefix = "account/"
	nextIDKey     = "meta/next-stream-id"
)

func streamCatalogKey(k streamKey) string {
	return streamPrefix + k.account + "/" + k.region + "/" + k.name
}

func (st *Stream) mapKey() streamKey { return streamKey{st.Account, st.Region, st.Name} }

// load reads every stream and account setting from the catalog into memory.
func (s *Streams) load(ctx context.Context) error {
	kvs, err := s.cat.List(ctx, streamPrefix)
	if err != nil {
		return fmt.Errorf("streams: listing streams: %w", err)
	}
	for _, kv := range kvs {
		st := new(Stream)
		if err := json.Unmarshal(kv.Value, st); err != nil {
			return fmt.Errorf("streams: decoding %s: %w", kv.Key, err)
		}
		st.rev = kv.Rev
		s.adoptStats(st)
		st.seal()
		s.streams[st.mapKey()] = st
	}
	accs, err := s.cat.List(ctx, accountPrefix)
	if err != nil {
		return fmt.Errorf("streams: listing account settings: %w", err)
	}
	for _, kv := range accs {
		a := new(AccountSettings)
		if err := json.Unmarshal(kv.Value, a); err != nil {
			return fmt.Errorf("streams: decoding %s: %w", kv.Key, err)
		}
		a.rev = kv.Rev
		s.accounts[accountKey{a.Account, a.Region}] = a
	}
	return nil
}

// store writes st to the catalog with compare-and-set on the revision of the
// snapshot it replaces (0 for a new stream) and publishes it. The caller
// holds s.ctl.
func (s *Streams) store(ctx context.Context, st *Stream) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("streams: encoding stream %s: %w", st.Name, err)
	}
	rev, err := s.cat.Put(ctx, streamCatalogKey(st.mapKey()), data, st.rev)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			// Another writer changed the stream behind our back; the
			// in-memory snapshot is stale. Take the stored one and report a
			// busy resource: a retry works on fresh metadata.
			s.refresh(ctx, st.mapKey())
			e := errorf(KindInUse, "Stream %s under account %s is being modified concurrently; retry the request.", st.Name, st.Account)
			e.conflict = true
			return e
		}
		return fmt.Errorf("streams: storing stream %s: %w", st.Name, err)
	}
	st.rev = rev
	s.adoptStats(st)
	st.seal()
	s.mu.Lock()
	s.streams[st.mapKey()] = st
	s.mu.Unlock()
	return nil
}

// remove deletes a stream's catalog entry and unpublishes it. The caller
// holds s.ctl.
func (s *Streams) remove(ctx context.Context, st *Stream) error {
	err := s.cat.Delete(ctx, streamCatalogKey(st.mapKey()), st.rev)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("streams: deleting stream %s: %w", st.Name, err)
	}
	s.mu.Lock()
	if cur := s.streams[st.mapKey()]; cur != nil && cur.ID == st.ID {
		delete(s.streams, st.mapKey())
	}
	s.mu.Unlock()
	return nil
}

// nextStreamID takes the next stream number from the catalog counter with
// compare-and-set, so that a number is never handed out twice, even across
// restarts or nodes.
func (s *Streams) nextStreamID(ctx context.Context) (uint64, error) {
	for attempt := 0; attempt < 100; attempt++ {
		val, rev, err := s.cat.Get(ctx, nextIDKey)
		next := uint64(1)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			rev = 0
		case err != nil:
			return 0, fmt.Errorf("streams: reading the stream id counter: %w", err)
		default:
			n, perr := strconv.ParseUint(strings.TrimSpace(string(val)), 10, 64)
			if perr != nil {
				return 0, fmt.Errorf("streams: bad stream id counter %q: %w", val, perr)
			}
			next = n
		}
		_, err = s.cat.Put(ctx, nextIDKey, []byte(strconv.FormatUint(next+1, 10)), rev)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("streams: advancing the stream id counter: %w", err)
		}
		return next, nil
	}
	return 0, errors.New("streams: stream id counter: too many conflicting writers")
}

// snapshot returns every stream currently published, for scans.
func (s *Streams) snapshot() []*Stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st)
	}
	return out
}

// current returns the published snapshot for k, or nil.
func (s *Streams) current(k streamKey) *Stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[k]
}

// adoptNewer reads k from the catalog and publishes it if its revision is
// newer than the snapshot in memory. Unlike refresh it needs no s.ctl:
// a snapshot is never replaced by an older revision.
func (s *Streams) adoptNewer(ctx context.Context, k streamKey) {
	val, rev, err := s.cat.Get(ctx, streamCatalogKey(k))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.logger.Warn("reloading stream metadata failed", "stream", k.name, "err", err)
		}
		return
	}
	st := new(Stream)
	if err := json.Unmarshal(val, st); err != nil {
		s.logger.Warn("reloading stream metadata failed", "stream", k.name, "err", err)
		return
	}
	st.rev = rev
	s.adoptStats(st)
	st.seal()
	s.mu.Lock()
	if cur := s.streams[k]; cur != nil && cur.rev < rev {
		s.streams[k] = st
	}
	s.mu.Unlock()
}

// refresh replaces the in-memory snapshot of k with what the catalog holds.
// The caller holds s.ctl.
func (s *Streams) refresh(ctx context.Context, k streamKey) {
	val, rev, err := s.cat.Get(ctx, streamCatalogKey(k))
	if errors.Is(err, storage.ErrNotFound) {
		s.mu.Lock()
		delete(s.streams, k)
		s.mu.Unlock()
		return
	}
	st := new(Stream)
	if err == nil {
		err = json.Unmarshal(val, st)
	}
	if err != nil {
		s.logger.Warn("reloading stream metadata failed", "stream", k.name, "err", err)
		return
	}
	st.rev = rev
	s.adoptStats(st)
	st.seal()
	s.mu.Lock()
	s.streams[k] = st
	s.mu.Unlock()
}

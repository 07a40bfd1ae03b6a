package streams

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// In a cluster every node holds the streams in memory, as a single node
// does, and writes them with compare-and-set on the catalog; what other
// nodes write reaches this node three ways: a lookup that misses reads the
// catalog (a stream created through another node is usable here at once),
// a write that conflicts reloads the stream (store), and this loop reads
// every stream and account setting again every CatalogSync and adopts
// what changed (a reshard, a retention change or a deletion done through
// another node shows here within that period).

func (s *Streams) catalogSyncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.CatalogSync)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.syncCatalog(s.ctx); err != nil && s.ctx.Err() == nil {
				s.logger.Warn("reading the catalog for other nodes' changes failed", "err", err)
			}
		}
	}
}

// syncCatalog adopts every stream and account setting whose revision in
// the catalog is newer than the one in memory, and drops the streams no
// longer there. The listing is read without s.ctl, which a catalog without
// a quorum would otherwise hold for the whole read; so a snapshot is never
// replaced by an older revision, and a stream missing from the listing is
// dropped only once a read under s.ctl finds it gone (this node may have
// created it after the listing).
func (s *Streams) syncCatalog(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kvs, err := s.cat.List(ctx, streamPrefix)
	if err != nil {
		return err
	}
	accs, err := s.cat.List(ctx, accountPrefix)
	if err != nil {
		return err
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed {
		return nil
	}
	seen := make(map[streamKey]bool, len(kvs))
	for _, kv := range kvs {
		st := new(Stream)
		if err := json.Unmarshal(kv.Value, st); err != nil {
			s.logger.Warn("skipping a stream the catalog holds in a form this node does not read", "key", kv.Key, "err", err)
			continue
		}
		k := st.mapKey()
		seen[k] = true
		if cur := s.current(k); cur != nil && cur.rev >= kv.Rev {
			continue
		}
		st.rev = kv.Rev
		s.adoptStats(st)
		st.seal()
		s.mu.Lock()
		s.streams[k] = st
		s.mu.Unlock()
		if transitional(st.Status) {
			// Whichever node finishes the transition first wins its
			// compare-and-set; the others find it done.
			s.schedule(st)
		}
	}
	for _, st := range s.snapshot() {
		k := st.mapKey()
		if seen[k] {
			continue
		}
		if _, _, err := s.cat.Get(ctx, streamCatalogKey(k)); errors.Is(err, storage.ErrNotFound) {
			s.mu.Lock()
			if cur := s.streams[k]; cur != nil && cur.ID == st.ID {
				delete(s.streams, k)
			}
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	for _, kv := range accs {
		a := new(AccountSettings)
		if err := json.Unmarshal(kv.Value, a); err != nil {
			continue
		}
		if cur := s.accounts[accountKey{a.Account, a.Region}]; cur != nil && cur.rev >= kv.Rev {
			continue
		}
		a.rev = kv.Rev
		s.accounts[accountKey{a.Account, a.Region}] = a
	}
	s.mu.Unlock()
	return nil
}

// fetchMissing reads a stream this node does not hold from the catalog,
// and publishes it unless this node published one meanwhile.
func (s *Streams) fetchMissing(k streamKey) *Stream {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	val, rev, err := s.cat.Get(ctx, streamCatalogKey(k))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			s.logger.Warn("reading a stream from the catalog failed", "stream", k.name, "err", err)
		}
		return nil
	}
	st := new(Stream)
	if err := json.Unmarshal(val, st); err != nil {
		return nil
	}
	st.rev = rev
	s.adoptStats(st)
	st.seal()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.streams[k]; cur != nil {
		return cur
	}
	s.streams[k] = st
	return st
}

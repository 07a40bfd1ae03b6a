package streams

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/millrace/millrace/internal/storage"
)

// memCatalog is an in-memory storage.Catalog with the engines' CAS rules.
type memCatalog struct {
	mu  sync.Mutex
	kv  map[string]storage.KV
	rev uint64
}

var _ storage.Catalog = (*memCatalog)(nil)

func newMemCatalog() *memCatalog { return &memCatalog{kv: map[string]storage.KV{}} }

func (c *memCatalog) Get(_ context.Context, key string) ([]byte, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kv, ok := c.kv[key]
	if !ok {
		return nil, 0, storage.ErrNotFound
	}
	return append([]byte(nil), kv.Value...), kv.Rev, nil
}

func (c *memCatalog) Put(_ context.Context, key string, value []byte, expectRev uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kv[key].Rev != expectRev {
		return 0, storage.ErrConflict
	}
	c.rev++
	c.kv[key] = storage.KV{Key: key, Value: append([]byte(nil), value...), Rev: c.rev}
	return c.rev, nil
}

func (c *memCatalog) Delete(_ context.Context, key string, expectRev uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	kv, ok := c.kv[key]
	if !ok {
		return storage.ErrNotFound
	}
	if kv.Rev != expectRev {
		return storage.ErrConflict
	}
	delete(c.kv, key)
	return nil
}

func (c *memCatalog) List(_ context.Context, prefix string) ([]storage.KV, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []storage.KV
	for k, kv := range c.kv {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// memLog is an in-memory storage.Log that records trims and deletions.
type memLog struct {
	mu      sync.Mutex
	recs    map[storage.ShardKey][]storage.Record
	next    map[storage.ShardKey]uint64
	trims   map[storage.ShardKey]int64
	deleted map[storage.ShardKey]bool
}

var _ storage.Log = (*memLog)(nil)

func newMemLog() *memLog {
	return &memLog{
		recs: map[storage.ShardKey][]storage.Record{}, next: map[storage.ShardKey]uint64{},
		trims: map[storage.ShardKey]int64{}, deleted: map[storage.ShardKey]bool{},
	}
}

func (l *memLog) Append(_ context.Context, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next[sk] == 0 {
		l.next[sk] = 1
	}
	first := l.next[sk]
	for _, e := range entries {
		l.recs[sk] = append(l.recs[sk], storage.Record{Seq: l.next[sk], Arrival: arrival, PartitionKey: e.PartitionKey, Data: e.Data})
		l.next[sk]++
	}
	return storage.AppendResult{FirstSeq: first, Arrival: arrival}, nil
}

func (l *memLog) AppendMany(ctx context.Context, arrival int64, appends []storage.ShardAppend) {
	for i := range appends {
		appends[i].Result, appends[i].Err = l.Append(ctx, appends[i].Shard, arrival, appends[i].Entries)
	}
}

func (l *memLog) Read(_ context.Context, sk storage.ShardKey, from uint64, maxRecords, maxBytes int) ([]storage.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []storage.Record
	size := 0
	for _, r := range l.recs[sk] {
		if r.Seq < from {
			continue
		}
		if len(out) == maxRecords || (len(out) > 0 && size+r.Size() > maxBytes) {
			break
		}
		out = append(out, r)
		size += r.Size()
	}
	return out, nil
}

func (l *memLog) Bounds(_ context.Context, sk storage.ShardKey) (storage.Bounds, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.next[sk]
	if next == 0 {
		next = 1
	}
	b := storage.Bounds{First: next, Next: next}
	if rs := l.recs[sk]; len(rs) > 0 {
		b.First, b.LastArrival = rs[0].Seq, rs[len(rs)-1].Arrival
	}
	return b, nil
}

func (l *memLog) SeekTime(_ context.Context, sk storage.ShardKey, t int64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs[sk] {
		if r.Arrival >= t {
			return r.Seq, nil
		}
	}
	next := l.next[sk]
	if next == 0 {
		next = 1
	}
	return next, nil
}

func (l *memLog) Trim(_ context.Context, sk storage.ShardKey, before int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trims[sk] = before
	rs := l.recs[sk]
	i := 0
	for i < len(rs) && rs[i].Arrival < before {
		i++
	}
	l.recs[sk] = rs[i:]
	return nil
}

func (l *memLog) DeleteShard(_ context.Context, sk storage.ShardKey) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.recs, sk)
	l.deleted[sk] = true
	return nil
}

func (l *memLog) trimmedAt(sk storage.ShardKey) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.trims[sk]
	return t, ok
}

func (l *memLog) wasDeleted(sk storage.ShardKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deleted[sk]
}

package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/storage"
)

// An in-process cluster: several domains on one catalog and one log, linked
// by memPeers and each with its own Runner taking leases in the catalog,
// as the nodes of a cluster are wired.

// memPeers delivers every message to every subscriber, in the publisher's
// goroutine (so in order per sender).
type memPeers struct {
	mu   sync.Mutex
	next int
	subs map[int]func([]byte)
}

var _ Peers = (*memPeers)(nil)

func (p *memPeers) Publish(_ string, data []byte) error {
	p.mu.Lock()
	fns := make([]func([]byte), 0, len(p.subs))
	for _, fn := range p.subs {
		fns = append(fns, fn)
	}
	p.mu.Unlock()
	for _, fn := range fns {
		fn(append([]byte(nil), data...))
	}
	return nil
}

func (p *memPeers) Subscribe(_ string, fn func([]byte)) (func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.subs == nil {
		p.subs = map[int]func([]byte){}
	}
	id := p.next
	p.next++
	p.subs[id] = fn
	return func() {
		p.mu.Lock()
		delete(p.subs, id)
		p.mu.Unlock()
	}, nil
}

// closingLog is a memLog whose shards can be closed, as a cluster's engine
// closes them (storage.ShardCloser).
type closingLog struct {
	*memLog
	cmu    sync.Mutex
	closed map[storage.ShardKey]storage.Bounds
}

var _ storage.ShardCloser = (*closingLog)(nil)

func newClosingLog() *closingLog {
	return &closingLog{memLog: newMemLog(), closed: map[storage.ShardKey]storage.Bounds{}}
}

func (l *closingLog) CloseShard(ctx context.Context, sk storage.ShardKey) (storage.Bounds, error) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if b, ok := l.closed[sk]; ok {
		return b, nil
	}
	b, err := l.memLog.Bounds(ctx, sk)
	if err != nil {
		return b, err
	}
	l.closed[sk] = b
	return b, nil
}

func (l *closingLog) Append(ctx context.Context, sk storage.ShardKey, arrival int64, entries []storage.Entry) (storage.AppendResult, error) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if _, ok := l.closed[sk]; ok {
		return storage.AppendResult{}, storage.ErrShardClosed
	}
	return l.memLog.Append(ctx, sk, arrival, entries)
}

func (l *closingLog) AppendMany(ctx context.Context, arrival int64, appends []storage.ShardAppend) {
	for i := range appends {
		appends[i].Result, appends[i].Err = l.Append(ctx, appends[i].Shard, arrival, appends[i].Entries)
	}
}

type cluster struct {
	cat   *memCatalog
	log   *closingLog
	clk   *clock
	peers *memPeers
	nodes []*Streams
}

// newCluster starts n nodes, one after the other; which one takes the
// lease of a unit started in New is whichever tries first.
func newCluster(t *testing.T, n int, tweak ...func(*Options)) *cluster {
	t.Helper()
	c := &cluster{cat: newMemCatalog(), log: newClosingLog(), clk: newClock(), peers: &memPeers{}}
	for i := range n {
		c.nodes = append(c.nodes, c.start(t, i, tweak...))
	}
	return c
}

// start opens node i (index into nodes) on the cluster's storage.
func (c *cluster) start(t *testing.T, i int, tweak ...func(*Options)) *Streams {
	t.Helper()
	r := background.New(nil)
	r.SetLeases(&background.Leases{Catalog: c.cat, Node: "node" + strconv.Itoa(i+1)})
	t.Cleanup(r.Stop)
	o := Options{Log: c.log, Catalog: c.cat, Now: c.clk.now, RetentionCheckInterval: 1 << 40,
		CatalogSync: 1 << 40, Peers: c.peers, Runner: r}
	for _, f := range tweak {
		f(&o)
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("node %d: %v", i+1, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// spreadEntries are n records of 100 bytes with partition keys pk-0 on.
func spreadEntries(n int) []PutEntry {
	entries := make([]PutEntry, n)
	for i := range entries {
		entries[i] = PutEntry{PartitionKey: fmt.Sprintf("pk-%d", i), Data: make([]byte, 100)}
	}
	return entries
}

// stored reads a stream as the catalog holds it.
func (c *cluster) stored(t *testing.T, name string) *Stream {
	t.Helper()
	val, _, err := c.cat.Get(context.Background(), streamCatalogKey(streamKey{acct, region, name}))
	if err != nil {
		t.Fatal(err)
	}
	st := new(Stream)
	if err := json.Unmarshal(val, st); err != nil {
		t.Fatal(err)
	}
	return st
}

package streams

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Peers carries small, best-effort messages between the nodes of a
// cluster. Through it the nodes share what each takes from the shards'
// throughput limits, so that a limit holds for the cluster and not per
// node, and which shards each appended to, so that a subscriber on
// another node is woken at once. A lost message costs accuracy, never
// data: the catalog and the log stay the only shared state that counts.
// nil on a single node.
type Peers interface {
	// Publish sends data to every node listening on topic, this one
	// included.
	Publish(topic string, data []byte) error
	// Subscribe calls fn with every message published on topic, from any
	// node, in order per sender, until stop is called.
	Subscribe(topic string, fn func(data []byte)) (stop func(), err error)
}

// peerTopic is the domain's topic on Peers.
const peerTopic = "streams"

// peerFlushDelay is how long a node gathers its takes and appends before it
// sends them: one message per node per delay at most, while it is busy.
const peerFlushDelay = 10 * time.Millisecond

// Kinds of item in a peer message.
const (
	peerWrite     byte = 1 // stream, shard, bytes, records taken by writes
	peerRead      byte = 2 // stream, shard, bytes, calls taken by reads
	peerAppended  byte = 3 // stream, shard: appended to
	peerSubscribe byte = 4 // account, region, name, consumer, shard, claim revision
)

// peerTake is what this node took from one shard's buckets since it last
// told the others.
type peerTake struct{ wBytes, wRecs, rBytes, rCalls int64 }

// peerSub announces a subscription that took its consumer and shard over.
type peerSub struct {
	key subKey
	rev uint64
}

// peerState is this node's side of Peers.
type peerState struct {
	id   uint64 // this node, in its messages
	stop func()
	kick chan struct{} // something waits to be sent

	mu       sync.Mutex
	takes    map[storage.ShardKey]*peerTake
	appended map[storage.ShardKey]bool
	subs     []peerSub
}

// peerMsg is one decoded peer message.
type peerMsg struct {
	node     uint64
	takes    map[storage.ShardKey]peerTake
	appended []storage.ShardKey
	subs     []peerSub
}

// startPeers listens to the other nodes and starts the sender.
func (s *Streams) startPeers() error {
	p := s.opts.Peers
	if p == nil {
		return nil
	}
	s.peer.id = rand.Uint64()
	s.peer.kick = make(chan struct{}, 1)
	stop, err := p.Subscribe(peerTopic, s.peerReceive)
	if err != nil {
		return fmt.Errorf("streams: listening to the other nodes: %w", err)
	}
	s.peer.stop = stop
	s.wg.Add(1)
	go s.peerSendLoop()
	return nil
}

func (s *Streams) stopPeers() {
	if s.peer.stop != nil {
		s.peer.stop()
	}
}

// peerKick wakes the sender; the caller holds s.peer.mu.
func (s *Streams) peerKick() {
	select {
	case s.peer.kick <- struct{}{}:
	default:
	}
}

// peerTook records takes from a shard's limits for the other nodes.
func (s *Streams) peerTook(k storage.ShardKey, t peerTake) {
	if s.opts.Peers == nil || t == (peerTake{}) {
		return
	}
	s.peer.mu.Lock()
	defer s.peer.mu.Unlock()
	if s.peer.takes == nil {
		s.peer.takes = make(map[storage.ShardKey]*peerTake)
	}
	cur := s.peer.takes[k]
	if cur == nil {
		cur = new(peerTake)
		s.peer.takes[k] = cur
	}
	cur.wBytes += t.wBytes
	cur.wRecs += t.wRecs
	cur.rBytes += t.rBytes
	cur.rCalls += t.rCalls
	s.peerKick()
}

// notifyAppend wakes this node's readers of a shard after an append, and
// the other nodes' through Peers.
func (s *Streams) notifyAppend(k storage.ShardKey) {
	s.appends.notify(k)
	if s.opts.Peers == nil {
		return
	}
	s.peer.mu.Lock()
	defer s.peer.mu.Unlock()
	if s.peer.appended == nil {
		s.peer.appended = make(map[storage.ShardKey]bool)
	}
	s.peer.appended[k] = true
	s.peerKick()
}

func (s *Streams) peerSubscribed(k subKey, rev uint64) {
	s.peer.mu.Lock()
	defer s.peer.mu.Unlock()
	s.peer.subs = append(s.peer.subs, peerSub{key: k, rev: rev})
	s.peerKick()
}

func (s *Streams) peerSendLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.peer.kick:
		}
		// Gather what else comes meanwhile into the same message.
		if !s.sleep(peerFlushDelay) {
			return
		}
		s.peer.mu.Lock()
		msg := peerMsg{node: s.peer.id, subs: s.peer.subs}
		if len(s.peer.takes) > 0 {
			msg.takes = make(map[storage.ShardKey]peerTake, len(s.peer.takes))
			for k, t := range s.peer.takes {
				msg.takes[k] = *t
			}
		}
		for k := range s.peer.appended {
			msg.appended = append(msg.appended, k)
		}
		s.peer.takes, s.peer.appended, s.peer.subs = nil, nil, nil
		s.peer.mu.Unlock()
		if err := s.opts.Peers.Publish(peerTopic, encodePeerMsg(&msg)); err != nil && s.ctx.Err() == nil {
			s.logger.Warn("telling the other nodes of this node's takes and appends failed", "err", err)
		}
	}
}

// peerReceive applies another node's message: its takes leave this node's
// buckets of the same shards and count in the scaler's demand, its appends wake this node's subscribers,
// and its subscriptions end this node's older ones of the same consumer
// and shard.
func (s *Streams) peerReceive(data []byte) {
	msg, err := decodePeerMsg(data)
	if err != nil {
		s.logger.Warn("a message from another node could not be read", "err", err)
		return
	}
	if msg.node == s.peer.id {
		return
	}
	now := s.now().UnixNano()
	for k, t := range msg.takes {
		sl := s.limiter(k)
		sl.lock(now)
		sl.wBytes.tokens -= float64(t.wBytes)
		sl.wRecs.tokens -= float64(t.wRecs)
		sl.rBytes.tokens -= float64(t.rBytes)
		sl.rCall.tokens -= float64(t.rCalls)
		// The on-demand scaler measures the cluster's demand.
		sl.demandBytes += t.wBytes
		sl.demandRecords += t.wRecs
		sl.unlock()
	}
	for _, k := range msg.appended {
		s.appends.notify(k)
	}
	for _, ps := range msg.subs {
		s.subs.takenOver(ps.key, ps.rev)
	}
}

func encodePeerMsg(m *peerMsg) []byte {
	b := binary.BigEndian.AppendUint64(nil, m.node)
	for k, t := range m.takes {
		if t.wBytes != 0 || t.wRecs != 0 {
			b = append(b, peerWrite)
			b = appendShard(b, k)
			b = binary.AppendUvarint(b, uint64(t.wBytes))
			b = binary.AppendUvarint(b, uint64(t.wRecs))
		}
		if t.rBytes != 0 || t.rCalls != 0 {
			b = append(b, peerRead)
			b = appendShard(b, k)
			b = binary.AppendUvarint(b, uint64(t.rBytes))
			b = binary.AppendUvarint(b, uint64(t.rCalls))
		}
	}
	for _, k := range m.appended {
		b = append(b, peerAppended)
		b = appendShard(b, k)
	}
	for _, ps := range m.subs {
		b = append(b, peerSubscribe)
		for _, str := range []string{ps.key.stream.account, ps.key.stream.region, ps.key.stream.name, ps.key.consumer} {
			b = binary.AppendUvarint(b, uint64(len(str)))
			b = append(b, str...)
		}
		b = binary.AppendUvarint(b, uint64(ps.key.shard))
		b = binary.AppendUvarint(b, ps.rev)
	}
	return b
}

func appendShard(b []byte, k storage.ShardKey) []byte {
	b = binary.AppendUvarint(b, k.Stream)
	return binary.AppendUvarint(b, uint64(k.Shard))
}

var errPeerMsg = errors.New("streams: malformed peer message")

// peerReader takes a peer message apart; the first error sticks.
type peerReader struct {
	b   []byte
	err error
}

func (r *peerReader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = errPeerMsg
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *peerReader) string() string {
	n := r.uvarint(1<<64 - 1)
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errPeerMsg
	}
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *peerReader) shard() storage.ShardKey {
	return storage.ShardKey{Stream: r.uvarint(1<<64 - 1), Shard: uint32(r.uvarint(1<<32 - 1))}
}

// maxPeerTake bounds one take in a message: far above any shard's rate
// for a flush delay, far below what float64 counts exactly.
const maxPeerTake = 1 << 50

func decodePeerMsg(b []byte) (peerMsg, error) {
	if len(b) < 8 {
		return peerMsg{}, errPeerMsg
	}
	m := peerMsg{node: binary.BigEndian.Uint64(b)}
	r := &peerReader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		kind := r.b[0]
		r.b = r.b[1:]
		switch kind {
		case peerWrite, peerRead:
			k := r.shard()
			x, y := int64(r.uvarint(maxPeerTake)), int64(r.uvarint(maxPeerTake))
			if m.takes == nil {
				m.takes = make(map[storage.ShardKey]peerTake)
			}
			t := m.takes[k]
			if kind == peerWrite {
				t.wBytes, t.wRecs = t.wBytes+x, t.wRecs+y
			} else {
				t.rBytes, t.rCalls = t.rBytes+x, t.rCalls+y
			}
			m.takes[k] = t
		case peerAppended:
			m.appended = append(m.appended, r.shard())
		case peerSubscribe:
			var ps peerSub
			ps.key.stream = streamKey{account: r.string(), region: r.string(), name: r.string()}
			ps.key.consumer = r.string()
			ps.key.shard = uint32(r.uvarint(1<<32 - 1))
			ps.rev = r.uvarint(1<<64 - 1)
			m.subs = append(m.subs, ps)
		default:
			return peerMsg{}, errPeerMsg
		}
	}
	if r.err != nil {
		return peerMsg{}, r.err
	}
	return m, nil
}

// A subscription's claim in the catalog makes the 5-second rule hold for
// the cluster: the node that takes a consumer's shard writes the claim
// with compare-and-set, so of two nodes subscribing at once one wins, and
// a claim younger than 5 seconds held by another node refuses the
// subscription. The winner tells the other nodes, whose older
// subscription of the same consumer and shard then ends.

const subClaimPrefix = "subclaims/"

type subClaim struct {
	Node    uint64 `json:"node"`
	Started int64  `json:"started"` // ms since the epoch
}

func subClaimKey(k subKey) string {
	return fmt.Sprintf("%s%s/%s/%s/%s/%d", subClaimPrefix, k.stream.account, k.stream.region, k.stream.name, k.consumer, k.shard)
}

// claimSubscription claims k for a subscription starting now on this node
// and returns the claim's revision (0 on a single node, which needs none).
func (s *Streams) claimSubscription(ctx context.Context, k subKey, now time.Time, consumerARN, shardID string) (uint64, error) {
	if s.opts.Peers == nil {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key := subClaimKey(k)
	inUse := errorf(KindInUse, "Another active subscription exists for consumer %s on shard %s; a new subscription may take it over %s after it started.", consumerARN, shardID, subscriptionTakeover)
	var expect uint64
	val, rev, err := s.cat.Get(ctx, key)
	switch {
	case err == nil:
		var c subClaim
		if json.Unmarshal(val, &c) == nil && c.Node != s.peer.id && now.UnixMilli()-c.Started < subscriptionTakeover.Milliseconds() {
			return 0, inUse
		}
		expect = rev
	case !errors.Is(err, storage.ErrNotFound):
		s.logger.Error("reading a subscription's claim failed", "key", key, "err", err)
		return 0, errorf(KindInternal, "Internal service failure.")
	}
	data, _ := json.Marshal(subClaim{Node: s.peer.id, Started: now.UnixMilli()})
	rev, err = s.cat.Put(ctx, key, data, expect)
	if errors.Is(err, storage.ErrConflict) {
		return 0, inUse // another node subscribed meanwhile
	}
	if err != nil {
		s.logger.Error("writing a subscription's claim failed", "key", key, "err", err)
		return 0, errorf(KindInternal, "Internal service failure.")
	}
	s.peerSubscribed(k, rev)
	return rev, nil
}

// releaseClaim drops a subscription's claim unless a newer one replaced it.
func (s *Streams) releaseClaim(k subKey, rev uint64) {
	if rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	err := s.cat.Delete(ctx, subClaimKey(k), rev)
	if err != nil && !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) && s.ctx.Err() == nil {
		s.logger.Warn("dropping a subscription's claim failed", "err", err)
	}
}

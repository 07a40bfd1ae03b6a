package jetstream

import (
	"context"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NodeHealth is this node's view of the cluster, for its metrics.
type NodeHealth struct {
	// Embedded is true when the engine runs a NATS server of its own; the
	// fields below but Quorum are only known then.
	Embedded bool
	// Current: this server is caught up with the meta group.
	Current bool
	// MetaLeaderKnown: the meta group has a leader this server knows of;
	// MetaLeader: it is this server.
	MetaLeaderKnown, MetaLeader bool
	// Quorum: a JetStream request through this node was answered.
	Quorum bool
	// StreamsLed counts this deployment's streams (shards and catalog)
	// whose leader is this server; ReplicasLagging counts those streams'
	// other replicas that are not current (behind or offline).
	StreamsLed, ReplicasLagging int
}

// Health reports this node's view of JetStream. Quorum is probed with a
// request bounded by timeout.
func (e *Engine) Health(ctx context.Context, timeout time.Duration) NodeHealth {
	var h NodeHealth
	qctx, cancel := context.WithTimeout(ctx, timeout)
	h.Quorum = e.Quorum(qctx) == nil
	cancel()
	s := e.srv
	if s == nil || e.closed.Load() {
		return h
	}
	h.Embedded = true
	h.Current = s.JetStreamIsCurrent()
	h.MetaLeader = s.JetStreamIsLeader()
	info, err := s.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return h
	}
	if info.Meta != nil {
		h.MetaLeaderKnown = info.Meta.Leader != ""
	} else {
		// A lone server (no cluster) is its own leader.
		h.MetaLeaderKnown, h.Current = true, true
	}
	a := Admin{prefix: e.opts.Prefix}
	for _, acc := range info.AccountDetails {
		for _, sd := range acc.Streams {
			if !a.ours(sd.Name) {
				continue
			}
			if sd.Cluster == nil {
				h.StreamsLed++ // a lone server leads every stream
				continue
			}
			if sd.Cluster.Leader != s.Name() {
				continue
			}
			h.StreamsLed++
			for _, r := range sd.Cluster.Replicas {
				if !r.Current || r.Offline {
					h.ReplicasLagging++
				}
			}
		}
	}
	return h
}

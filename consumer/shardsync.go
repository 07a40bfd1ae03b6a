package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// syncLoop runs the shard sync every ShardSyncInterval.
func (w *Worker) syncLoop() {
	defer w.loops.Done()
	t := time.NewTicker(w.cfg.ShardSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.loopCtx.Done():
			return
		case <-t.C:
		case <-w.syncNow:
		}
		if err := w.syncShards(w.loopCtx); err != nil && w.loopCtx.Err() == nil {
			w.log.Warn("shard sync failed", "err", err)
		}
	}
}

// syncShards lists the shards of every stream and creates the leases
// missing, as the KCL's hierarchical shard syncer does: a shard whose
// parent has (or gets) a lease starts at TRIM_HORIZON, so nothing is
// skipped after the parent; a shard without such a parent starts at the
// initial position (closed shards are skipped with LATEST); a shard with a
// descendant holding a lease was processed already and is left alone.
func (w *Worker) syncShards(ctx context.Context) error {
	leases, err := w.table.list(ctx)
	if err != nil {
		return err
	}
	var errs []error
	created := 0
	for _, s := range w.streams {
		have := map[string]bool{}
		for _, l := range leases {
			if ls, shard := w.leaseStream(l); ls == s {
				have[shard] = true
			}
		}
		shards, err := w.listShards(ctx, s, len(have) == 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := w.createMissing(ctx, s, shards, have)
		created += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if created > 0 {
		w.poke(w.takeNow)
	}
	return errors.Join(errs...)
}

// listShards lists the shards of s; with filtered, only those the initial
// position needs (ShardFilter).
func (w *Worker) listShards(ctx context.Context, s *streamInfo, filtered bool) ([]types.Shard, error) {
	var shards []types.Shard
	var token *string
	for {
		in := &kinesis.ListShardsInput{}
		if token != nil {
			in.NextToken = token
		} else {
			setStream(s.ref, &in.StreamName, &in.StreamARN)
			if filtered {
				in.ShardFilter = w.shardFilter()
			}
		}
		var out *kinesis.ListShardsOutput
		var err error
		for attempt := 0; ; attempt++ {
			out, err = w.kc.ListShards(ctx, in)
			if code := apiCode(err); err == nil || attempt >= 50 || (code != "LimitExceededException" && code != "ResourceInUseException") {
				break
			}
			if err := sleep(ctx, 1500*time.Millisecond); err != nil {
				return nil, err
			}
		}
		if err != nil {
			return nil, fmt.Errorf("consumer: listing the shards of %s: %w", s.ref, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	ranges := make(map[string][2]string, len(shards))
	for _, sh := range shards {
		if sh.HashKeyRange != nil {
			ranges[aws.ToString(sh.ShardId)] = [2]string{aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey)}
		}
	}
	s.mu.Lock()
	if s.ranges == nil || !filtered {
		s.ranges = ranges
	} else {
		for k, v := range ranges {
			s.ranges[k] = v
		}
	}
	s.mu.Unlock()
	return shards, nil
}

func (w *Worker) shardFilter() *types.ShardFilter {
	switch w.cfg.InitialPosition {
	case StartTrimHorizon:
		return &types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}
	case StartAtTimestamp:
		t := w.cfg.InitialTimestamp
		return &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: &t}
	}
	return &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}
}

func (w *Worker) initialCheckpoint() string {
	switch w.cfg.InitialPosition {
	case StartTrimHorizon:
		return TrimHorizon
	case StartAtTimestamp:
		return AtTimestamp
	}
	return Latest
}

// createMissing creates the leases shards need; it returns how many it
// created.
func (w *Worker) createMissing(ctx context.Context, s *streamInfo, shards []types.Shard, have map[string]bool) (int, error) {
	byID := make(map[string]*types.Shard, len(shards))
	children := map[string][]string{}
	for i := range shards {
		sh := &shards[i]
		id := aws.ToString(sh.ShardId)
		byID[id] = sh
		for _, p := range parentsOf(sh) {
			children[p] = append(children[p], id)
		}
	}
	descLeased := map[string]bool{}
	var leasedBelow func(id string) bool
	leasedBelow = func(id string) bool {
		if v, ok := descLeased[id]; ok {
			return v
		}
		descLeased[id] = false
		for _, c := range children[id] {
			if have[c] || leasedBelow(c) {
				descLeased[id] = true
				return true
			}
		}
		return false
	}
	// decided: shard id -> checkpoint of the lease to create ("" none).
	decided := map[string]string{}
	var decide func(id string) bool
	decide = func(id string) bool {
		if have[id] {
			return true
		}
		if cp, ok := decided[id]; ok {
			return cp != ""
		}
		decided[id] = ""
		sh := byID[id]
		if sh == nil || leasedBelow(id) {
			return false
		}
		parentLeased := false
		for _, p := range parentsOf(sh) {
			if byID[p] != nil && decide(p) {
				parentLeased = true
			}
		}
		switch {
		case parentLeased:
			decided[id] = TrimHorizon
		case sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber == nil:
			decided[id] = w.initialCheckpoint()
		case w.cfg.InitialPosition != StartLatest:
			decided[id] = w.initialCheckpoint()
		}
		return decided[id] != ""
	}
	created := 0
	for i := range shards {
		sh := &shards[i]
		id := aws.ToString(sh.ShardId)
		if !decide(id) || have[id] {
			continue
		}
		l := w.newLease(s, id, decided[id], parentsOf(sh), sh.HashKeyRange)
		ok, err := w.table.create(ctx, l)
		if err != nil {
			return created, err
		}
		if ok {
			created++
			w.log.Info("lease created", "lease", l.Key, "checkpoint", decided[id])
		}
	}
	return created, nil
}

func (w *Worker) newLease(s *streamInfo, shardID, checkpoint string, parents []string, hk *types.HashKeyRange) *Lease {
	l := &Lease{
		Key:            w.leaseKey(s, shardID),
		Checkpoint:     ExtendedSequenceNumber{SequenceNumber: checkpoint},
		ParentShardIDs: parents,
	}
	if hk != nil {
		l.StartingHashKey, l.EndingHashKey = aws.ToString(hk.StartingHashKey), aws.ToString(hk.EndingHashKey)
	}
	if w.cfg.multiStream() {
		l.StreamName, l.ShardID = s.ident, shardID
	}
	return l
}

// createChildLeases creates the leases of a closed shard's children, at
// TRIM_HORIZON, before the parent records SHARD_END.
func (w *Worker) createChildLeases(ctx context.Context, s *streamInfo, children []types.ChildShard) error {
	for _, c := range children {
		l := w.newLease(s, aws.ToString(c.ShardId), TrimHorizon, c.ParentShards, c.HashKeyRange)
		ok, err := w.table.create(ctx, l)
		if err != nil {
			return err
		}
		if ok {
			w.log.Info("child lease created", "lease", l.Key)
		}
	}
	if len(children) == 0 {
		// A shard end without children in the answer (an older server):
		// find them by listing.
		w.poke(w.syncNow)
	}
	return nil
}

func parentsOf(sh *types.Shard) []string {
	var ps []string
	if p := aws.ToString(sh.ParentShardId); p != "" {
		ps = append(ps, p)
	}
	if p := aws.ToString(sh.AdjacentParentShardId); p != "" {
		ps = append(ps, p)
	}
	return ps
}

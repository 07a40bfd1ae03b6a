package streams

import (
	"context"
	"time"
)

// Capacity modes: UpdateStreamMode, warm throughput of on-demand streams and
// the domain state behind the throughput limits and the on-demand scaler.

// Capacity-mode limits.
const (
	// maxModeSwitches is how many times a stream's capacity mode may change
	// per rolling modeSwitchWindow: AWS's developer guide allows switching
	// "twice within 24 hours".
	maxModeSwitches  = 2
	modeSwitchWindow = 24 * time.Hour
	// MaxWarmThroughputMiBps is the most warm throughput an on-demand
	// stream takes (AWS: 10 GiBps).
	MaxWarmThroughputMiBps = 10240
)

// capacityState is the domain's in-memory capacity state.
type capacityState struct {
	thr    throttles
	faults *faults
	scaler scalerState
}

// initCapacity fills the capacity options' defaults and starts the
// on-demand scaler. It runs in New.
func (s *Streams) initCapacity() {
	s.opts.Limits.ensureDefaults()
	s.opts.Scaling.ensureDefaults()
	s.capacity.faults = newFaults(s.opts.Faults)
	s.startScaler()
}

// shardWriteMiBps is what one shard takes in MiB/s, for warm throughput.
func (s *Streams) shardWriteMiBps() float64 {
	return float64(s.opts.Limits.WriteBytesPerSec) / (1 << 20)
}

// warmShards is how many open shards carry mibps of writes.
func (s *Streams) warmShards(mibps int) int {
	if mibps <= 0 {
		return 0
	}
	per := s.shardWriteMiBps()
	n := int(float64(mibps) / per)
	if float64(n)*per < float64(mibps) {
		n++
	}
	return min(n, MaxShardsPerStream)
}

// WarmThroughput is what DescribeStreamSummary reports of an on-demand
// stream: the target set by the user (0 when none) and the write
// throughput its open shards take now.
type WarmThroughput struct{ TargetMiBps, CurrentMiBps int }

// WarmThroughput returns an on-demand stream's warm throughput; ok is false
// for a provisioned stream, which has none.
func (s *Streams) WarmThroughput(st *Stream) (w WarmThroughput, ok bool) {
	if st.Mode != ModeOnDemand {
		return w, false
	}
	open := 0
	for i := range st.Shards {
		if st.Shards[i].IsOpen() {
			open++
		}
	}
	return WarmThroughput{TargetMiBps: st.WarmThroughputMiBps, CurrentMiBps: int(float64(open) * s.shardWriteMiBps())}, true
}

// checkWarmThroughput applies the rules of a warm throughput target: the
// account has a minimum throughput billing commitment, the stream is (or is
// becoming) on-demand, and the target is within AWS's maximum.
func (s *Streams) checkWarmThroughput(account, region, name, mode string, mibps int) error {
	if mibps < 0 {
		return errorf(KindValidation,
			"1 validation error detected: Value '%d' at 'warmThroughputMiBps' failed to satisfy constraint: Member must have value greater than or equal to 0", mibps)
	}
	if mode != ModeOnDemand {
		return errorf(KindInvalidArgument,
			"Warm throughput is supported only for streams in ON_DEMAND mode; stream %s under account %s is in %s mode.", name, account, mode)
	}
	if c := s.AccountSettings(account, region).Commitment; c != CommitmentEnabled {
		return errorf(KindInvalidArgument,
			"Warm throughput requires the account setting MinimumThroughputBillingCommitment to be ENABLED for account %s in %s; it is %s.", account, region, c)
	}
	if mibps > MaxWarmThroughputMiBps {
		return errorf(KindLimitExceeded,
			"Warm throughput %d MiBps for stream %s under account %s exceeds the limit of %d MiBps.", mibps, name, account, MaxWarmThroughputMiBps)
	}
	return nil
}

// createShards is the shard count of a new stream: an on-demand stream with
// a warm throughput target starts with the shards that carry it.
func (s *Streams) createShards(p CreateParams, mode string, shards int) (int, error) {
	if p.WarmThroughputMiBps == 0 {
		return shards, nil
	}
	if err := s.checkWarmThroughput(p.Account, p.Region, p.Name, mode, p.WarmThroughputMiBps); err != nil {
		return 0, err
	}
	return max(shards, s.warmShards(p.WarmThroughputMiBps)), nil
}

// UpdateStreamMode switches a stream between PROVISIONED and ON_DEMAND. The
// stream is UPDATING for UpdateDelay and keeps its shards; warmMiBps (-1
// when the request has none) is taken only when switching to ON_DEMAND.
func (s *Streams) UpdateStreamMode(ctx context.Context, ref StreamRef, mode string, warmMiBps int) error {
	if mode != ModeProvisioned && mode != ModeOnDemand {
		return errorf(KindValidation,
			"1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [%s, %s]", mode, ModeProvisioned, ModeOnDemand)
	}
	if mode == ModeProvisioned && warmMiBps >= 0 {
		return errorf(KindInvalidArgument, "WarmThroughputMiBps can only be specified when updating the stream mode to ON_DEMAND.")
	}
	st, err := s.lookupLive(ref)
	if err != nil {
		return err
	}
	if _, err := s.checkModeSwitch(st, mode); err != nil {
		return err
	}
	if warmMiBps > 0 {
		if err := s.checkWarmThroughput(st.Account, st.Region, st.Name, mode, warmMiBps); err != nil {
			return err
		}
		// Take the shards the target needs first (the stream is still in
		// its old mode for an instant), then switch.
		if err := s.scaleToWarm(ctx, ref, warmMiBps); err != nil {
			return err
		}
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if st, err = s.lookupLive(ref); err != nil {
		return err
	}
	recent, err := s.checkModeSwitch(st, mode)
	if err != nil {
		return err
	}
	n := st.clone()
	n.Mode = mode
	n.ModeSwitches = append(recent, s.now().UnixMilli())
	n.WarmThroughputMiBps = 0
	if mode == ModeOnDemand && warmMiBps > 0 {
		n.WarmThroughputMiBps = warmMiBps
	}
	return s.enter(ctx, n, StatusUpdating, s.opts.UpdateDelay)
}

// checkModeSwitch applies the rules of a switch of st to mode and returns
// the times of the switches within the last 24 hours.
func (s *Streams) checkModeSwitch(st *Stream, mode string) ([]int64, error) {
	if err := requireActive(st); err != nil {
		return nil, err
	}
	if st.Mode == mode {
		return nil, errorf(KindInvalidArgument, "Stream %s under account %s is already in %s mode.", st.Name, st.Account, mode)
	}
	recent := recentSwitches(st.ModeSwitches, s.now().UnixMilli())
	if len(recent) >= maxModeSwitches {
		return nil, errorf(KindLimitExceeded,
			"The capacity mode of stream %s under account %s has already been changed %d times in the last 24 hours.", st.Name, st.Account, maxModeSwitches)
	}
	if mode == ModeOnDemand {
		if u := s.usage(st.Account, st.Region); u.onDemand >= s.opts.OnDemandStreamLimit {
			return nil, errorf(KindLimitExceeded,
				"This request would exceed the on-demand stream limit for the account %s in %s. Current on-demand stream count for the account: %d. Limit: %d.",
				st.Account, st.Region, u.onDemand, s.opts.OnDemandStreamLimit)
		}
	}
	return recent, nil
}

func recentSwitches(times []int64, now int64) []int64 {
	from := now - modeSwitchWindow.Milliseconds()
	out := make([]int64, 0, len(times)+1)
	for _, t := range times {
		if t > from {
			out = append(out, t)
		}
	}
	return out
}

// UpdateStreamWarmThroughput sets an on-demand stream's warm throughput
// target: the stream is scaled to carry it at once and is UPDATING for
// UpdateDelay; the scaler never merges it below the target. 0 removes the
// target. It returns the stream as updated.
func (s *Streams) UpdateStreamWarmThroughput(ctx context.Context, ref StreamRef, mibps int) (*Stream, error) {
	st, err := s.lookupLive(ref)
	if err != nil {
		return nil, err
	}
	if err := s.checkWarmThroughput(st.Account, st.Region, st.Name, st.Mode, mibps); err != nil {
		return nil, err
	}
	if err := requireActive(st); err != nil {
		return nil, err
	}
	if err := s.scaleToWarm(ctx, ref, mibps); err != nil {
		return nil, err
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if st, err = s.lookupLive(ref); err != nil {
		return nil, err
	}
	if err := requireActive(st); err != nil {
		return nil, err
	}
	if st.Mode != ModeOnDemand {
		return nil, errorf(KindInvalidArgument,
			"Warm throughput is supported only for streams in ON_DEMAND mode; stream %s under account %s is in %s mode.", st.Name, st.Account, st.Mode)
	}
	n := st.clone()
	n.WarmThroughputMiBps = mibps
	if err := s.enter(ctx, n, StatusUpdating, s.opts.UpdateDelay); err != nil {
		return nil, err
	}
	return s.current(n.mapKey()), nil
}

// scaleToWarm reshapes a stream's open shards into evenly spread shards
// that carry mibps, when it has fewer.
func (s *Streams) scaleToWarm(ctx context.Context, ref StreamRef, mibps int) error {
	need := s.warmShards(mibps)
	return s.reshard(ctx, ref, reshardByScaler, func(st *Stream, c *layoutChange) (bool, error) {
		open := len(st.OpenShards())
		if need <= open {
			return false, nil
		}
		if err := s.checkShardQuota(st, need-open); err != nil {
			return false, err
		}
		c.uniform(need)
		return true, nil
	})
}

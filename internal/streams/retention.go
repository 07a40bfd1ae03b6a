package streams

import (
	"context"
	"time"
)

// Retention periods in hours, as AWS allows them.
const (
	MinRetentionHours     = 24
	MaxRetentionHours     = 8760
	DefaultRetentionHours = 24
)

// retentionLoop trims expired records every RetentionCheckInterval until
// Close. Reads filter by the retention cutoff too, so trimming only reclaims
// space; it never decides what a reader sees.
func (s *Streams) retentionLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.trimAll(s.ctx)
		}
	}
}

// trimAll drops the records of every shard that have passed their stream's
// retention cutoff.
func (s *Streams) trimAll(ctx context.Context) {
	now := s.now()
	for _, st := range s.snapshot() {
		if st.Status == StatusDeleting {
			continue
		}
		cut := s.retentionCutoff(st, now)
		for i := range st.Shards {
			if ctx.Err() != nil {
				return
			}
			if s.reclaimShard(ctx, st, &st.Shards[i], cut) {
				continue
			}
			if err := s.log.Trim(ctx, st.Key(st.Shards[i].Index), cut); err != nil && ctx.Err() == nil {
				s.logger.Warn("trimming expired records failed",
					"stream", st.Name, "shard", st.Shards[i].ID(), "err", err)
			}
		}
	}
}

// IncreaseRetention raises a stream's retention period.
func (s *Streams) IncreaseRetention(ctx context.Context, ref StreamRef, hours int) error {
	return s.changeRetention(ctx, ref, hours, true)
}

// DecreaseRetention lowers a stream's retention period; records older than
// the new period become unreadable at once.
func (s *Streams) DecreaseRetention(ctx context.Context, ref StreamRef, hours int) error {
	return s.changeRetention(ctx, ref, hours, false)
}

func (s *Streams) changeRetention(ctx context.Context, ref StreamRef, hours int, increase bool) error {
	if hours < MinRetentionHours {
		return errorf(KindInvalidArgument, "Minimum allowed retention period is %d hours. Requested retention period (%d hours) is too short.", MinRetentionHours, hours)
	}
	if hours > MaxRetentionHours {
		return errorf(KindInvalidArgument, "Maximum allowed retention period is %d hours. Requested retention period (%d hours) is too long.", MaxRetentionHours, hours)
	}
	return s.update(ctx, ref, func(st *Stream) error {
		if err := requireActive(st); err != nil {
			return err
		}
		if increase && hours < st.RetentionHours {
			return errorf(KindInvalidArgument, "Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", hours, st.Name, st.RetentionHours)
		}
		if !increase && hours > st.RetentionHours {
			return errorf(KindInvalidArgument, "Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", hours, st.Name, st.RetentionHours)
		}
		if increase {
			// Records that had expired under the old period stay gone.
			if floor := s.retentionCutoff(st, s.now()); floor > st.RetentionFloor {
				st.RetentionFloor = floor
			}
		}
		st.RetentionHours = hours
		return nil
	})
}

package streams

import (
	"context"
	"sort"
	"strings"
)

// Record size limits in KiB.
const (
	MinMaxRecordSizeKiB     = 1024
	MaxMaxRecordSizeKiB     = 10240
	DefaultMaxRecordSizeKiB = 1024
)

// OnDemandShardCount is the number of shards AWS gives a new on-demand
// stream (4 MB/s in, 8 MB/s out).
const OnDemandShardCount = 4

// maxCreating is how many streams of an account and region may be CREATING
// at once.
const maxCreating = 5

// CreateParams is a CreateStream request.
type CreateParams struct {
	Account, Region, Name string
	// ShardCount is 0 when the request gives none.
	ShardCount int
	// Mode is "" when the request gives no StreamModeDetails.
	Mode string
	// MaxRecordSizeKiB is 0 when the request gives none.
	MaxRecordSizeKiB int
	Tags             map[string]string
	// WarmThroughputMiBps is 0 when the request gives none (capacity.go).
	WarmThroughputMiBps int
}

// CreateStream creates a stream. It is CREATING until CreateDelay passes
// (ACTIVE before the call returns when the delay is 0).
func (s *Streams) CreateStream(ctx context.Context, p CreateParams) error {
	mode, shards, err := createShape(p)
	if err != nil {
		return err
	}
	if shards, err = s.createShards(p, mode, shards); err != nil {
		return err
	}
	if err := validateTags(p.Tags, "create stream "+p.Name, p.Account); err != nil {
		return err
	}
	if len(p.Tags) > maxTags {
		return errorf(KindInvalidArgument, "Failed to create stream %s under account %s because a given stream cannot have more than %d tags associated with it.", p.Name, p.Account, maxTags)
	}
	maxKiB := p.MaxRecordSizeKiB
	if maxKiB == 0 {
		maxKiB = DefaultMaxRecordSizeKiB
	}
	if maxKiB < MinMaxRecordSizeKiB || maxKiB > MaxMaxRecordSizeKiB {
		return errorf(KindInvalidArgument, "MaxRecordSizeInKiB must be between %d and %d.", MinMaxRecordSizeKiB, MaxMaxRecordSizeKiB)
	}

	s.ctl.Lock()
	defer s.ctl.Unlock()
	k := streamKey{p.Account, p.Region, p.Name}
	if s.current(k) != nil {
		return errorf(KindInUse, "Stream %s under account %s already exists.", p.Name, p.Account)
	}
	if err := s.checkCreateLimits(p.Account, p.Region, mode, shards); err != nil {
		return err
	}
	id, err := s.nextStreamID(ctx)
	if err != nil {
		return err
	}
	now := s.now().UnixMilli()
	st := &Stream{
		ID: id, Account: p.Account, Region: p.Region, Name: p.Name,
		ARN:  StreamARN(p.Region, p.Account, p.Name),
		Mode: mode, CreatedAt: now,
		RetentionHours: DefaultRetentionHours, MaxRecordSizeKiB: maxKiB,
		Shards:              newShards(shards, now),
		WarmThroughputMiBps: p.WarmThroughputMiBps,
	}
	if len(p.Tags) > 0 {
		st.Tags = make(map[string]string, len(p.Tags))
		for k, v := range p.Tags {
			st.Tags[k] = v
		}
	}
	return s.enter(ctx, st, StatusCreating, s.opts.CreateDelay)
}

// createShape decides the capacity mode and shard count of a new stream.
func createShape(p CreateParams) (mode string, shards int, err error) {
	switch p.Mode {
	case "":
		// No StreamModeDetails: a ShardCount means provisioned, none means
		// on-demand (AWS's behaviour since on-demand streams exist).
		if p.ShardCount > 0 {
			return ModeProvisioned, p.ShardCount, nil
		}
		return ModeOnDemand, OnDemandShardCount, nil
	case ModeProvisioned:
		if p.ShardCount <= 0 {
			return "", 0, errorf(KindInvalidArgument, "ShardCount is required when StreamMode=PROVISIONED.")
		}
		return ModeProvisioned, p.ShardCount, nil
	case ModeOnDemand:
		if p.ShardCount > 0 {
			return "", 0, errorf(KindInvalidArgument, "ShardCount is not expected when StreamMode=ON_DEMAND.")
		}
		return ModeOnDemand, OnDemandShardCount, nil
	}
	return "", 0, errorf(KindInvalidArgument, "Unknown StreamMode %s.", p.Mode)
}

func newShards(n int, now int64) []Shard {
	starts, ends := InitialRanges(n)
	out := make([]Shard, n)
	for i := range out {
		out[i] = Shard{
			Index: uint32(i), StartingHashKey: starts[i], EndingHashKey: ends[i],
			ParentIndex: -1, AdjacentParentIndex: -1, CreatedAt: now,
		}
	}
	return out
}

// checkCreateLimits applies the account quotas to a new stream. The caller
// holds s.ctl.
func (s *Streams) checkCreateLimits(account, region, mode string, shards int) error {
	u := s.usage(account, region)
	if u.creating >= maxCreating {
		return errorf(KindLimitExceeded, "This request would exceed the limit of %d streams in CREATING state for the account %s in %s.", maxCreating, account, region)
	}
	if mode == ModeOnDemand && u.onDemand >= s.opts.OnDemandStreamLimit {
		return errorf(KindLimitExceeded, "This request would exceed the on-demand stream limit for the account %s in %s. Current on-demand stream count for the account: %d. Limit: %d.", account, region, u.onDemand, s.opts.OnDemandStreamLimit)
	}
	if u.openShards+shards > s.opts.ShardLimit {
		return errorf(KindLimitExceeded, "This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d. Refer to the AWS Service Limits page (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.", account, region, u.openShards, s.opts.ShardLimit, shards)
	}
	return nil
}

// usage counts what an account uses in a region.
type usage struct{ openShards, onDemand, creating int }

func (s *Streams) usage(account, region string) usage {
	var u usage
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, st := range s.streams {
		if k.account != account || k.region != region {
			continue
		}
		for i := range st.Shards {
			if st.Shards[i].IsOpen() {
				u.openShards++
			}
		}
		if st.Mode == ModeOnDemand {
			u.onDemand++
		}
		if st.Status == StatusCreating {
			u.creating++
		}
	}
	return u
}

// Limits is what DescribeLimits reports.
type Limits struct{ ShardLimit, OpenShardCount, OnDemandStreamCount, OnDemandStreamCountLimit int }

// DescribeLimits returns the quotas and usage of an account in a region.
func (s *Streams) DescribeLimits(account, region string) Limits {
	u := s.usage(account, region)
	return Limits{
		ShardLimit: s.opts.ShardLimit, OpenShardCount: u.openShards,
		OnDemandStreamCount: u.onDemand, OnDemandStreamCountLimit: s.opts.OnDemandStreamLimit,
	}
}

// DeleteStream starts deleting a stream: it is DELETING until DeleteDelay
// passes, then its records and metadata are gone, with its consumers. A
// stream with consumers is refused unless enforceConsumerDeletion is set.
func (s *Streams) DeleteStream(ctx context.Context, ref StreamRef, enforceConsumerDeletion bool) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	st, err := s.lookupLive(ref)
	if err != nil {
		return err
	}
	if st.Status == StatusCreating {
		// AWS refuses to delete a stream that is still being created.
		return errorf(KindInUse, "Stream %s under account %s not ACTIVE, instead in state %s", st.Name, st.Account, st.Status)
	}
	if err := checkConsumersForDelete(st, enforceConsumerDeletion, s.now()); err != nil {
		return err
	}
	return s.enter(ctx, st.clone(), StatusDeleting, s.opts.DeleteDelay)
}

// update applies change to a copy of the stream's current snapshot and
// stores the copy. A DELETING stream is not found.
func (s *Streams) update(ctx context.Context, ref StreamRef, change func(*Stream) error) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	st, err := s.lookupLive(ref)
	if err != nil {
		return err
	}
	n := st.clone()
	if err := change(n); err != nil {
		return err
	}
	return s.store(ctx, n)
}

// requireActive rejects a change to a stream that is not ACTIVE, with AWS's
// ResourceInUseException wording.
func requireActive(st *Stream) error {
	if st.Status != StatusActive {
		return errorf(KindInUse, "Stream %s under account %s not ACTIVE, instead in state %s", st.Name, st.Account, st.Status)
	}
	return nil
}

// StreamPage is one page of ListStreams.
type StreamPage struct {
	Streams []*Stream
	HasMore bool
	// NextToken continues the listing after this page; "" on the last page.
	NextToken string
}

// ListParams is a ListStreams request.
type ListParams struct {
	Account, Region string
	ExclusiveStart  string
	NextToken       string
	Limit           int // 1..100 after the API layer's defaults
}

// ListStreams returns up to Limit streams of an account and region by name,
// after ExclusiveStart or where NextToken left off. The token is sealed with
// the server key and valid for 300 seconds.
func (s *Streams) ListStreams(p ListParams) (StreamPage, error) {
	after := p.ExclusiveStart
	if p.NextToken != "" {
		if p.ExclusiveStart != "" {
			return StreamPage{}, errorf(KindInvalidArgument, "NextToken and ExclusiveStartStreamName cannot be provided together.")
		}
		payload, err := s.keys.openToken(purposeListToken, p.NextToken, s.now())
		if err != nil {
			return StreamPage{}, err
		}
		parts := strings.SplitN(string(payload), "\x00", 3)
		if len(parts) != 3 || parts[0] != p.Account || parts[1] != p.Region {
			return StreamPage{}, errorf(KindInvalidArgument, "Invalid NextToken.")
		}
		after = parts[2]
	}
	var all []*Stream
	s.mu.RLock()
	for k, st := range s.streams {
		if k.account == p.Account && k.region == p.Region && k.name > after {
			all = append(all, st)
		}
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	if p.Limit <= 0 || len(all) <= p.Limit {
		return StreamPage{Streams: all}, nil
	}
	page := StreamPage{Streams: all[:p.Limit], HasMore: true}
	last := page.Streams[p.Limit-1].Name
	page.NextToken = s.keys.sealToken(purposeListToken, s.now(), []byte(p.Account+"\x00"+p.Region+"\x00"+last))
	return page, nil
}

// UpdateMaxRecordSize changes the largest record a stream accepts.
func (s *Streams) UpdateMaxRecordSize(ctx context.Context, ref StreamRef, kib int) error {
	if kib < MinMaxRecordSizeKiB || kib > MaxMaxRecordSizeKiB {
		return errorf(KindInvalidArgument, "MaxRecordSizeInKiB must be between %d and %d.", MinMaxRecordSizeKiB, MaxMaxRecordSizeKiB)
	}
	return s.update(ctx, ref, func(st *Stream) error {
		if err := requireActive(st); err != nil {
			return err
		}
		st.MaxRecordSizeKiB = kib
		return nil
	})
}

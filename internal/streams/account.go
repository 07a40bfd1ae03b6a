package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Minimum throughput billing commitment statuses, as AWS reports them.
const (
	CommitmentEnabled                 = "ENABLED"
	CommitmentDisabled                = "DISABLED"
	CommitmentEnabledUntilEarliestEnd = "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
)

// commitmentMinimum is the shortest a minimum throughput billing commitment
// can last once enabled.
const commitmentMinimum = 24 * time.Hour

type accountKey struct{ account, region string }

// AccountSettings are the Kinesis settings of one account in one region.
type AccountSettings struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// Commitment is the minimum throughput billing commitment status;
	// the times are ms since the epoch, 0 when unset.
	Commitment         string `json:"commitment,omitempty"`
	StartedAt          int64  `json:"startedAt,omitempty"`
	EndedAt            int64  `json:"endedAt,omitempty"`
	EarliestAllowedEnd int64  `json:"earliestAllowedEnd,omitempty"`

	rev uint64
}

func accountCatalogKey(k accountKey) string { return accountPrefix + k.account + "/" + k.region }

// settingsAt returns the settings as they read at now: a commitment being
// disabled reads DISABLED once its earliest allowed end has passed.
func (a AccountSettings) settingsAt(now int64) AccountSettings {
	if a.Commitment == "" {
		a.Commitment = CommitmentDisabled
	}
	if a.Commitment == CommitmentEnabledUntilEarliestEnd && now >= a.EarliestAllowedEnd {
		a.Commitment = CommitmentDisabled
	}
	return a
}

// AccountSettings returns the settings of an account in a region.
func (s *Streams) AccountSettings(account, region string) AccountSettings {
	s.mu.RLock()
	a := s.accounts[accountKey{account, region}]
	s.mu.RUnlock()
	if a == nil {
		a = &AccountSettings{Account: account, Region: region}
	}
	return a.settingsAt(s.now().UnixMilli())
}

// SetMinimumThroughputCommitment enables or disables the minimum throughput
// billing commitment. A commitment lasts at least 24 hours: disabling it
// earlier leaves it ENABLED_UNTIL_EARLIEST_ALLOWED_END.
func (s *Streams) SetMinimumThroughputCommitment(ctx context.Context, account, region string, enable bool) (AccountSettings, error) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	k := accountKey{account, region}
	s.mu.RLock()
	old := s.accounts[k]
	s.mu.RUnlock()
	var a AccountSettings
	if old != nil {
		a = *old
	} else {
		a = AccountSettings{Account: account, Region: region}
	}
	now := s.now().UnixMilli()
	cur := a.settingsAt(now)
	switch {
	case enable && cur.Commitment == CommitmentEnabled:
		return cur, nil
	case enable && cur.Commitment == CommitmentEnabledUntilEarliestEnd:
		a.Commitment, a.EndedAt = CommitmentEnabled, 0
	case enable:
		a.Commitment, a.StartedAt, a.EndedAt = CommitmentEnabled, now, 0
		a.EarliestAllowedEnd = now + commitmentMinimum.Milliseconds()
	case cur.Commitment == CommitmentDisabled:
		return cur, nil
	case now < a.EarliestAllowedEnd:
		a.Commitment, a.EndedAt = CommitmentEnabledUntilEarliestEnd, a.EarliestAllowedEnd
	default:
		a.Commitment, a.EndedAt = CommitmentDisabled, now
	}
	if err := s.storeAccount(ctx, &a); err != nil {
		return AccountSettings{}, err
	}
	return a.settingsAt(now), nil
}

func (s *Streams) storeAccount(ctx context.Context, a *AccountSettings) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	k := accountKey{a.Account, a.Region}
	rev, err := s.cat.Put(ctx, accountCatalogKey(k), data, a.rev)
	if errors.Is(err, storage.ErrConflict) {
		return errorf(KindLimitExceeded, "Account settings are being modified concurrently; retry the request.")
	}
	if err != nil {
		return fmt.Errorf("streams: storing account settings: %w", err)
	}
	a.rev = rev
	s.mu.Lock()
	s.accounts[k] = a
	s.mu.Unlock()
	return nil
}

package dynamodb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/storage"
)

// lockPrefix starts the catalog keys of the table locks that nodes of a
// cluster take around a write, so that a transaction through one node
// and a write through another do not interleave: each item is written by
// compare-and-set, but a transaction writes several.
const lockPrefix = "ddb/lock/"

// clusterLockLease is how long a lock is held at most: a node that dies
// holding one delays the table's writes through the others that long.
const clusterLockLease = 10 * time.Second

// clusterLockWait bounds the wait for a lock when the request has no
// deadline.
const clusterLockWait = 15 * time.Second

type clusterLock struct {
	Owner   string `json:"owner"`
	Expires int64  `json:"expires"` // Unix milliseconds
}

// lockCluster takes the catalog lock of each key (in the order given) and
// returns the function that releases them.
func (s *Service) lockCluster(ctx context.Context, keys []string) (func(), error) {
	type held struct {
		key string
		rev uint64
	}
	var locks []held
	release := func() {
		// A lock is released even when the request was cancelled.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for i := len(locks) - 1; i >= 0; i-- {
			if err := s.cat.Delete(rctx, locks[i].key, locks[i].rev); err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
				s.logger.Warn("releasing a DynamoDB table lock", "key", locks[i].key, "error", err)
			}
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, clusterLockWait)
		defer cancel()
	}
	for _, k := range keys {
		key := lockPrefix + k
		rev, err := s.acquire(ctx, key)
		if err != nil {
			release()
			return nil, err
		}
		locks = append(locks, held{key, rev})
	}
	return release, nil
}

// acquire takes one lock: creates its key, or replaces an expired one.
func (s *Service) acquire(ctx context.Context, key string) (uint64, error) {
	owner := make([]byte, 8)
	rand.Read(owner)
	backoff := 2 * time.Millisecond
	for {
		now := s.now()
		raw, _ := json.Marshal(clusterLock{Owner: hex.EncodeToString(owner), Expires: now.Add(clusterLockLease).UnixMilli()})
		cur, rev, err := s.cat.Get(ctx, key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			rev = 0
		case err != nil:
			return 0, lockError(ctx, err)
		default:
			var l clusterLock
			if json.Unmarshal(cur, &l) == nil && now.UnixMilli() < l.Expires {
				rev = ^uint64(0) // held: wait
			}
		}
		if rev != ^uint64(0) {
			nrev, err := s.cat.Put(ctx, key, raw, rev)
			if err == nil {
				return nrev, nil
			}
			if !errors.Is(err, storage.ErrConflict) {
				return 0, lockError(ctx, err)
			}
		}
		t := time.NewTimer(backoff + time.Duration(mrand.Int64N(int64(backoff))))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, lockError(ctx, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func lockError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return awsproto.NewError("TransactionConflictException", "Transaction is ongoing for the item: the table's writes through another node did not finish in time")
	}
	return fmt.Errorf("taking a DynamoDB table lock: %w", err)
}

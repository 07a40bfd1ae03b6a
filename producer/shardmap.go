package producer

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/aggregation"
)

// listOpenShards returns the stream's open shards (no ending sequence
// number), sorted by starting hash key.
func (p *Producer) listOpenShards(ctx context.Context) ([]*shardQueue, error) {
	var out []*shardQueue
	in := &kinesis.ListShardsInput{}
	p.setStream(&in.StreamName, &in.StreamARN)
	for {
		page, err := p.client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("producer: listing shards: %w", err)
		}
		for _, s := range page.Shards {
			if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
				continue
			}
			if s.ShardId == nil || s.HashKeyRange == nil || s.HashKeyRange.StartingHashKey == nil || s.HashKeyRange.EndingHashKey == nil {
				continue
			}
			rng, err := aggregation.ParseHashRange(*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey)
			if err != nil {
				return nil, fmt.Errorf("producer: shard %s: %w", *s.ShardId, err)
			}
			out = append(out, &shardQueue{id: *s.ShardId, rng: rng})
		}
		if page.NextToken == nil || *page.NextToken == "" {
			break
		}
		// A NextToken request must not name the stream.
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rng.Start.Cmp(out[j].rng.Start) < 0 })
	return out, nil
}

// refreshShards reloads the shard map unless it was reloaded after since.
// Records queued for shards that are gone move to the shards that now own
// their hash keys, in order.
func (p *Producer) refreshShards(ctx context.Context, since time.Time) error {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	p.mu.Lock()
	fresh := p.mapLoaded.After(since)
	p.mu.Unlock()
	if fresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	shards, err := p.listOpenShards(ctx)
	p.metrics.shardMapRefreshes.Add(1)
	p.mu.Lock()
	p.refreshAttempt = time.Now()
	defer p.mu.Unlock()
	p.mapLoading = false
	if err != nil {
		p.opts.Logger.Warn("producer: shard map refresh failed", "stream", p.stream, "err", err)
		p.signal()
		return err
	}
	p.mapLoaded = time.Now()
	old := append(p.shards, p.fallback)
	byID := make(map[string]*shardQueue, len(shards))
	for i, s := range shards {
		if o := p.byID[s.id]; o != nil && o.rng == s.rng {
			shards[i] = o // keeps its queue, tokens and in-flight count
		} else {
			s.lim = newRateLimiter(p.recordRate(), p.byteRate(), time.Now())
		}
		byID[shards[i].id] = shards[i]
	}
	p.shards, p.byID = shards, byID
	// A queue covering hash keys of a replaced queue with calls in flight
	// waits for their answers: the records it inherits, and those of the
	// calls that fail and come back to it, are older than any it holds.
	for _, o := range old {
		if byID[o.id] == o || !o.busy() {
			continue
		}
		for _, s := range shards {
			if o == p.fallback || overlaps(o.rng, s.rng) {
				s.waitFor = append(append(s.waitFor, o), o.waitFor...)
			}
		}
	}
	for _, o := range old {
		if byID[o.id] == o {
			continue
		}
		recs := o.takeAll()
		for _, r := range recs {
			p.route(r.hk).pushBack(r)
		}
	}
	p.signal()
	return nil
}

// route returns the queue of the shard predicted to own hk: the open shard
// whose range holds it, or the fallback queue when no shard map is known.
func (p *Producer) route(hk aggregation.HashKey) *shardQueue {
	i := sort.Search(len(p.shards), func(i int) bool { return p.shards[i].rng.Start.Cmp(hk) > 0 }) - 1
	if i >= 0 && p.shards[i].rng.Contains(hk) {
		return p.shards[i]
	}
	return p.fallback
}

func overlaps(a, b aggregation.HashRange) bool {
	return a.Start.Cmp(b.End) <= 0 && b.Start.Cmp(a.End) <= 0
}

func (p *Producer) lastRefreshAttempt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshAttempt
}

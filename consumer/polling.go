package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// polling reads a shard with GetShardIterator and GetRecords, pausing
// IdleTimeBetweenReads between calls and backing off exponentially while
// the shard's read throughput is exceeded.
type polling struct {
	w        *Worker
	h        *heldLease
	initial  ExtendedSequenceNumber
	lastSeq  string // last Kinesis record returned
	iterator *string
	lastCall time.Time
	backoff  time.Duration
}

func (w *Worker) newPolling(h *heldLease, cp ExtendedSequenceNumber, after *ExtendedSequenceNumber) fetcher {
	p := &polling{w: w, h: h, initial: cp}
	if after != nil {
		p.lastSeq = after.SequenceNumber
	}
	return p
}

func (p *polling) close() {}

func (p *polling) next(ctx context.Context) (batch, error) {
	for {
		if p.iterator == nil {
			if err := p.getIterator(ctx); err != nil {
				return batch{}, err
			}
		}
		if wait := time.Until(p.lastCall.Add(p.w.cfg.IdleTimeBetweenReads)); wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return batch{}, err
			}
		}
		p.lastCall = time.Now()
		out, err := p.w.kc.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: p.iterator, Limit: aws.Int32(p.w.cfg.MaxRecords),
		})
		p.w.metrics.getRecordsCalls.Add(1)
		switch code := apiCode(err); {
		case err == nil:
		case code == "ProvisionedThroughputExceededException" || code == "LimitExceededException" || code == "KMSThrottlingException":
			p.w.metrics.throttles.Add(1)
			p.backoff = min(max(2*p.backoff, p.w.cfg.TaskBackoff), p.w.cfg.MaxBackoff)
			if err := sleep(ctx, p.backoff); err != nil {
				return batch{}, err
			}
			continue
		case code == "ExpiredIteratorException":
			p.iterator = nil
			continue
		default:
			return batch{}, fmt.Errorf("consumer: GetRecords on %s: %w", p.h.shardID, err)
		}
		p.backoff = 0
		b := batch{records: out.Records, fetched: time.Now(), millisBehind: aws.ToInt64(out.MillisBehindLatest)}
		if n := len(out.Records); n > 0 {
			p.lastSeq = aws.ToString(out.Records[n-1].SequenceNumber)
		}
		p.iterator = out.NextShardIterator
		if p.iterator == nil {
			b.shardEnd, b.children = true, out.ChildShards
		}
		return b, nil
	}
}

func (p *polling) getIterator(ctx context.Context) error {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(p.h.shardID)}
	setStream(p.h.stream.ref, &in.StreamName, &in.StreamARN)
	if p.lastSeq != "" {
		after := ExtendedSequenceNumber{SequenceNumber: p.lastSeq}
		in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp = p.w.startPosition(p.initial, &after)
	} else {
		in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp = p.w.startPosition(p.initial, nil)
	}
	out, err := p.w.kc.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("consumer: GetShardIterator on %s: %w", p.h.shardID, err)
	}
	p.iterator = out.ShardIterator
	return nil
}

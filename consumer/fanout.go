package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// registerConsumer registers (or finds) the enhanced fan-out consumer on s
// and waits until it is active.
func (w *Worker) registerConsumer(ctx context.Context, s *streamInfo) error {
	name := aws.String(w.cfg.ConsumerName)
	out, err := w.kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(s.arn), ConsumerName: name}, plainKinesis)
	switch {
	case err == nil:
		s.consumerARN = aws.ToString(out.Consumer.ConsumerARN)
		if out.Consumer.ConsumerStatus == types.ConsumerStatusActive {
			return nil
		}
	case apiCode(err) == "ResourceInUseException":
	default:
		return fmt.Errorf("consumer: registering stream consumer %s on %s: %w", w.cfg.ConsumerName, s.ref, err)
	}
	deadline := time.Now().Add(tableCreationMaxDuration)
	for {
		d, err := w.kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(s.arn), ConsumerName: name})
		if err != nil {
			return fmt.Errorf("consumer: describing stream consumer %s on %s: %w", w.cfg.ConsumerName, s.ref, err)
		}
		s.consumerARN = aws.ToString(d.ConsumerDescription.ConsumerARN)
		switch d.ConsumerDescription.ConsumerStatus {
		case types.ConsumerStatusActive:
			return nil
		case types.ConsumerStatusDeleting:
			return fmt.Errorf("consumer: stream consumer %s on %s is being deleted", w.cfg.ConsumerName, s.ref)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer: stream consumer %s on %s not active after %v", w.cfg.ConsumerName, s.ref, tableCreationMaxDuration)
		}
		if err := sleep(ctx, tableCreationPollPeriod); err != nil {
			return err
		}
	}
}

// fanOut reads a shard with SubscribeToShard, subscribing again when a
// subscription ends (every 5 minutes on AWS) from its continuation
// sequence number.
type fanOut struct {
	w            *Worker
	h            *heldLease
	initial      ExtendedSequenceNumber
	after        string // resume AT this sequence number (from a checkpoint)
	continuation string // resume AFTER this sequence number
	stream       *kinesis.SubscribeToShardEventStream
	backoff      time.Duration
}

func (w *Worker) newFanOut(h *heldLease, cp ExtendedSequenceNumber, after *ExtendedSequenceNumber) fetcher {
	f := &fanOut{w: w, h: h, initial: cp}
	if after != nil {
		f.after = after.SequenceNumber
	}
	return f
}

func (f *fanOut) close() {
	if f.stream != nil {
		f.stream.Close()
		f.stream = nil
	}
}

func (f *fanOut) subscribe(ctx context.Context) error {
	pos := &types.StartingPosition{}
	switch {
	case f.continuation != "":
		pos.Type, pos.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(f.continuation)
	case f.after != "":
		pos.Type, pos.SequenceNumber = types.ShardIteratorTypeAtSequenceNumber, aws.String(f.after)
	default:
		pos.Type, pos.SequenceNumber, pos.Timestamp = f.w.startPosition(f.initial, nil)
	}
	client := f.w.kc
	if kc, ok := client.(*kinesis.Client); ok {
		// smithy-go (v1.28) shares one event-stream decoder buffer among
		// the subscriptions of a client, which races when several are
		// open at once: each subscription gets a client of its own (same
		// options and HTTP client).
		client = kinesis.New(kc.Options())
	}
	out, err := client.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN: aws.String(f.h.stream.consumerARN), ShardId: aws.String(f.h.shardID), StartingPosition: pos,
	}, plainKinesis)
	if err != nil {
		return err
	}
	f.stream = out.GetStream()
	return nil
}

func (f *fanOut) next(ctx context.Context) (batch, error) {
	for {
		if f.stream == nil {
			err := f.subscribe(ctx)
			switch code := apiCode(err); {
			case err == nil:
			case code == "ResourceInUseException" || code == "LimitExceededException":
				// The previous owner's subscription is still open, or
				// subscriptions come too fast: wait and try again.
				f.w.metrics.throttles.Add(1)
				f.backoff = min(max(2*f.backoff, f.w.cfg.TaskBackoff), f.w.cfg.MaxBackoff)
				if err := sleep(ctx, f.backoff); err != nil {
					return batch{}, err
				}
				continue
			default:
				return batch{}, fmt.Errorf("consumer: SubscribeToShard on %s: %w", f.h.shardID, err)
			}
		}
		var ev types.SubscribeToShardEventStream
		var ok bool
		select {
		case ev, ok = <-f.stream.Events():
		case <-ctx.Done():
			return batch{}, ctx.Err()
		}
		if !ok {
			err := f.stream.Err()
			f.close()
			if err != nil {
				return batch{}, fmt.Errorf("consumer: subscription to %s: %w", f.h.shardID, err)
			}
			continue // the subscription ended; subscribe again
		}
		e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			continue
		}
		f.backoff = 0
		v := e.Value
		b := batch{records: v.Records, millisBehind: aws.ToInt64(v.MillisBehindLatest), fetched: time.Now()}
		if v.ContinuationSequenceNumber == nil {
			b.shardEnd, b.children = true, v.ChildShards
			f.close()
		} else {
			f.continuation = aws.ToString(v.ContinuationSequenceNumber)
		}
		return b, nil
	}
}

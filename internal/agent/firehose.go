package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/producer"
)

// firehoseAPI is the part of the Firehose API a firehose flow calls;
// *firehose.Client implements it.
type firehoseAPI interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

var _ firehoseAPI = (*firehose.Client)(nil)

// firehoseSender batches a flow's records into PutRecordBatch calls, one
// call at a time (so records keep their order unless a call fails some
// and accepts later ones), retrying failed records with backoff until
// they are written. Put blocks while maxBuffered bytes are unsent.
type firehoseSender struct {
	client      firehoseAPI
	stream      string
	maxRecords  int
	maxBytes    int
	maxAge      time.Duration
	maxBuffered int64
	backoff     [2]time.Duration
	log         *slog.Logger

	mu       sync.Mutex
	queue    []fhRecord
	buffered int64
	space    chan struct{} // closed when buffer space frees
	closing  bool
	wake     chan struct{}
	ctx      context.Context // ends when Close gives up
	cancel   context.CancelFunc
	done     chan struct{}
}

type fhRecord struct {
	data []byte
	cb   func(producer.Result)
	put  time.Time
}

func newFirehoseSender(client firehoseAPI, fl *Flow, maxBuffered int64, log *slog.Logger) *firehoseSender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &firehoseSender{client: client, stream: fl.DeliveryStream,
		maxRecords: fl.MaxBufferSizeRecords, maxBytes: fl.MaxBufferSizeBytes, maxAge: fl.MaxBufferAge,
		maxBuffered: maxBuffered, backoff: [2]time.Duration{fl.RetryInitialBackoff, fl.RetryMaxBackoff}, log: log,
		space: make(chan struct{}), wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go s.run()
	return s
}

// PutCallback queues a record; the partition key does not apply to
// Firehose.
func (s *firehoseSender) PutCallback(ctx context.Context, rec aggregation.Record, cb func(producer.Result)) error {
	size := int64(len(rec.Data))
	s.mu.Lock()
	for s.buffered > 0 && s.buffered+size > s.maxBuffered && !s.closing {
		ch := s.space
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	if s.closing {
		s.mu.Unlock()
		return producer.ErrClosed
	}
	s.queue = append(s.queue, fhRecord{rec.Data, cb, time.Now()})
	s.buffered += size
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// take returns the next batch once one is due: full, old enough, or the
// sender closing.
func (s *firehoseSender) take() ([]fhRecord, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, time.Hour
	}
	n, bytes := 0, 0
	for n < len(s.queue) && n < s.maxRecords && bytes+len(s.queue[n].data) <= s.maxBytes {
		bytes += len(s.queue[n].data)
		n++
	}
	n = max(n, 1)
	full := n == s.maxRecords || n < len(s.queue)
	if wait := s.maxAge - time.Since(s.queue[0].put); !full && !s.closing && wait > 0 {
		return nil, wait
	}
	batch := s.queue[:n:n]
	s.queue = s.queue[n:]
	return batch, 0
}

func (s *firehoseSender) release(batch []fhRecord) {
	s.mu.Lock()
	for _, r := range batch {
		s.buffered -= int64(len(r.data))
	}
	close(s.space)
	s.space = make(chan struct{})
	s.mu.Unlock()
}

func (s *firehoseSender) run() {
	defer close(s.done)
	for {
		batch, wait := s.take()
		if batch == nil {
			s.mu.Lock()
			closing := s.closing && len(s.queue) == 0
			s.mu.Unlock()
			if closing {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-s.wake:
			case <-t.C:
			case <-s.ctx.Done():
			}
			t.Stop()
			if s.ctx.Err() != nil {
				s.failQueued()
				return
			}
			continue
		}
		s.send(batch)
		s.release(batch)
	}
}

// send writes batch, retrying the records that fail until they are
// written or Close gives up.
func (s *firehoseSender) send(batch []fhRecord) {
	delay := s.backoff[0]
	for attempt := 1; len(batch) > 0; attempt++ {
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(s.stream)}
		for _, r := range batch {
			in.Records = append(in.Records, types.Record{Data: r.data})
		}
		out, err := s.client.PutRecordBatch(s.ctx, in)
		var failed []fhRecord
		switch {
		case err != nil:
			failed = batch
		case len(out.RequestResponses) != len(batch):
			err = fmt.Errorf("PutRecordBatch answered %d results for %d records", len(out.RequestResponses), len(batch))
			failed = batch
		default:
			for i, res := range out.RequestResponses {
				if res.ErrorCode != nil {
					failed = append(failed, batch[i])
					err = fmt.Errorf("%s: %s", aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage))
					continue
				}
				batch[i].cb(producer.Result{Attempts: attempt})
			}
		}
		if len(failed) == 0 {
			return
		}
		if s.ctx.Err() != nil {
			for _, r := range failed {
				r.cb(producer.Result{Attempts: attempt, Err: producer.ErrClosed})
			}
			return
		}
		s.log.Warn("firehose: records not written, retrying", "deliveryStream", s.stream, "records", len(failed), "err", err)
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
		t.Stop()
		delay = min(2*delay, s.backoff[1])
		batch = failed
	}
}

func (s *firehoseSender) failQueued() {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, r := range q {
		r.cb(producer.Result{Err: producer.ErrClosed})
	}
}

// Close sends what is queued and waits, until ctx ends; then the records
// left fail with producer.ErrClosed.
func (s *firehoseSender) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	close(s.space)
	s.space = make(chan struct{})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return errors.Join(ctx.Err(), errors.New("firehose: records left unsent"))
	}
}

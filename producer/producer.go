package producer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/aggregation"
)

// Client is the part of the Kinesis API the producer calls;
// *kinesis.Client implements it.
type Client interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

var _ Client = (*kinesis.Client)(nil)

// Producer writes user records to one stream in batches. Its methods are
// safe for concurrent use.
type Producer struct {
	client Client
	stream string
	opts   Options

	refreshMu  sync.Mutex
	refreshing bool // guarded by mu

	mu         sync.Mutex
	shards     []*shardQueue // open shards by starting hash key
	byID       map[string]*shardQueue
	fallback   *shardQueue
	mapLoading bool
	mapLoaded  time.Time
	// refreshAttempt is when the shard map was last listed, even in vain.
	refreshAttempt time.Time

	buffered int64         // bytes held
	records  int64         // records held
	space    chan struct{} // closed when space frees, if spaceWanted
	changed  chan struct{} // closed when a record ends, if changeWanted

	spaceWanted, changeWanted bool

	epoch       uint64
	flushEpoch  uint64 // records put in an earlier epoch are due now
	outstanding map[uint64]int

	inFlight  int
	closing   bool
	nextSweep time.Time

	wake   chan struct{}
	ctx    context.Context // ends when Close gives up
	cancel context.CancelFunc
	loop   sync.WaitGroup
	sends  sync.WaitGroup

	metrics metrics
}

// New returns a producer writing to stream (a name or an ARN). It loads
// the shard map in the background; Close releases it.
func New(client Client, stream string, opts Options) (*Producer, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if stream == "" {
		return nil, errors.New("producer: empty stream name")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		client: client, stream: stream, opts: opts,
		byID:        map[string]*shardQueue{},
		fallback:    &shardQueue{},
		mapLoading:  true,
		space:       make(chan struct{}),
		changed:     make(chan struct{}),
		outstanding: map[uint64]int{},
		wake:        make(chan struct{}, 1),
		ctx:         ctx, cancel: cancel,
	}
	p.metrics.init(stream)
	p.loop.Add(1)
	go p.run()
	p.startRefresh(time.Time{})
	return p, nil
}

func (p *Producer) setStream(name, arn **string) {
	s := p.stream
	if strings.HasPrefix(s, "arn:") {
		*arn = &s
	} else {
		*name = &s
	}
}

func (p *Producer) recordRate() float64 {
	return float64(p.opts.ShardRecordsPerSecond) * p.opts.RateLimitFactor
}

func (p *Producer) byteRate() float64 {
	return float64(p.opts.ShardBytesPerSecond) * p.opts.RateLimitFactor
}

// startRefresh reloads the shard map in the background unless a reload is
// running. Call without p.mu.
func (p *Producer) startRefresh(since time.Time) {
	p.mu.Lock()
	if p.refreshing {
		p.mu.Unlock()
		return
	}
	p.refreshing = true
	p.mu.Unlock()
	p.sends.Add(1)
	go func() {
		defer p.sends.Done()
		p.refreshShards(p.ctx, since)
		p.mu.Lock()
		p.refreshing = false
		p.mu.Unlock()
	}()
}

// Put queues a user record routed by the MD5 of partitionKey. data must
// not be modified until the result is known. Put blocks while the buffer
// is full, until space frees or ctx ends (see Options.FailWhenFull).
func (p *Producer) Put(ctx context.Context, partitionKey string, data []byte) (*Future, error) {
	return p.PutRecord(ctx, aggregation.Record{PartitionKey: partitionKey, Data: data})
}

// PutRecord is Put for a record that may carry an explicit hash key.
func (p *Producer) PutRecord(ctx context.Context, rec aggregation.Record) (*Future, error) {
	f := &Future{done: make(chan struct{})}
	if err := p.put(ctx, rec, f, nil); err != nil {
		return nil, err
	}
	return f, nil
}

// PutCallback is Put with the result delivered to cb (on a producer
// goroutine: cb must not block for long) instead of a Future.
func (p *Producer) PutCallback(ctx context.Context, rec aggregation.Record, cb func(Result)) error {
	return p.put(ctx, rec, nil, cb)
}

func (p *Producer) put(ctx context.Context, rec aggregation.Record, f *Future, cb func(Result)) error {
	if n := utf8.RuneCountInString(rec.PartitionKey); n < 1 || n > 256 {
		return fmt.Errorf("producer: partition key must be 1 to 256 characters, got %d", n)
	}
	hk, err := aggregation.EffectiveHashKey(rec.PartitionKey, rec.ExplicitHashKey)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	if n := len(rec.Data) + len(rec.PartitionKey); n > p.opts.MaxRecordSize {
		return fmt.Errorf("producer: record of %d bytes (data and partition key) exceeds MaxRecordSize %d", n, p.opts.MaxRecordSize)
	}
	r := &userRecord{pk: rec.PartitionKey, ehk: rec.ExplicitHashKey, hk: hk, data: rec.Data,
		size: int64(len(rec.Data) + len(rec.PartitionKey) + len(rec.ExplicitHashKey)), fut: f, cb: cb}
	p.mu.Lock()
	for {
		if p.closing {
			p.mu.Unlock()
			return ErrClosed
		}
		if p.buffered+r.size <= p.opts.MaxBufferedBytes {
			break
		}
		if p.opts.FailWhenFull {
			p.mu.Unlock()
			return ErrBufferFull
		}
		ch := p.space
		if !p.spaceWanted {
			p.spaceWanted = true
			p.signal() // queued records are due now
		}
		p.mu.Unlock()
		p.metrics.putBlocked.Add(1)
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
	r.arrived = time.Now()
	r.epoch = p.epoch
	p.outstanding[p.epoch]++
	p.buffered += r.size
	p.records++
	q := p.route(hk)
	first := q.len() == 0
	q.pushBack(r)
	if first || p.full(q) {
		p.signal()
	}
	p.mu.Unlock()
	p.metrics.userRecordsReceived.Add(1)
	return nil
}

// full reports whether q holds enough for a full batch, so it need not
// wait for the linger time.
func (p *Producer) full(q *shardQueue) bool {
	if q.bytes >= int64(min(p.opts.CollectionMaxSize, 256<<10)) {
		return true
	}
	return (p.opts.DisableAggregation || q.id == "") && q.len() >= p.opts.CollectionMaxCount
}

// signal wakes the dispatch loop. Call with p.mu held or not.
func (p *Producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush sends every record buffered before the call without waiting for
// the linger time, and waits until they all have a result or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.epoch
	p.epoch++
	p.flushEpoch = p.epoch
	p.signal()
	for {
		pending := false
		for e := range p.outstanding {
			if e <= target {
				pending = true
				break
			}
		}
		if !pending {
			p.mu.Unlock()
			return nil
		}
		ch := p.changed
		p.changeWanted = true
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
}

// Close stops accepting records, sends everything buffered and waits for
// every result. If ctx ends first, the records still queued fail with
// ErrClosed, requests in flight are cancelled, and Close returns ctx's
// error. Close returns when the producer's goroutines have ended.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	err := p.Flush(ctx)
	if err != nil {
		p.dropQueued()
	}
	p.cancel()
	p.sends.Wait()
	p.loop.Wait()
	// Records of requests cancelled above went back to their queues.
	p.dropQueued()
	return err
}

// dropQueued fails every queued record with ErrClosed.
func (p *Producer) dropQueued() {
	var dropped []completion
	p.mu.Lock()
	for _, q := range append(p.shards, p.fallback) {
		for _, r := range q.takeAll() {
			dropped = append(dropped, p.release(r, Result{Attempts: r.attempts, Err: ErrClosed}))
		}
	}
	p.mu.Unlock()
	deliver(dropped)
	p.metrics.userRecordsFailed.Add(uint64(len(dropped)))
}

// completion is a result to deliver outside p.mu.
type completion struct {
	r   *userRecord
	res Result
}

// release returns r's buffer space and accounts its end. Call with p.mu.
func (p *Producer) release(r *userRecord, res Result) completion {
	p.buffered -= r.size
	p.records--
	if p.outstanding[r.epoch]--; p.outstanding[r.epoch] <= 0 {
		delete(p.outstanding, r.epoch)
	}
	if p.spaceWanted {
		close(p.space)
		p.space, p.spaceWanted = make(chan struct{}), false
	}
	if p.changeWanted {
		close(p.changed)
		p.changed, p.changeWanted = make(chan struct{}), false
	}
	return completion{r, res}
}

func deliver(cs []completion) {
	for _, c := range cs {
		if c.r.fut != nil {
			c.r.fut.res = c.res
			close(c.r.fut.done)
		}
		if c.r.cb != nil {
			c.r.cb(c.res)
		}
	}
}

// expiredErr is the error of a record whose TTL passed.
func (p *Producer) expiredErr(r *userRecord) error {
	if r.lastErr != nil {
		return fmt.Errorf("%w within RecordTTL %v after %d attempts; last error: %v", ErrExpired, p.opts.RecordTTL, r.attempts, r.lastErr)
	}
	return fmt.Errorf("%w within RecordTTL %v after %d attempts", ErrExpired, p.opts.RecordTTL, r.attempts)
}

package firehose

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/firehose/httpendpoint"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/sink"
	"github.com/millrace/millrace/internal/storage"
)

// progress is how far a delivery stream's source has been delivered, as
// the catalog stores it.
type progress struct {
	// Next is the first Direct PUT log sequence number not yet delivered.
	Next uint64 `json:"next,omitempty"`
	// Shards are, for a Kinesis source, the sequence number of the last
	// delivered record of each shard.
	Shards map[string]string `json:"shards,omitempty"`
}

func progressKey(log uint32) string { return keyProgress + strconv.FormatUint(uint64(log), 10) }

// reader is a delivery stream's source.
type reader interface {
	// poll returns the records available now after those already
	// returned (none when there are none).
	poll(ctx context.Context) ([]sink.Record, error)
	// mark is the progress once everything polled so far is delivered.
	mark() progress
	// delivered is called after mark's progress is stored.
	delivered(ctx context.Context, p progress, last sink.Record)
}

func unitName(d *deliveryStream) string {
	return "firehose/" + d.Account + "/" + d.Region + "/" + d.Name
}

// startUnit (re)starts the delivery unit of a delivery stream.
func (s *Service) startUnit(d *deliveryStream) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	name := unitName(d)
	account, region, ds := d.Account, d.Region, d.Name
	u := s.opts.Runner.Go(name, func(ctx context.Context) { s.deliver(ctx, account, region, ds) })
	s.mu.Lock()
	s.units[name] = u
	s.mu.Unlock()
}

func (s *Service) stopUnit(d *deliveryStream) {
	name := unitName(d)
	s.mu.Lock()
	u := s.units[name]
	delete(s.units, name)
	s.mu.Unlock()
	if u != nil {
		u.Stop()
	}
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// activate ends CREATING after the create delay.
func (s *Service) activate(ctx context.Context, d *deliveryStream) (*deliveryStream, bool) {
	if wait := time.UnixMilli(d.CreatedAt).Add(s.opts.CreateDelay).Sub(s.now()); wait > 0 && !sleep(ctx, wait) {
		return nil, false
	}
	status := firehoseapi.DeliveryStreamStatusActive
	var failure *firehoseapi.FailureDescription
	if d.KinesisSource != nil {
		if _, err := s.sourceStream(awsproto.Value(d.KinesisSource.KinesisStreamARN)); err != nil {
			status = firehoseapi.DeliveryStreamStatusCreatingFailed
			failure = &firehoseapi.FailureDescription{Type: awsproto.Ptr(firehoseapi.DeliveryStreamFailureTypeUnknownError),
				Details: awsproto.Ptr(err.Error())}
		}
	}
	for ctx.Err() == nil {
		cur, rev, err := s.get(ctx, d.Account, d.Region, d.Name)
		if err != nil {
			return nil, false // deleted
		}
		if cur.Status != string(firehoseapi.DeliveryStreamStatusCreating) {
			return cur, true
		}
		cur.Status, cur.Failure = string(status), failure
		if _, err := s.put(ctx, cur, rev); err == nil {
			return cur, true
		} else if !errors.Is(err, storage.ErrConflict) {
			s.logger.Warn("activating a delivery stream", "stream", d.ARN, "err", err)
			if !sleep(ctx, time.Second) {
				return nil, false
			}
		}
	}
	return nil, false
}

// deliver is a delivery stream's unit: it runs until ctx is done.
func (s *Service) deliver(ctx context.Context, account, region, name string) {
	d, _, err := s.get(ctx, account, region, name)
	if err != nil {
		return
	}
	if d.Status == string(firehoseapi.DeliveryStreamStatusCreating) {
		if d, _ = s.activate(ctx, d); d == nil {
			return
		}
	}
	if d.Status != string(firehoseapi.DeliveryStreamStatusActive) {
		return
	}
	p, err := s.build(d)
	if err != nil {
		s.logger.Error("a delivery stream's destination cannot be built", "stream", d.ARN, "err", err)
		return
	}
	defer p.dest.Close()
	var prog progress
	for {
		b, _, err := s.cat.Get(ctx, progressKey(d.Log))
		if err == nil {
			err = json.Unmarshal(b, &prog)
		}
		if err == nil || errors.Is(err, storage.ErrNotFound) {
			break
		}
		s.logger.Warn("reading a delivery stream's progress", "stream", d.ARN, "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	var src reader
	if d.KinesisSource != nil {
		src = newKinesisReader(s, d, prog)
	} else {
		src = &logReader{s: s, key: d.logKey(), next: max(prog.Next, 1)}
	}
	e := &engine{s: s, d: d, p: p, src: src, wake: s.wakeChan(d.Log)}
	if p.dynamic {
		e.runPartitioned(ctx)
		return
	}
	e.run(ctx)
}

// engine buffers a delivery stream's records and delivers them.
type engine struct {
	s    *Service
	d    *deliveryStream
	p    *plan
	src  reader
	wake chan struct{}

	buf      []sink.Record
	bufBytes int
	// pending, when not nil, reports the outcome of the flush in flight:
	// one buffer is delivered while the next one fills, and a flush
	// starts only after the previous one stored its progress, so progress
	// is stored in order.
	pending chan bool
}

const idlePoll = time.Second

func (e *engine) run(ctx context.Context) {
	defer e.wait()
	for ctx.Err() == nil {
		recs, err := e.src.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.s.logger.Warn("reading a delivery stream's source", "stream", e.d.ARN, "err", err)
			sleep(ctx, idlePoll)
			continue
		}
		for _, r := range recs {
			e.buf = append(e.buf, r)
			e.bufBytes += len(r.Data)
		}
		full := e.bufBytes >= e.p.sizeBytes
		var due time.Duration
		if len(e.buf) > 0 {
			due = e.buf[0].Arrival.Add(e.p.interval).Sub(e.s.now())
		}
		if len(e.buf) > 0 && (full || due <= 0 || (len(recs) == 0 && e.p.interval == 0)) {
			if !e.wait() {
				return
			}
			recs, mark := e.buf, e.src.mark()
			// The next buffer is likely as long as this one: sized so,
			// appending does not copy it again and again as it grows.
			e.buf, e.bufBytes = make([]sink.Record, 0, len(recs)), 0
			done := make(chan bool, 1)
			e.pending = done
			go func() { done <- e.flush(ctx, recs, mark) }()
			continue
		}
		if len(recs) > 0 {
			continue // read on while records are there
		}
		wait := idlePoll
		if len(e.buf) > 0 && due < wait {
			wait = due
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-e.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// wait waits for the flush in flight, if any; false when it ended
// without storing its progress (ctx is done).
func (e *engine) wait() bool {
	if e.pending == nil {
		return true
	}
	ok := <-e.pending
	e.pending = nil
	return ok
}

// flush delivers records and stores mark as the progress; false when ctx
// ended first (the records are then delivered again by the next run).
func (e *engine) flush(ctx context.Context, recs []sink.Record, mark progress) bool {
	if e.p.backupAll != nil {
		b := &sink.Batch{ID: e.batchID(recs[0].ID, "backup"), Stream: e.d.Name, Version: e.d.Version, Records: recs, FirstArrival: recs[0].Arrival}
		if !e.retryForever(ctx, func() error { _, err := e.p.backupAll.Deliver(ctx, b); return err }) {
			return false
		}
	}
	out, failed, err := e.p.proc.run(ctx, recs)
	if err != nil {
		return false
	}
	if !e.writeFailed(ctx, failed) {
		return false
	}
	for _, b := range e.batches(out) {
		if !e.deliverBatch(ctx, b) {
			return false
		}
	}
	// Progress: stored before the buffer is dropped; a crash before this
	// write delivers the buffer again (at least once).
	if !e.storeProgress(ctx, mark) {
		return false
	}
	e.src.delivered(ctx, mark, recs[len(recs)-1])
	return true
}

// batches groups processed records into one batch per partition, in the
// order partitions first appear. Each batch's records are sized by a
// first counting pass: a 64 MiB buffer of 1 KiB records is 65,536 of
// them, and growing slices of them by appending copied each one several
// times.
func (e *engine) batches(out []procRecord) []*sink.Batch {
	var order []*sink.Batch
	groups := map[string]*sink.Batch{}
	sizes := map[string]int{}
	for _, r := range out {
		if _, ok := groups[r.partition]; !ok {
			b := &sink.Batch{ID: e.batchID(r.ID, r.partition), Stream: e.d.Name, Version: e.d.Version,
				PartitionKeys: r.keys, FirstArrival: r.Arrival}
			groups[r.partition] = b
			order = append(order, b)
		}
		sizes[r.partition]++
	}
	for _, r := range out {
		b := groups[r.partition]
		if b.Records == nil {
			b.Records = make([]sink.Record, 0, sizes[r.partition])
		}
		b.Records = append(b.Records, r.Record)
	}
	return order
}

// batchID is a batch's id: the same for the same records of the same
// delivery stream incarnation, so a batch delivered again after a crash
// gets the same S3 object name and HTTP request id.
func (e *engine) batchID(firstRecord, partition string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(e.d.ARN+"\x00"+strconv.FormatInt(e.d.CreatedAt, 10)+"\x00"+firstRecord+"\x00"+partition)).String()
}

// backoff is the n-th wait between attempts: base×2^n with ±15 % jitter,
// capped, as Firehose retries.
func (e *engine) backoff(n int) time.Duration {
	w := e.s.opts.RetryBase << min(n, 20)
	w = min(w, e.s.opts.RetryCap)
	return time.Duration(float64(w) * (0.85 + 0.3*rand.Float64()))
}

// retryForever runs fn until it succeeds or ctx ends.
func (e *engine) retryForever(ctx context.Context, fn func() error) bool {
	for n := 0; ; n++ {
		err := fn()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		e.s.logger.Warn("delivery stream write failed; retrying", "stream", e.d.ARN, "err", err)
		if !sleep(ctx, e.backoff(n)) {
			return false
		}
	}
}

// deliverBatch delivers one batch, retrying within the retry duration,
// then writes it to the error output.
func (e *engine) deliverBatch(ctx context.Context, b *sink.Batch) bool {
	start := e.s.now()
	c := e.s.counters(e.d)
	for n := 0; ; n++ {
		c.DeliveryAttempts.Add(1)
		res, err := e.p.dest.Deliver(ctx, b)
		if err == nil {
			c.delivered(b, e.s.now())
			if len(res.Rejected) > 0 {
				failed := make([]failedRecord, len(res.Rejected))
				for i, r := range res.Rejected {
					failed[i] = failedRecord{Record: b.Records[r.Index], code: r.Code, message: r.Message}
				}
				typ := e.p.errorType
				if typ == "" {
					typ = "format-conversion-failed"
				}
				return e.writeErrors(ctx, typ, failed, n+1)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if e.expired(b.FirstArrival) {
			e.drop(b.Records, err)
			return true
		}
		if httpendpoint.IsPermanent(err) {
			// Firehose drops a batch the endpoint refuses as too large,
			// without writing it to the error output.
			e.s.logger.Error("the destination refused a batch for good; it is dropped", "stream", e.d.ARN, "batch", b.ID, "err", err)
			return true
		}
		if e.s.now().Sub(start) >= e.p.retry {
			e.s.logger.Warn("a batch failed for its whole retry duration; writing it to the error output", "stream", e.d.ARN, "batch", b.ID, "err", err)
			typ, code := e.p.errorType, "S3.PutObject.Failed"
			if typ == "" {
				typ = "delivery-failed"
			} else {
				code = failureCode(err, e.p.failCode)
			}
			failed := make([]failedRecord, len(b.Records))
			for i, r := range b.Records {
				failed[i] = failedRecord{Record: r, code: code, message: err.Error()}
			}
			return e.writeErrors(ctx, typ, failed, n+1)
		}
		level := slog.LevelDebug
		if n == 0 || n%10 == 9 {
			level = slog.LevelWarn
		}
		e.s.logger.Log(ctx, level, "delivery failed; retrying", "stream", e.d.ARN, "batch", b.ID, "attempt", n+1, "err", err)
		if !sleep(ctx, min(e.backoff(n), max(e.p.retry-e.s.now().Sub(start), 0)+time.Millisecond)) {
			return false
		}
	}
}

// errorRecord is one line of an error output object.
type errorRecord struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"`
	ErrorCode              string `json:"errorCode"`
	ErrorMessage           string `json:"errorMessage"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                string `json:"rawData"`
	LambdaArn              string `json:"lambdaArn,omitempty"`
	SubsequenceNumber      *int   `json:"subsequenceNumber,omitempty"`
	DataID                 string `json:"dataId,omitempty"`
}

// writeErrors writes failed records as one object under the error
// output prefix, retrying until it is written.
func (e *engine) writeErrors(ctx context.Context, typ string, failed []failedRecord, attempts int) bool {
	now := e.s.now().UnixMilli()
	var body []byte
	for _, f := range failed {
		er := errorRecord{AttemptsMade: attempts, ArrivalTimestamp: f.Arrival.UnixMilli(), ErrorCode: f.code, ErrorMessage: f.message,
			AttemptEndingTimestamp: now, RawData: base64.StdEncoding.EncodeToString(f.Data), LambdaArn: f.lambdaARN}
		if typ == "http-endpoint-failed" {
			er.SubsequenceNumber, er.DataID = awsproto.Ptr(0), f.ID
		}
		line, _ := json.Marshal(er)
		body = append(append(body, line...), '\n')
	}
	id := e.batchID(failed[0].ID, "error:"+typ)
	for n := 0; ; n++ {
		_, err := e.p.errors.PutErrors(ctx, typ, e.d.Name, e.d.Version, failed[0].Arrival, id, body)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if e.expired(failed[0].Arrival) {
			recs := make([]sink.Record, len(failed))
			for i, f := range failed {
				recs[i] = f.Record
			}
			e.drop(recs, err)
			return true
		}
		e.s.logger.Warn("writing to the error output failed; retrying", "stream", e.d.ARN, "err", err)
		if !sleep(ctx, e.backoff(n)) {
			return false
		}
	}
}

// retention is how long Firehose keeps the records of a Direct PUT
// delivery stream that it cannot deliver (nor write to the error
// output); then they are dropped.
const retention = 24 * time.Hour

// expired tells whether records that arrived at first are past the
// retention of a Direct PUT delivery stream. A Kinesis source keeps its
// records for the stream's own retention, so they are retried on.
func (e *engine) expired(first time.Time) bool {
	return e.d.KinesisSource == nil && e.s.now().Sub(first) >= retention
}

// drop gives up records past the retention: counted and logged, then
// treated as delivered so that the delivery stream moves on.
func (e *engine) drop(recs []sink.Record, err error) {
	e.s.counters(e.d).ExpiredRecords.Add(int64(len(recs)))
	e.s.logger.Error("records could not be delivered for 24 hours; they are dropped", "stream", e.d.ARN,
		"records", len(recs), "oldestArrival", recs[0].Arrival, "err", err)
}

// logReader reads a Direct PUT delivery stream's log.
type logReader struct {
	s    *Service
	key  storage.ShardKey
	next uint64 // the next sequence number to read
}

const readBatchBytes = 4 << 20

func (r *logReader) poll(ctx context.Context) ([]sink.Record, error) {
	recs, err := r.s.log.Read(ctx, r.key, r.next, 10000, readBatchBytes)
	if err != nil {
		return nil, err
	}
	out := make([]sink.Record, len(recs))
	for i, rec := range recs {
		out[i] = sink.Record{ID: recordID(r.key.Shard, rec.Seq), Data: rec.Data, Arrival: time.UnixMilli(rec.Arrival)}
	}
	if len(recs) > 0 {
		r.next = recs[len(recs)-1].Seq + 1
	}
	return out, nil
}

func (r *logReader) mark() progress { return progress{Next: r.next} }

// delivered drops what is delivered from the log: every record that
// arrived before the last delivered one (records are trimmed by arrival
// time, so the last one's peers wait for the next trim).
func (r *logReader) delivered(ctx context.Context, _ progress, last sink.Record) {
	if err := r.s.log.Trim(ctx, r.key, last.Arrival.UnixMilli()); err != nil && ctx.Err() == nil {
		r.s.logger.Warn("trimming a delivery stream's log", "err", err)
	}
}

// noS3 is the S3 writer when no S3 endpoint is configured.
type noS3 struct{}

func (noS3) Put(context.Context, string, string, []byte) error {
	return errors.New("no S3 endpoint is configured (set --firehose-s3-endpoint)")
}

var _ s3.Putter = noS3{}

// failureCode is the error code of the records of a batch that failed for
// its whole retry duration: the destination's error's, else def, else the
// HTTP endpoint's.
func failureCode(err error, def string) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	if def != "" {
		return def
	}
	return "HttpEndpoint.DestinationException"
}

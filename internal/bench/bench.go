// Package bench is a load generator for any Kinesis Data Streams endpoint:
// it writes verifiable records with PutRecords (or PutRecord) from several
// workers, reads every shard back with GetRecords, checks that each
// acknowledged record came back intact exactly once, and reports
// throughput, latency percentiles, errors by code and, for a local server,
// its CPU time and memory.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Client modes.
const (
	ClientSDK = "sdk" // aws-sdk-go-v2
	ClientRaw = "raw" // pre-encoded bodies over lean HTTP/1.1 connections
)

// Operations the writers issue.
const (
	OpPutRecords = "put-records"
	OpPutRecord  = "put-record"
)

// Config is one benchmark run.
type Config struct {
	Endpoint                     string
	Region                       string
	AccessKeyID, SecretAccessKey string

	// Stream is an existing stream to use; "" creates one of Shards shards
	// (and deletes it afterwards unless Keep).
	Stream string
	Shards int
	Keep   bool

	Client  string // ClientSDK or ClientRaw
	Op      string // OpPutRecords or OpPutRecord
	Workers int
	Batch   int // records per PutRecords
	Size    int // bytes per record
	// Duration bounds the write phase; Records, when not 0, stops it after
	// that many records have been sent (whichever comes first; Duration 0
	// means no time bound).
	Duration time.Duration
	Records  int64
	// RateMBps, when not 0, paces the writers to offer this many MB/s (10^6
	// bytes of record data per second) in total.
	RateMBps float64
	// Burst, when above 1 (with RateMBps), releases the workers' calls
	// Burst at a time at the same instant: workers 0 to Burst-1 together,
	// the next Burst workers together later, the groups spread evenly over
	// each interval. The offered MB/s is the same as without it. 0 or 1
	// spreads every worker's calls evenly.
	Burst int

	// ReadBack reads every shard back and verifies the records.
	ReadBack bool
	// PID, when not 0, is a local server process whose CPU time and memory
	// are sampled from /proc.
	PID int

	// CPUProfile, when not nil, receives a CPU profile (pprof format) of
	// this process during the write phase: the load generator's own cost.
	CPUProfile io.Writer

	// Progress receives live progress; nil for none. TTY selects one
	// updating line instead of periodic lines.
	Progress io.Writer
	TTY      bool
}

// Defaults returns a configuration with every setting at its default.
func Defaults() Config {
	return Config{
		Endpoint: "http://127.0.0.1:4567", Region: "us-east-1",
		AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		Shards: 4, Client: ClientSDK, Op: OpPutRecords, Workers: 4, Batch: 500, Size: 1024,
		Duration: 10 * time.Second, ReadBack: true,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Endpoint == "":
		return errors.New("endpoint: must be set")
	case c.Client != ClientSDK && c.Client != ClientRaw:
		return fmt.Errorf("client: %q must be sdk or raw", c.Client)
	case c.Op != OpPutRecords && c.Op != OpPutRecord:
		return fmt.Errorf("op: %q must be put-records or put-record", c.Op)
	case c.Stream == "" && (c.Shards < 1 || c.Shards > 100000):
		return fmt.Errorf("shards: %d must be between 1 and 100000", c.Shards)
	case c.Workers < 1 || c.Workers > 4096:
		return fmt.Errorf("workers: %d must be between 1 and 4096", c.Workers)
	case c.Batch < 1 || c.Batch > 500:
		return fmt.Errorf("batch: %d must be between 1 and 500", c.Batch)
	case c.Size < MinRecordSize || c.Size > 1<<20:
		return fmt.Errorf("size: %d must be between %d and 1048576 bytes", c.Size, MinRecordSize)
	case c.Duration < 0, c.Records < 0, c.RateMBps < 0:
		return errors.New("duration, records and rate must not be negative")
	case c.Burst < 0 || c.Burst > c.Workers:
		return fmt.Errorf("burst: %d must be between 0 and workers (%d)", c.Burst, c.Workers)
	case c.Burst > 1 && c.RateMBps == 0:
		return fmt.Errorf("burst: %d needs a rate: without one every worker sends as soon as its last call is answered", c.Burst)
	case c.Burst > 1 && c.Workers%c.Burst != 0:
		return fmt.Errorf("burst: %d must divide workers (%d) into whole bursts", c.Burst, c.Workers)
	case c.Duration == 0 && c.Records == 0:
		return errors.New("duration or records must bound the run")
	}
	return nil
}

// workerState is one writer's reusable buffers.
type workerState struct {
	id         uint16
	slots      []slot
	raw        *rawBody
	conn       *rawConn // the raw client's connection, plain HTTP only
	sdkEntries []types.PutRecordsRequestEntry
	codes      []string
	shardIDs   []string
	names      map[string]string // interned shard ids
	perShard   map[string]*ShardCount
	sent       uint32 // records numbered so far
	acked      bitset
	latencies  []time.Duration
	// scheduled is, in burst mode, the instant each successful call (the
	// same index in latencies) was released at: its burst.
	scheduled []int64
	errors    map[string]int64
	putCalls  int64
}

// counters are read by the progress line while workers run.
type counters struct {
	records, bytes, calls, failures atomic.Int64
}

// Run runs the benchmark and returns its result. The result is returned
// also with an error when the write phase completed but something later
// (read-back, deleting the stream) failed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sdk := newSDKClient(&cfg)
	res := &Result{Config: summarize(&cfg), Errors: map[string]int64{}}

	stream := cfg.Stream
	if stream == "" {
		stream = fmt.Sprintf("millrace-bench-%d", time.Now().UnixNano())
		if err := createStream(ctx, sdk, stream, cfg.Shards); err != nil {
			return nil, err
		}
		if !cfg.Keep {
			defer func() {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				sdk.DeleteStream(dctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream), EnforceConsumerDeletion: aws.Bool(true)})
			}()
		}
	}
	res.Stream = stream
	shards, err := listShards(ctx, sdk, stream)
	if err != nil {
		return nil, err
	}
	res.Config.Shards = len(shards)
	// Reading starts where the stream ends now, so that records from
	// earlier runs on an existing stream are not read.
	iterators := make([]string, len(shards))
	if cfg.ReadBack {
		for i, id := range shards {
			out, err := sdk.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String(stream), ShardId: aws.String(id), ShardIteratorType: types.ShardIteratorTypeLatest,
			})
			if err != nil {
				return nil, fmt.Errorf("GetShardIterator %s: %w", id, err)
			}
			iterators[i] = aws.ToString(out.ShardIterator)
		}
	}

	var dc dataClient
	if cfg.Client == ClientRaw {
		dc = newRawClient(&cfg, stream)
	} else {
		dc = &sdkClient{c: sdk, stream: stream}
	}

	tag := uint16(time.Now().UnixNano()>>10) | 1
	workers := make([]*workerState, cfg.Workers)
	batch := cfg.Batch
	if cfg.Op == OpPutRecord {
		batch = 1
	}
	for i := range workers {
		rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(tag)))
		w := &workerState{id: uint16(i), errors: map[string]int64{}, names: map[string]string{}, perShard: map[string]*ShardCount{}}
		for range batch {
			w.slots = append(w.slots, newSlot(rng, cfg.Size))
		}
		if cfg.Client == ClientRaw {
			w.raw = buildRawBody(stream, w.slots, cfg.Op == OpPutRecord)
		}
		workers[i] = w
	}

	var proc *procSampler
	if cfg.PID != 0 {
		if proc, err = startProcSampler(cfg.PID); err != nil {
			return nil, err
		}
	}

	// The write phase.
	var cnt counters
	var (
		wctx   context.Context
		cancel context.CancelFunc
	)
	if cfg.Duration > 0 {
		wctx, cancel = context.WithTimeout(ctx, cfg.Duration)
	} else {
		wctx, cancel = context.WithCancel(ctx)
	}
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			cancel()
			if proc != nil {
				proc.stop()
			}
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	stopProgress := startProgress(&cfg, &cnt)
	elapsed := writePhase(wctx, ctx, &cfg, dc, workers, tag, &cnt, sleepUntil)
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	cancel()
	for _, w := range workers {
		if w.conn != nil {
			w.conn.close()
		}
	}
	stopProgress()
	if proc != nil {
		proc.sample()
	}
	res.Write = writeStats(workers, elapsed, cfg.Size, cfg.Burst)
	for _, w := range workers {
		for k, v := range w.errors {
			res.Errors[k] += v
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	if cfg.ReadBack {
		rb, err := readBack(ctx, &cfg, dc, workers, tag, shards, iterators, &cnt)
		res.Read = rb
		if err != nil {
			return res, err
		}
	}
	if proc != nil {
		res.Server = proc.stop()
	}
	return res, nil
}

// writePhase runs the workers until ctx ends or the record budget is
// spent and returns how long they ran. wait sleeps until a paced call's
// instant (false when ctx ends first).
func writePhase(ctx, callCtx context.Context, cfg *Config, dc dataClient, workers []*workerState, tag uint16, cnt *counters, wait waitFunc) time.Duration {
	var budget atomic.Int64
	budget.Store(cfg.Records)
	interval := callInterval(cfg, len(workers[0].slots))
	start := time.Now()
	var wg sync.WaitGroup
	for i, w := range workers {
		phase := start.Add(phaseOf(i, len(workers), cfg.Burst, interval))
		wg.Add(1)
		go func() {
			defer wg.Done()
			write(ctx, callCtx, cfg, dc, w, tag, cnt, &budget, interval, phase, wait)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// callInterval is the time between one worker's calls that offers
// cfg.RateMBps over all workers; 0 without a rate.
func callInterval(cfg *Config, batch int) time.Duration {
	if cfg.RateMBps <= 0 {
		return 0
	}
	perWorker := cfg.RateMBps * 1e6 / float64(cfg.Workers)
	return time.Duration(float64(batch*cfg.Size) / perWorker * float64(time.Second))
}

// phaseOf is how far into each interval worker i of n sends. Without
// bursts the workers' calls are spread evenly (worker i a fraction i/n
// into it), so the server sees a steady stream of calls at the offered
// rate, not every worker's call at the same instant; with bursts of b the
// workers go in groups of b, each group at one instant and the groups
// spread evenly.
func phaseOf(i, n, burst int, interval time.Duration) time.Duration {
	burst = max(burst, 1)
	return interval * time.Duration(i/burst) / time.Duration(n/burst)
}

// waitFunc sleeps until at, for worker; false when ctx ends first.
type waitFunc func(ctx context.Context, worker int, at time.Time) bool

func sleepUntil(ctx context.Context, _ int, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// write is one worker's loop. It starts calls while ctx lasts; calls run
// under callCtx, so that the end of the run does not cut off a call in
// flight (which would count as failed although the server may store it).
func write(ctx, callCtx context.Context, cfg *Config, dc dataClient, w *workerState, tag uint16, cnt *counters, budget *atomic.Int64, interval time.Duration, start time.Time, wait waitFunc) {
	n := len(w.slots)
	next := start
	for ctx.Err() == nil {
		if cfg.Records > 0 && budget.Add(-int64(n)) < 0 {
			return
		}
		if interval > 0 {
			next = next.Add(interval)
			if !wait(ctx, int(w.id), next) {
				return
			}
		}
		first := w.sent
		for i := range w.slots {
			w.slots[i].stamp(recordID(tag, w.id, first+uint32(i)))
		}
		w.sent += uint32(n)
		t0 := time.Now()
		var out putOutcome
		if cfg.Op == OpPutRecord {
			out = dc.putRecord(callCtx, w)
		} else {
			out = dc.putRecords(callCtx, w)
		}
		lat := time.Since(t0)
		if out.err != nil {
			if callCtx.Err() != nil {
				return
			}
			w.errors[errorCode(out.err)]++
			cnt.failures.Add(int64(n))
			continue
		}
		w.putCalls++
		w.latencies = append(w.latencies, lat)
		if cfg.Burst > 1 {
			w.scheduled = append(w.scheduled, next.UnixNano())
		}
		ok := 0
		for i, code := range out.codes {
			if code != "" {
				w.errors[code]++
				continue
			}
			w.acked.set(first + uint32(i))
			ok++
			if i < len(out.shards) {
				w.countStored(out.shards[i], cfg.Size, len(w.slots[i].pk))
			}
		}
		cnt.records.Add(int64(ok))
		cnt.bytes.Add(int64(ok * cfg.Size))
		cnt.calls.Add(1)
		cnt.failures.Add(int64(n - ok))
	}
}

// intern returns the worker's copy of a shard id, so that a response's ids
// are kept without a string per record.
func (w *workerState) intern(id string) string {
	if s, ok := w.names[id]; ok {
		return s
	}
	w.names[id] = id
	return id
}

// countStored adds a stored record to its shard's tally.
func (w *workerState) countStored(shard string, size, keyLen int) {
	c := w.perShard[shard]
	if c == nil {
		c = &ShardCount{}
		w.perShard[shard] = c
	}
	c.Records++
	c.Bytes += int64(size)
	c.KeyBytes += int64(keyLen)
}

// readRetries is how many failed GetRecords calls in a row the read-back
// retries before it gives up on a shard.
const readRetries = 5

// readBack reads every shard from the iterators taken before the write
// phase until it is caught up, and checks the records against what the
// workers sent.
func readBack(ctx context.Context, cfg *Config, dc dataClient, workers []*workerState, tag uint16, shards, iterators []string, cnt *counters) (*ReadStats, error) {
	type shardResult struct {
		records, bytes, calls int64
		keyBytes, retries     int64
		ids                   []uint64
		corrupt, foreign      int64
		err                   error
	}
	results := make([]shardResult, len(iterators))
	sem := make(chan struct{}, max(cfg.Workers, 1))
	cnt.records.Store(0)
	start := time.Now()
	var wg sync.WaitGroup
	for i, it := range iterators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &results[i]
			empty := 0
			failures := 0
			var scratch readScratch
			for it != "" && empty < 3 {
				recs, keyBytes, next, behind, err := dc.getRecords(ctx, it, 10000, &scratch)
				if err != nil {
					// The same iterator reads the same records again, so a
					// failed call (a throttle, a dropped connection) is
					// retried with backoff, a few times in a row at most.
					failures++
					if failures > readRetries || ctx.Err() != nil {
						r.err = fmt.Errorf("GetRecords: %w", err)
						return
					}
					r.retries++
					select {
					case <-time.After(time.Duration(50<<failures) * time.Millisecond):
					case <-ctx.Done():
					}
					continue
				}
				failures = 0
				r.calls++
				r.keyBytes += keyBytes
				for _, d := range recs {
					r.records++
					r.bytes += int64(len(d))
					id, ok := parseRecord(d)
					switch {
					case !ok:
						if len(d) >= 8 && uint16(id>>48) == tag {
							r.corrupt++
						} else {
							r.foreign++
						}
					case uint16(id>>48) != tag:
						r.foreign++
					default:
						r.ids = append(r.ids, id)
					}
				}
				cnt.records.Add(int64(len(recs)))
				it = next
				if len(recs) == 0 {
					if behind == 0 {
						empty++
					}
				} else {
					empty = 0
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	rs := &ReadStats{Seconds: elapsed.Seconds(), Shards: map[string]ShardCount{}}
	seen := make([]bitset, len(workers))
	var firstErr error
	for i := range results {
		r := &results[i]
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
		rs.Records += r.records
		rs.Bytes += r.bytes
		rs.KeyBytes += r.keyBytes
		if shards != nil {
			rs.Shards[shards[i]] = ShardCount{Records: r.records, Bytes: r.bytes, KeyBytes: r.keyBytes}
		}
		rs.Calls += r.calls
		rs.Retries += r.retries
		rs.Corrupt += r.corrupt
		rs.Foreign += r.foreign
		for _, id := range r.ids {
			w := int(uint16(id >> 32))
			n := uint32(id)
			if w >= len(workers) || n >= workers[w].sent {
				rs.Corrupt++
				continue
			}
			if seen[w].set(n) {
				rs.Duplicates++
			}
		}
	}
	for wi, w := range workers {
		for n := range w.sent {
			switch acked, got := w.acked.has(n), seen[wi].has(n); {
			case acked && !got:
				rs.Missing++
			case acked && got:
				rs.Verified++
			case !acked && got:
				rs.Unacknowledged++
			}
		}
	}
	if elapsed > 0 {
		rs.RecordsPerSec = float64(rs.Records) / elapsed.Seconds()
		rs.MBps = float64(rs.Bytes) / 1e6 / elapsed.Seconds()
	}
	if firstErr == nil && (rs.Missing > 0 || rs.Duplicates > 0 || rs.Corrupt > 0) {
		firstErr = fmt.Errorf("verification failed: %d missing, %d duplicated, %d corrupt records", rs.Missing, rs.Duplicates, rs.Corrupt)
	}
	return rs, firstErr
}

func createStream(ctx context.Context, c *kinesis.Client, name string, shards int) error {
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		return fmt.Errorf("CreateStream: %w", err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		if err != nil && !strings.Contains(errorCode(err), "ResourceNotFound") {
			return fmt.Errorf("DescribeStreamSummary: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream %s not ACTIVE after 5 minutes", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// listShards returns the stream's open shards, with ListShards or, where
// the endpoint lacks it, DescribeStream.
func listShards(ctx context.Context, c *kinesis.Client, name string) ([]string, error) {
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: aws.String(name)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			return describeShards(ctx, c, name)
		}
		for _, s := range out.Shards {
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				ids = append(ids, aws.ToString(s.ShardId))
			}
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func describeShards(ctx context.Context, c *kinesis.Client, name string) ([]string, error) {
	var ids []string
	in := &kinesis.DescribeStreamInput{StreamName: aws.String(name)}
	for {
		out, err := c.DescribeStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("DescribeStream: %w", err)
		}
		for _, s := range out.StreamDescription.Shards {
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				ids = append(ids, aws.ToString(s.ShardId))
			}
		}
		if !aws.ToBool(out.StreamDescription.HasMoreShards) || len(out.StreamDescription.Shards) == 0 {
			return ids, nil
		}
		last := out.StreamDescription.Shards[len(out.StreamDescription.Shards)-1].ShardId
		in = &kinesis.DescribeStreamInput{StreamName: aws.String(name), ExclusiveStartShardId: last}
	}
}

package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// env is a server with a stream and the clients of both APIs.
type env struct {
	t   *testing.T
	srv *servertest.Server
	kc  *kinesis.Client
	dc  *dynamodb.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := servertest.Start(t)
	dc := dynamodb.New(dynamodb.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 3,
		HTTPClient:       s.HTTPClient(),
	})
	// Workers retry on their own; the client retries transient failures
	// as the SDK does by default against AWS.
	kc := s.Kinesis(func(o *kinesis.Options) { o.RetryMaxAttempts = 3 })
	return &env{t: t, srv: s, kc: kc, dc: dc}
}

func (e *env) createStream(name string, shards int32) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		e.t.Fatal(err)
	}
	e.waitActive(name)
}

func (e *env) waitActive(name string) {
	e.t.Helper()
	e.eventually(30*time.Second, "stream "+name+" active", func() bool {
		out, err := e.kc.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	})
}

// put writes records "key/n" with partition key key, one PutRecord each,
// in order (so records of one key are in order in their shard).
func (e *env) put(stream string, keys []string, from, to int) {
	e.t.Helper()
	for n := from; n < to; n++ {
		var entries []types.PutRecordsRequestEntry
		for _, k := range keys {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: []byte(k + "/" + strconv.Itoa(n))})
		}
		e.putEntries(stream, entries)
	}
}

func (e *env) putEntries(stream string, entries []types.PutRecordsRequestEntry) {
	e.t.Helper()
	for len(entries) > 0 {
		out, err := e.kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			e.t.Fatal(err)
		}
		var retry []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, entries[i])
			}
		}
		if len(retry) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		entries = retry
	}
}

func (e *env) eventually(limit time.Duration, what string, cond func() bool) time.Duration {
	e.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			e.t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// fastConfig has short timings for tests.
func fastConfig(app string, streams ...string) Config {
	return Config{
		ApplicationName:           app,
		Streams:                   streams,
		InitialPosition:           StartTrimHorizon,
		FailoverTime:              time.Second,
		TakeInterval:              200 * time.Millisecond,
		MaxLeasesToStealAtOneTime: 2,
		ShardSyncInterval:         500 * time.Millisecond,
		ParentShardPollInterval:   100 * time.Millisecond,
		TaskBackoff:               50 * time.Millisecond,
		MaxBackoff:                500 * time.Millisecond,
		IdleTimeBetweenReads:      100 * time.Millisecond,
		ShutdownTimeout:           10 * time.Second,
		Logger:                    testLogger(),
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("CONSUMER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return nil
}

// sink records what processors saw, across workers.
type sink struct {
	mu        sync.Mutex
	count     map[string]int // data -> deliveries
	order     map[string]int // key -> highest n delivered in order
	gaps      []string       // out-of-order first deliveries
	byWorker  map[string]int // worker -> records
	shardEnds map[string]int // shard -> ShardEnded calls that checkpointed
	lost      map[string]int // worker -> LeaseLost calls
	inits     map[string][]InitializationInput
}

func newSink() *sink {
	return &sink{count: map[string]int{}, order: map[string]int{}, byWorker: map[string]int{},
		shardEnds: map[string]int{}, lost: map[string]int{}, inits: map[string][]InitializationInput{}}
}

func (s *sink) add(worker string, recs []Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		d := string(r.Data)
		s.count[d]++
		s.byWorker[worker]++
		k, ns, ok := strings.Cut(d, "/")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(ns)
		hi, seen := s.order[k]
		if !seen {
			hi = -1
		}
		switch {
		case n <= hi: // a replay of a record delivered before
		case n == hi+1:
			s.order[k] = n
		default:
			s.gaps = append(s.gaps, fmt.Sprintf("%s after %s/%d", d, k, hi))
			s.order[k] = n
		}
	}
}

func (s *sink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count)
}

func (s *sink) missing(keys []string, from, to int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range keys {
		for n := from; n < to; n++ {
			if d := k + "/" + strconv.Itoa(n); s.count[d] == 0 {
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (s *sink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, c := range s.count {
		d += c - 1
	}
	return d
}

// testProcessor checkpoints after every batch.
type testProcessor struct {
	s      *sink
	worker string
	shard  string
	// checkpointEvery: 0 after every batch; -1 never (but at shard end and
	// shutdown).
	noBatchCheckpoint bool
}

func (p *testProcessor) Initialize(ctx context.Context, in InitializationInput) {
	p.shard = in.ShardID
	p.s.mu.Lock()
	p.s.inits[in.ShardID] = append(p.s.inits[in.ShardID], in)
	p.s.mu.Unlock()
}

func (p *testProcessor) ProcessRecords(ctx context.Context, in ProcessRecordsInput) {
	p.s.add(p.worker, in.Records)
	if !p.noBatchCheckpoint && len(in.Records) > 0 {
		_ = in.Checkpointer.Checkpoint(ctx)
	}
}

func (p *testProcessor) LeaseLost(ctx context.Context, in LeaseLostInput) {
	p.s.mu.Lock()
	p.s.lost[p.worker]++
	p.s.mu.Unlock()
}

func (p *testProcessor) ShardEnded(ctx context.Context, in ShardEndedInput) {
	if err := in.Checkpointer.Checkpoint(ctx); err == nil {
		p.s.mu.Lock()
		p.s.shardEnds[p.shard]++
		p.s.mu.Unlock()
	}
}

func (p *testProcessor) ShutdownRequested(ctx context.Context, in ShutdownRequestedInput) {
	_ = in.Checkpointer.Checkpoint(ctx)
}

// startWorker starts a worker with id and registers its stop.
func (e *env) startWorker(cfg Config, id string, s *sink) *Worker {
	e.t.Helper()
	cfg.WorkerID = id
	w, err := New(cfg, e.kc, e.dc, func() RecordProcessor { return &testProcessor{s: s, worker: id} })
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.abort)
	return w
}

func shutdown(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// ownership returns the unfinished leases per owner ("" unowned).
func (e *env) ownership(w *Worker) map[string]int {
	e.t.Helper()
	leases, err := w.Leases(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range leases {
		if !l.Finished() {
			out[l.Owner]++
		}
	}
	return out
}

// balanced reports whether the unfinished leases are all owned by the
// given workers and their counts differ by at most one.
func balanced(own map[string]int, workers ...string) bool {
	total := 0
	for _, n := range own {
		total += n
	}
	lo, hi, sum := 1<<30, -1, 0
	for _, w := range workers {
		n := own[w]
		lo, hi, sum = min(lo, n), max(hi, n), sum+n
	}
	return sum == total && hi-lo <= 1
}

package kclvmware

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/logging"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	kcl "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/worker"
	"github.com/vmware/vmware-go-kcl-v2/logger"
)

const region = "us-east-1"

// step bounds every wait; generous, for a loaded 2-core machine. Nothing
// asserts how long a step takes.
const step = 3 * time.Minute

// TestKCLPolling: two workers reading by GetRecords.
func TestKCLPolling(t *testing.T) { runKCL(t, false) }

// TestKCLFanOut: two workers reading by SubscribeToShard (enhanced fan-out).
func TestKCLFanOut(t *testing.T) { runKCL(t, true) }

// runKCL: a stream of two shards and records put continuously; worker A
// (at most one lease) and worker B of one application share the shards;
// A shuts down and B takes its shard over; the stream goes from 2 to 4
// shards and B reads the parents to their end, then the children. Every
// record put is processed (at least once), no child shard is read before
// its parent is finished, and the SDK clients log no warning about
// response bodies or checksums.
func runKCL(t *testing.T, fanOut bool) {
	t.Parallel()
	srv := startServer(t)
	name := "kcl-polling"
	if fanOut {
		name = "kcl-fanout"
	}
	warn := &sdkWarnings{}
	tr := newTracker()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		notes := tr.notes
		if len(notes) > 60 {
			notes = notes[len(notes)-60:]
		}
		t.Logf("last %d KCL errors and warnings:\n%s", len(notes), strings.Join(notes, "\n"))
		var missing []string
		for id := range tr.puts {
			if tr.seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		t.Logf("%d of %d records put were never processed; first: %.10v", len(missing), len(tr.puts), missing)
		t.Logf("SDK warnings: %d; about bodies and checksums: %v", len(warn.msgs), warn.fatal())
	})
	kc := kinesisClient(srv.URL, warn.logger("kinesis"))
	ctx := t.Context()

	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	waitActive(t, kc, name)

	prodCtx, stopProducer := context.WithCancel(ctx)
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		produce(prodCtx, t, kc, name, tr)
	}()
	defer func() {
		stopProducer()
		<-prodDone
	}()

	a := startWorker(t, srv.URL, name, "worker-a", 1, fanOut, warn, tr)
	shardA := waitFor(t, "worker A to process records", func() (string, bool) {
		for shard := range tr.shardsOf("worker-a") {
			return shard, true
		}
		return "", false
	})
	b := startWorker(t, srv.URL, name, "worker-b", 100, fanOut, warn, tr)
	shardB := waitFor(t, "worker B to process records of the other shard", func() (string, bool) {
		for shard := range tr.shardsOf("worker-b") {
			if shard != shardA {
				return shard, true
			}
		}
		return "", false
	})
	t.Logf("worker A reads %s, worker B reads %s", shardA, shardB)

	// A leaves; B takes its shard over from A's checkpoint.
	left := tr.mark()
	a.shutdown(t)
	if !tr.hasEvent("worker-a", shardA, "shutdown REQUESTED") {
		t.Errorf("worker A's processor of %s got no REQUESTED shutdown", shardA)
	}
	waitFor(t, "worker B to take over "+shardA, func() (struct{}, bool) {
		return struct{}{}, tr.recordsAfter("worker-b", shardA, left)
	})

	// Reshard 2 -> 4 while records keep coming.
	if _, err := kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name),
		TargetShardCount: aws.Int32(4), ScalingType: ktypes.ScalingTypeUniformScaling}); err != nil {
		t.Fatalf("UpdateShardCount: %v", err)
	}
	// The four open children of the two closed parents.
	parentOf := waitFor(t, "four child shards", func() (map[string]string, bool) {
		out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("ListShards: %v", err)
		}
		children := map[string]string{}
		for _, s := range out.Shards {
			if s.ParentShardId != nil && s.SequenceNumberRange.EndingSequenceNumber == nil {
				children[*s.ShardId] = *s.ParentShardId
			}
		}
		return children, len(children) == 4
	})
	waitActive(t, kc, name)
	waitFor(t, "worker B to process records of every child shard", func() (struct{}, bool) {
		for child := range parentOf {
			if !tr.recordsAfter("worker-b", child, 0) {
				return struct{}{}, false
			}
		}
		return struct{}{}, true
	})
	stopProducer()
	<-prodDone
	put := tr.putCount()
	waitFor(t, "every record put to be processed", func() (struct{}, bool) {
		return struct{}{}, len(tr.missing()) == 0
	})
	b.shutdown(t)

	// Children after parents: each child's first records come after its
	// parent's processor checkpointed SHARD_END.
	for child, parent := range parentOf {
		end, ok := tr.eventSeq(parent, "shutdown TERMINATE checkpointed")
		first, _ := tr.firstRecords(child)
		switch {
		case !ok:
			t.Errorf("parent %s of %s never checkpointed SHARD_END", parent, child)
		case first < end:
			t.Errorf("child %s was processed (event %d) before its parent %s ended (event %d)", child, first, parent, end)
		}
	}
	for _, e := range tr.errors() {
		t.Errorf("record processor: %s", e)
	}
	dup := tr.duplicates()
	t.Logf("%d records put, all processed (%d more than once); SDK warnings: %d", put, dup, warn.count())
	for _, m := range warn.fatal() {
		t.Errorf("SDK warning: %s", m)
	}
}

// waitFor polls cond until it holds, failing the test after step.
func waitFor[T any](t *testing.T, what string, cond func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(step)
	for {
		if v, ok := cond(); ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting %v for %s", step, what)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitActive(t *testing.T, kc *kinesis.Client, name string) {
	t.Helper()
	waitFor(t, "stream "+name+" to be ACTIVE", func() (struct{}, bool) {
		out, err := kc.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary: %v", err)
		}
		return struct{}{}, out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive
	})
}

// produce puts records "rec-N" continuously, about 100 a second, until ctx
// ends; a record counts as put when PutRecords acknowledged it. Records
// that failed are sent again.
func produce(ctx context.Context, t *testing.T, kc *kinesis.Client, stream string, tr *tracker) {
	next := 0
	var retry []string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ids := retry
		retry = nil
		for len(ids) < 10 {
			ids = append(ids, fmt.Sprintf("rec-%06d", next))
			next++
		}
		entries := make([]ktypes.PutRecordsRequestEntry, len(ids))
		for i, id := range ids {
			entries[i] = ktypes.PutRecordsRequestEntry{Data: []byte(id), PartitionKey: aws.String("pk-" + id)}
		}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			if ctx.Err() == nil {
				tr.note(fmt.Sprintf("PutRecords: %v (retried)", err))
			}
			retry = ids
			continue
		}
		for i, r := range out.Records {
			if r.ErrorCode == nil {
				tr.put(ids[i])
			} else {
				retry = append(retry, ids[i])
			}
		}
	}
}

// kcWorker is a running vmware-go-kcl worker.
type kcWorker struct {
	id string
	w  *worker.Worker
}

func startWorker(t *testing.T, url, stream, id string, maxLeases int, fanOut bool, warn *sdkWarnings, tr *tracker) *kcWorker {
	t.Helper()
	cfg := config.NewKinesisClientLibConfigWithCredential(stream, stream, region, id, staticCreds()).
		WithInitialPositionInStream(config.TRIM_HORIZON).
		WithMaxLeasesForWorker(maxLeases).
		WithShardSyncIntervalMillis(1000).
		// Leases last 20 s and are renewed every 2.5 s (the default), so a
		// worker slowed by a loaded machine keeps its lease.
		WithFailoverTimeMillis(20000).
		WithIdleTimeBetweenReadsInMillis(250).
		WithLogger(&kclLogger{worker: id, tr: tr}).
		WithEnhancedFanOutConsumer(fanOut)
	cfg.ParentShardPollIntervalMillis = 1000
	cp := chk.NewDynamoCheckpoint(cfg).WithDynamoDB(dynamoDBClient(url, warn.logger("dynamodb")))
	w := worker.NewWorker(&factory{worker: id, tr: tr}, cfg).
		WithKinesis(kinesisClient(url, warn.logger("kinesis"))).
		WithCheckpointer(cp)
	errc := make(chan error, 1)
	go func() { errc <- w.Start() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("starting %s: %v", id, err)
		}
	case <-time.After(step):
		t.Fatalf("%s did not start within %v", id, step)
	}
	k := &kcWorker{id: id, w: w}
	t.Cleanup(func() { k.shutdown(t) })
	return k
}

// shutdown stops the worker, failing the test if it does not stop in time.
func (k *kcWorker) shutdown(t *testing.T) {
	if k.w == nil {
		return
	}
	w := k.w
	k.w = nil
	done := make(chan struct{})
	go func() {
		w.Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(step):
		t.Errorf("%s did not shut down within %v", k.id, step)
	}
}

func staticCreds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")
}

// httpClient waits at most 60 s for response headers (a SubscribeToShard
// body lasts minutes, so there is no overall timeout).
func httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}

func kinesisClient(url string, log logging.Logger) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  staticCreds(),
		HTTPClient:   httpClient(),
		Logger:       log,
	})
}

func dynamoDBClient(url string, log logging.Logger) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  staticCreds(),
		HTTPClient:   httpClient(),
		Logger:       log,
	})
}

// sdkWarnings collects what the SDK clients log at Warn level.
type sdkWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *sdkWarnings) logger(client string) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if c != logging.Warn {
			return
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, client+": "+fmt.Sprintf(format, v...))
		w.mu.Unlock()
	})
}

func (w *sdkWarnings) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// fatal returns the distinct warnings about response bodies and
// checksums, with how often each was logged.
func (w *sdkWarnings) fatal() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := map[string]int{}
	for _, m := range w.msgs {
		if strings.Contains(m, "response body") || strings.Contains(m, "checksum") {
			n[m]++
		}
	}
	var out []string
	for m, c := range n {
		out = append(out, fmt.Sprintf("%s (%d times)", m, c))
	}
	sort.Strings(out)
	return out
}

// tracker records what the workers' record processors saw, in one order.
type tracker struct {
	mu        sync.Mutex
	seq       int
	puts      map[string]bool
	seen      map[string]int
	shardRecs map[string]map[string][]int // worker -> shard -> event numbers of ProcessRecords calls with records
	events    map[string]map[string]int   // shard -> event -> first event number
	notes     []string
	errs      []string
}

func newTracker() *tracker {
	return &tracker{puts: map[string]bool{}, seen: map[string]int{}, shardRecs: map[string]map[string][]int{}, events: map[string]map[string]int{}}
}

func (tr *tracker) mark() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seq++
	return tr.seq
}

func (tr *tracker) put(id string) {
	tr.mu.Lock()
	tr.puts[id] = true
	tr.mu.Unlock()
}

func (tr *tracker) putCount() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.puts)
}

func (tr *tracker) note(s string) {
	tr.mu.Lock()
	if len(tr.notes) < 1000 {
		tr.notes = append(tr.notes, s)
	}
	tr.mu.Unlock()
}

func (tr *tracker) fail(s string) {
	tr.mu.Lock()
	tr.errs = append(tr.errs, s)
	tr.mu.Unlock()
}

func (tr *tracker) errors() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.errs...)
}

func (tr *tracker) event(worker, shard, what string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seq++
	key := worker + " " + what
	if tr.events[shard] == nil {
		tr.events[shard] = map[string]int{}
	}
	if _, ok := tr.events[shard][key]; !ok {
		tr.events[shard][key] = tr.seq
	}
	if _, ok := tr.events[shard][what]; !ok {
		tr.events[shard][what] = tr.seq
	}
}

func (tr *tracker) hasEvent(worker, shard, what string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	_, ok := tr.events[shard][worker+" "+what]
	return ok
}

func (tr *tracker) eventSeq(shard, what string) (int, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n, ok := tr.events[shard][what]
	return n, ok
}

func (tr *tracker) records(worker, shard string, ids []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seq++
	if tr.shardRecs[worker] == nil {
		tr.shardRecs[worker] = map[string][]int{}
	}
	tr.shardRecs[worker][shard] = append(tr.shardRecs[worker][shard], tr.seq)
	for _, id := range ids {
		tr.seen[id]++
	}
}

func (tr *tracker) shardsOf(worker string) map[string]bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string]bool{}
	for s := range tr.shardRecs[worker] {
		out[s] = true
	}
	return out
}

// recordsAfter reports whether worker processed records of shard after
// event number n.
func (tr *tracker) recordsAfter(worker, shard string, n int) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	recs := tr.shardRecs[worker][shard]
	return len(recs) > 0 && recs[len(recs)-1] > n
}

// firstRecords is the event number of the first records of shard, by any
// worker.
func (tr *tracker) firstRecords(shard string) (int, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	first, ok := 0, false
	for _, shards := range tr.shardRecs {
		if recs := shards[shard]; len(recs) > 0 && (!ok || recs[0] < first) {
			first, ok = recs[0], true
		}
	}
	return first, ok
}

func (tr *tracker) missing() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for id := range tr.puts {
		if tr.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (tr *tracker) duplicates() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, c := range tr.seen {
		n += c - 1
	}
	return n
}

// factory makes the record processors of one worker.
type factory struct {
	worker string
	tr     *tracker
}

func (f *factory) CreateProcessor() kcl.IRecordProcessor {
	return &processor{worker: f.worker, tr: f.tr}
}

// processor records what it is given and checkpoints after every batch,
// and at SHARD_END when its shard is closed.
type processor struct {
	worker, shard string
	tr            *tracker
}

func (p *processor) Initialize(in *kcl.InitializationInput) {
	p.shard = in.ShardId
	p.tr.event(p.worker, p.shard, "initialize")
}

func (p *processor) ProcessRecords(in *kcl.ProcessRecordsInput) {
	if len(in.Records) == 0 {
		return
	}
	ids := make([]string, len(in.Records))
	for i, r := range in.Records {
		ids[i] = string(r.Data)
	}
	p.tr.records(p.worker, p.shard, ids)
	last := in.Records[len(in.Records)-1].SequenceNumber
	if err := in.Checkpointer.Checkpoint(last); err != nil {
		p.tr.fail(fmt.Sprintf("%s: checkpoint of %s at %s: %v", p.worker, p.shard, aws.ToString(last), err))
	}
}

func (p *processor) Shutdown(in *kcl.ShutdownInput) {
	reason := aws.ToString(kcl.ShutdownReasonMessage(in.ShutdownReason))
	p.tr.event(p.worker, p.shard, "shutdown "+reason)
	if in.ShutdownReason == kcl.TERMINATE {
		if err := in.Checkpointer.Checkpoint(nil); err != nil {
			p.tr.fail(fmt.Sprintf("%s: SHARD_END checkpoint of %s: %v", p.worker, p.shard, err))
			return
		}
		p.tr.event(p.worker, p.shard, "shutdown TERMINATE checkpointed")
	}
}

// kclLogger keeps the library's errors and warnings as notes (debug and
// info are dropped).
type kclLogger struct {
	worker string
	tr     *tracker
}

func (l *kclLogger) Debugf(string, ...any) {}
func (l *kclLogger) Infof(string, ...any)  {}
func (l *kclLogger) Warnf(format string, args ...any) {
	l.tr.note(l.worker + " WARN " + fmt.Sprintf(format, args...))
}
func (l *kclLogger) Errorf(format string, args ...any) {
	l.tr.note(l.worker + " ERROR " + fmt.Sprintf(format, args...))
}
func (l *kclLogger) Fatalf(format string, args ...any) {
	l.tr.fail(l.worker + " FATAL " + fmt.Sprintf(format, args...))
}
func (l *kclLogger) Panicf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
func (l *kclLogger) WithFields(logger.Fields) logger.Logger { return l }

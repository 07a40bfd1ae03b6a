package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Worker consumes one or more streams with other workers of the same
// application, coordinating through the lease table. Start it with Start
// or Run; stop it with Shutdown (graceful) or by ending Run's context.
type Worker struct {
	cfg     Config
	kc      KinesisClient
	table   leaseTable
	factory ProcessorFactory
	log     *slog.Logger

	streams  []*streamInfo
	byIdent  map[string]*streamInfo // multi-stream identifier -> stream
	metrics  metrics
	takeNow  chan struct{}
	syncNow  chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	held     map[string]*heldLease
	observed map[string]observation
	started  bool
	stopping bool

	loopCtx     context.Context // taker and shard sync
	loopCancel  context.CancelFunc
	renewCtx    context.Context // renewer
	renewCancel context.CancelFunc
	procCtx     context.Context // processors and their writes
	procCancel  context.CancelFunc
	loops       sync.WaitGroup
	renewer     sync.WaitGroup
	shards      sync.WaitGroup
	done        chan struct{}
}

// streamInfo is a consumed stream.
type streamInfo struct {
	ref         string // as configured: name or ARN
	name, arn   string
	ident       string // account:name:creationEpoch
	consumerARN string // enhanced fan-out

	mu     sync.Mutex
	ranges map[string][2]string // shard id -> hash range, from the last sync
}

// heldLease is a lease this worker holds, with the counter it last wrote.
type heldLease struct {
	stream  *streamInfo
	shardID string

	mu          sync.Mutex
	lease       Lease
	lastRenewed time.Time
	lost        bool

	lostCh     chan struct{} // closed when the lease is lost
	shutdownCh chan struct{} // closed on a graceful shutdown
	fetchCtx   context.Context
	fetchStop  context.CancelFunc
}

// observation is the last counter seen of a lease and when (local clock)
// it was seen to change.
type observation struct {
	counter int64
	changed time.Time // zero: never seen to change (a new or unowned lease)
}

// New returns a worker. kc and dc are clients of Kinesis and DynamoDB
// (*kinesis.Client and *dynamodb.Client, for AWS or Millrace).
func New(cfg Config, kc KinesisClient, dc DynamoDBClient, factory ProcessorFactory) (*Worker, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if kc == nil || dc == nil || factory == nil {
		return nil, errors.New("consumer: New needs a Kinesis client, a DynamoDB client and a processor factory")
	}
	w := &Worker{
		cfg: cfg, kc: kc, table: leaseTable{client: dc, name: cfg.TableName}, factory: factory,
		log:      cfg.Logger.With("worker", cfg.WorkerID),
		byIdent:  map[string]*streamInfo{},
		held:     map[string]*heldLease{},
		observed: map[string]observation{},
		takeNow:  make(chan struct{}, 1),
		syncNow:  make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	w.metrics.init(cfg.ApplicationName, cfg.WorkerID)
	for _, s := range cfg.Streams {
		w.streams = append(w.streams, &streamInfo{ref: s})
	}
	return w, nil
}

// ID returns the worker's identifier in the lease table.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// Start creates the lease table if needed, describes the streams
// (registering the enhanced fan-out consumer), and starts the lease
// renewal, lease taking and shard sync in the background.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("consumer: worker already started")
	}
	w.started = true
	w.mu.Unlock()
	if err := w.table.ensure(ctx); err != nil {
		return err
	}
	for _, s := range w.streams {
		if err := w.describe(ctx, s); err != nil {
			return err
		}
		if w.cfg.Retrieval == FanOut {
			if err := w.registerConsumer(ctx, s); err != nil {
				return err
			}
		}
	}
	w.loopCtx, w.loopCancel = context.WithCancel(context.Background())
	w.renewCtx, w.renewCancel = context.WithCancel(context.Background())
	w.procCtx, w.procCancel = context.WithCancel(context.Background())
	if err := w.syncShards(ctx); err != nil {
		w.log.Warn("shard sync failed", "err", err)
	}
	w.loops.Add(2)
	go w.takeLoop()
	go w.syncLoop()
	w.renewer.Add(1)
	go w.renewLoop()
	return nil
}

// Run starts the worker and runs it until ctx ends, then shuts it down
// gracefully (within Config.ShutdownTimeout).
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), w.cfg.ShutdownTimeout)
	defer cancel()
	return w.Shutdown(sctx)
}

// Shutdown stops the worker gracefully: it stops taking leases, calls
// ShutdownRequested on every processor while its lease is still held (so
// it can checkpoint), releases the leases, and returns once every
// processor is done. If ctx ends first, the remaining processors are
// abandoned (their leases expire) and ctx's error is returned.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	if !w.started || w.loopCancel == nil {
		w.mu.Unlock()
		return errors.New("consumer: worker not started")
	}
	w.stopping = true
	held := make([]*heldLease, 0, len(w.held))
	for _, h := range w.held {
		held = append(held, h)
	}
	w.mu.Unlock()
	w.loopCancel()
	w.loops.Wait()
	for _, h := range held {
		h.requestShutdown()
	}
	finished := make(chan struct{})
	go func() { w.shards.Wait(); close(finished) }()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = fmt.Errorf("consumer: shutdown: %w", ctx.Err())
	}
	w.stop()
	return err
}

// Done is closed when the worker has stopped.
func (w *Worker) Done() <-chan struct{} { return w.done }

// abort stops every goroutine without releasing leases or calling the
// processors again, as if the process had died.
func (w *Worker) abort() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	if w.loopCancel != nil {
		w.loopCancel()
		w.renewCancel()
		w.procCancel()
	}
	w.stop()
}

func (w *Worker) stop() {
	w.stopOnce.Do(func() {
		w.procCancel()
		w.loops.Wait()
		w.shards.Wait()
		w.renewCancel()
		w.renewer.Wait()
		w.mu.Lock()
		w.held = map[string]*heldLease{}
		w.mu.Unlock()
		close(w.done)
	})
}

// Leases returns the lease table as it is now.
func (w *Worker) Leases(ctx context.Context) ([]Lease, error) {
	ls, err := w.table.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Lease, len(ls))
	for i, l := range ls {
		out[i] = *l
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// HeldLeases returns the keys of the leases this worker holds.
func (w *Worker) HeldLeases() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, 0, len(w.held))
	for k, h := range w.held {
		if !h.isLost() {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// describe fills the stream's name, ARN and multi-stream identifier.
func (w *Worker) describe(ctx context.Context, s *streamInfo) error {
	in := &kinesis.DescribeStreamSummaryInput{}
	setStream(s.ref, &in.StreamName, &in.StreamARN)
	out, err := w.kc.DescribeStreamSummary(ctx, in)
	if err != nil {
		return fmt.Errorf("consumer: describing stream %s: %w", s.ref, err)
	}
	d := out.StreamDescriptionSummary
	s.name, s.arn = aws.ToString(d.StreamName), aws.ToString(d.StreamARN)
	account := ""
	if parts := strings.Split(s.arn, ":"); len(parts) >= 6 {
		account = parts[4]
	}
	var epoch int64
	if d.StreamCreationTimestamp != nil {
		epoch = d.StreamCreationTimestamp.Unix()
	}
	s.ident = account + ":" + s.name + ":" + strconv.FormatInt(epoch, 10)
	w.byIdent[s.ident] = s
	return nil
}

// setStream puts ref in the ARN field when it is an ARN, else in the name.
func setStream(ref string, name, arn **string) {
	if strings.HasPrefix(ref, "arn:") {
		*arn = aws.String(ref)
	} else {
		*name = aws.String(ref)
	}
}

// leaseKey is the lease key of a shard of s.
func (w *Worker) leaseKey(s *streamInfo, shardID string) string {
	if w.cfg.multiStream() {
		return s.ident + ":" + shardID
	}
	return shardID
}

// leaseStream returns the stream and shard of a lease, or nil for a lease
// of a stream this worker does not consume.
func (w *Worker) leaseStream(l *Lease) (*streamInfo, string) {
	if !w.cfg.multiStream() {
		if l.StreamName != "" {
			return nil, ""
		}
		return w.streams[0], l.Key
	}
	ident, shard := l.StreamName, l.ShardID
	if ident == "" {
		i := strings.LastIndex(l.Key, ":")
		if i < 0 {
			return nil, ""
		}
		ident, shard = l.Key[:i], l.Key[i+1:]
	}
	s := w.byIdent[ident]
	if s == nil {
		return nil, ""
	}
	return s, shard
}

func (h *heldLease) isLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// markLost records the loss; h.mu must be held.
func (h *heldLease) markLostLocked() {
	if !h.lost {
		h.lost = true
		close(h.lostCh)
		h.fetchStop()
	}
}

func (h *heldLease) requestShutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.shutdownCh:
	default:
		close(h.shutdownCh)
		h.fetchStop()
	}
}

// writeCheckpoint records a checkpoint in h's lease.
func (w *Worker) writeCheckpoint(ctx context.Context, h *heldLease, cp ExtendedSequenceNumber, pending *ExtendedSequenceNumber, state []byte, children []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return fmt.Errorf("%w: %s", ErrLeaseLost, h.lease.Key)
	}
	start := time.Now()
	err := w.table.checkpoint(ctx, h.lease.Key, h.lease.Counter, cp, pending, state, children)
	if errors.Is(err, ErrLeaseLost) {
		h.markLostLocked()
		w.metrics.leasesLost.Add(1)
	}
	if err != nil {
		return err
	}
	h.lease.Counter++
	h.lease.Checkpoint = cp
	h.lease.PendingCheckpoint, h.lease.PendingCheckpointState = pending, state
	h.lease.OwnerSwitchesSinceCheckpoint = 0
	if len(children) > 0 {
		h.lease.ChildShardIDs = children
	}
	h.lastRenewed = start
	w.metrics.checkpoints.Add(1)
	return nil
}

func (w *Worker) writePending(ctx context.Context, h *heldLease, pos ExtendedSequenceNumber, state []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return fmt.Errorf("%w: %s", ErrLeaseLost, h.lease.Key)
	}
	start := time.Now()
	err := w.table.pending(ctx, h.lease.Key, h.lease.Counter, pos, state)
	if errors.Is(err, ErrLeaseLost) {
		h.markLostLocked()
		w.metrics.leasesLost.Add(1)
	}
	if err != nil {
		return err
	}
	h.lease.Counter++
	p := pos
	h.lease.PendingCheckpoint, h.lease.PendingCheckpointState = &p, state
	h.lastRenewed = start
	return nil
}

// renewLoop renews the held leases every RenewInterval.
func (w *Worker) renewLoop() {
	defer w.renewer.Done()
	t := time.NewTicker(w.cfg.RenewInterval)
	defer t.Stop()
	sem := make(chan struct{}, 20)
	for {
		select {
		case <-w.renewCtx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		held := make([]*heldLease, 0, len(w.held))
		for _, h := range w.held {
			held = append(held, h)
		}
		w.mu.Unlock()
		var wg sync.WaitGroup
		for _, h := range held {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				w.renew(h)
			}()
		}
		wg.Wait()
	}
}

func (w *Worker) renew(h *heldLease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return
	}
	start := time.Now()
	if start.Sub(h.lastRenewed) > w.cfg.FailoverTime {
		w.log.Warn("lease expired locally: not renewed within the failover time", "lease", h.lease.Key)
		h.markLostLocked()
		w.metrics.leasesLost.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(w.renewCtx, w.cfg.FailoverTime)
	defer cancel()
	err := w.table.renew(ctx, h.lease.Key, h.lease.Counter)
	switch {
	case err == nil:
		h.lease.Counter++
		h.lastRenewed = start
	case errors.Is(err, ErrLeaseLost):
		w.log.Info("lease lost", "lease", h.lease.Key)
		h.markLostLocked()
		w.metrics.leasesLost.Add(1)
	case w.renewCtx.Err() == nil:
		w.log.Warn("renewing a lease failed", "lease", h.lease.Key, "err", err)
	}
}

// takeLoop scans the lease table every TakeInterval, takes expired leases
// and steals for balance, and deletes finished leases.
func (w *Worker) takeLoop() {
	defer w.loops.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-w.loopCtx.Done():
			return
		case <-t.C:
		case <-w.takeNow:
			t.Stop()
		}
		if err := w.takeLeases(w.loopCtx); err != nil && w.loopCtx.Err() == nil {
			w.log.Warn("taking leases failed", "err", err)
		}
		t.Reset(w.cfg.TakeInterval)
	}
}

func (w *Worker) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (w *Worker) takeLeases(ctx context.Context) error {
	leases, err := w.table.list(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	me := w.cfg.WorkerID

	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return nil
	}
	present := make(map[string]bool, len(leases))
	for _, l := range leases {
		present[l.Key] = true
		o, ok := w.observed[l.Key]
		switch {
		case !ok && l.Owner == "":
			o = observation{counter: l.Counter}
		case !ok || o.counter != l.Counter:
			o = observation{counter: l.Counter, changed: now}
		}
		w.observed[l.Key] = o
	}
	for k := range w.observed {
		if !present[k] {
			delete(w.observed, k)
		}
	}
	expired := func(l *Lease, mult time.Duration) bool {
		o := w.observed[l.Key]
		return l.Owner == "" || o.changed.IsZero() || now.Sub(o.changed) > mult*w.cfg.FailoverTime
	}
	held := make(map[string]bool, len(w.held))
	for k, h := range w.held {
		if !h.isLost() {
			held[k] = true
		}
	}
	w.mu.Unlock()

	byKey := make(map[string]*Lease, len(leases))
	counts := map[string]int{me: len(held)}
	var active, available []*Lease
	for _, l := range leases {
		byKey[l.Key] = l
		if s, _ := w.leaseStream(l); s == nil || l.Finished() {
			continue
		}
		active = append(active, l)
		switch {
		case held[l.Key]:
		case l.Owner == me || expired(l, 1):
			available = append(available, l)
		default:
			counts[l.Owner]++
		}
	}
	if !w.cfg.KeepFinishedLeases {
		w.cleanup(ctx, leases, byKey)
	}
	w.metrics.setLeaseCounts(len(active), counts)

	target := 1
	if len(counts) < len(active) {
		target = (len(active) + len(counts) - 1) / len(counts)
	}
	if target > w.cfg.MaxLeasesForWorker {
		target = w.cfg.MaxLeasesForWorker
	}
	needed := target - len(held)
	if needed <= 0 {
		return nil
	}
	var toTake []*Lease
	if len(available) > 0 {
		rand.Shuffle(len(available), func(i, j int) { available[i], available[j] = available[j], available[i] })
		// Leases not renewed for three lease periods, and new ones, first.
		sort.SliceStable(available, func(i, j int) bool {
			return expired(available[i], 3) && !expired(available[j], 3)
		})
		toTake = available[:min(needed, len(available))]
	} else {
		toTake = w.chooseSteal(active, counts, held, target, needed)
	}
	for _, l := range toTake {
		stolen := l.Owner != "" && l.Owner != me && !expired(l, 1)
		if err := w.table.take(ctx, l, me); err != nil {
			if !errors.Is(err, ErrLeaseLost) {
				return err
			}
			continue // another worker won
		}
		if stolen {
			w.metrics.leasesStolen.Add(1)
			w.log.Info("lease stolen", "lease", l.Key, "from", l.Owner)
		} else {
			w.log.Info("lease taken", "lease", l.Key, "previous", l.Owner)
		}
		w.metrics.leasesTaken.Add(1)
		taken := *l
		taken.Counter++
		if l.Owner != "" && l.Owner != me {
			taken.OwnerSwitchesSinceCheckpoint++
		}
		taken.Owner = me
		taken.CheckpointOwner = ""
		w.startShard(&taken, now)
	}
	return nil
}

// chooseSteal picks leases of the most loaded worker, as the KCL does.
func (w *Worker) chooseSteal(active []*Lease, counts map[string]int, held map[string]bool, target, needed int) []*Lease {
	most, mostCount := "", 0
	for owner, n := range counts {
		if owner != w.cfg.WorkerID && (n > mostCount || n == mostCount && owner < most) {
			most, mostCount = owner, n
		}
	}
	n := 0
	switch {
	case mostCount > target:
		n = min(needed, mostCount-target, w.cfg.MaxLeasesToStealAtOneTime)
	case mostCount == target && needed > 1:
		n = 1
	}
	if n == 0 {
		return nil
	}
	var theirs []*Lease
	for _, l := range active {
		if l.Owner == most && !held[l.Key] {
			theirs = append(theirs, l)
		}
	}
	rand.Shuffle(len(theirs), func(i, j int) { theirs[i], theirs[j] = theirs[j], theirs[i] })
	return theirs[:min(n, len(theirs))]
}

// cleanup deletes the leases of ended shards whose children have all
// checkpointed.
func (w *Worker) cleanup(ctx context.Context, leases []*Lease, byKey map[string]*Lease) {
	for _, l := range leases {
		s, _ := w.leaseStream(l)
		if s == nil || !l.Finished() || len(l.ChildShardIDs) == 0 {
			continue
		}
		ready := true
		for _, c := range l.ChildShardIDs {
			child := byKey[w.leaseKey(s, c)]
			if child != nil && (child.Checkpoint.SequenceNumber == TrimHorizon || child.Checkpoint.SequenceNumber == Latest || child.Checkpoint.SequenceNumber == AtTimestamp) {
				ready = false
				break
			}
		}
		if !ready {
			continue
		}
		if err := w.table.remove(ctx, l.Key); err != nil {
			w.log.Warn("deleting a finished lease failed", "lease", l.Key, "err", err)
			continue
		}
		w.log.Info("finished lease deleted", "lease", l.Key)
	}
}

// startShard records l as held and starts its processing.
func (w *Worker) startShard(l *Lease, now time.Time) {
	s, shardID := w.leaseStream(l)
	fctx, fstop := context.WithCancel(w.procCtx)
	h := &heldLease{
		stream: s, shardID: shardID, lease: *l, lastRenewed: now,
		lostCh: make(chan struct{}), shutdownCh: make(chan struct{}),
		fetchCtx: fctx, fetchStop: fstop,
	}
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		fstop()
		return
	}
	if old := w.held[l.Key]; old != nil && !old.isLost() {
		w.mu.Unlock()
		fstop()
		return
	}
	w.held[l.Key] = h
	w.shards.Add(1)
	w.mu.Unlock()
	go w.runShard(h)
}

// release gives up a held lease after its processor is done.
func (w *Worker) release(h *heldLease) {
	w.mu.Lock()
	if w.held[h.lease.Key] == h {
		delete(w.held, h.lease.Key)
	}
	w.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return
	}
	h.markLostLocked()
	ctx, cancel := context.WithTimeout(w.renewCtx, w.cfg.FailoverTime)
	defer cancel()
	if err := w.table.evict(ctx, h.lease.Key, w.cfg.WorkerID, h.lease.Counter); err != nil && !errors.Is(err, ErrLeaseLost) {
		w.log.Warn("releasing a lease failed", "lease", h.lease.Key, "err", err)
	}
}

// forget drops a lost lease from the held set.
func (w *Worker) forget(h *heldLease) {
	w.mu.Lock()
	if w.held[h.lease.Key] == h {
		delete(w.held, h.lease.Key)
	}
	w.mu.Unlock()
}

package analytics

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// Output sends an in-application stream's rows to a Millrace stream, a
// Firehose delivery stream or a Lambda function.
type Output struct {
	// Name is the in-application stream (the INSERT INTO target); "" takes
	// the rows of a bare SELECT. ErrorStreamName takes rejected records.
	Name string `json:"name"`
	// Kind is OutputStream (Stream), OutputFirehose or OutputLambda (ARN).
	Kind   string            `json:"kind,omitempty"`
	Stream streams.StreamRef `json:"stream"`
	ARN    string            `json:"arn,omitempty"`
	// Format is JSON (an object of the columns) or CSV (one line).
	Format string `json:"format"`
}

// ErrorStreamName is KDA's in-application stream of rejected records.
const ErrorStreamName = "error_stream"

// Application is a continuous SQL application over one source stream.
type Application struct {
	Name string `json:"name"`
	// ARN is the application's; Role is its ServiceExecutionRole, which
	// it writes Firehose and Lambda outputs as when Runtime.Roles is set.
	ARN    string            `json:"arn,omitempty"`
	Role   string            `json:"role,omitempty"`
	Source streams.StreamRef `json:"source"`
	// StartPosition is where a first start reads from: TRIM_HORIZON or
	// NOW (LATEST). Later starts resume from the checkpoint.
	StartPosition string   `json:"startPosition"`
	Config        Config   `json:"config"`
	Outputs       []Output `json:"outputs"`
	// CheckpointInterval is the longest time between checkpoints; a
	// window that closes is checkpointed at once.
	CheckpointInterval time.Duration `json:"checkpointInterval"`
	// References are read into Config.Tables each time the application
	// starts.
	References []Reference `json:"references,omitempty"`
}

// Runtime is what a running application uses.
type Runtime struct {
	Streams *streams.Streams
	Catalog storage.Catalog
	Logger  *slog.Logger
	// Objects reads the application's reference data sources.
	Objects ObjectReader
	Now     func() time.Time
	// PollInterval is the pause when every shard is read to its end.
	PollInterval time.Duration
	// DeliveryStreams and Functions take the records of Firehose and
	// Lambda outputs.
	DeliveryStreams DeliveryStreams
	Functions       Functions
	// Roles, when set, is how the application acts as its role.
	Roles awsproto.RoleAssumer
	// afterCheckpoint, in tests, runs between a checkpoint that holds
	// outputs and the writing of them; an error stops the run there, as
	// a crash would.
	afterCheckpoint func(r *appRun) error
}

// CheckpointKey is the catalog key of an application's checkpoint.
func CheckpointKey(account, region, name string) string {
	return "analytics/checkpoints/" + account + "/" + region + "/" + name
}

// pendingRecord is an output record a checkpoint holds until it is
// written: its partition key is the row's identity, so a record already
// in the stream is recognised after a crash.
type pendingRecord struct {
	Kind   string            `json:"kind,omitempty"` // "" for a stream
	ARN    string            `json:"arn,omitempty"`  // a delivery stream's or function's
	Stream streams.StreamRef `json:"stream"`
	Key    string            `json:"key"`
	Data   []byte            `json:"data"`
}

// checkpoint holds an application's source positions and engine state
// together, with the outputs of the windows that state has emitted and
// that may not be written yet.
type checkpoint struct {
	Positions map[string]string `json:"positions"` // shard id → last sequence number read
	Done      map[string]bool   `json:"done"`      // closed shards read to their end
	State     json.RawMessage   `json:"state"`
	Pending   []pendingRecord   `json:"pending,omitempty"`
	Time      int64             `json:"time"` // ms
}

type appRun struct {
	app   *Application
	rt    *Runtime
	eng   *Engine
	key   string
	rev   uint64
	cp    checkpoint
	iters map[string]string
	// signals are the shards' append signals, taken before their reads.
	signals map[string]<-chan struct{}
	outputs map[string]Output
	lastCP  time.Time
}

// Run runs an application until ctx is done: it resumes from the last
// checkpoint (writing the outputs that checkpoint still held), reads
// every shard of the source, and checkpoints state and positions together
// before it writes the windows that closed. It returns the error that
// stopped it.
func (a *Application) Run(ctx context.Context, rt *Runtime) error {
	if rt.Now == nil {
		rt.Now = time.Now
	}
	if rt.PollInterval == 0 {
		rt.PollInterval = 200 * time.Millisecond
	}
	if rt.Logger == nil {
		rt.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := a.Config
	if len(a.References) > 0 {
		tables, err := loadTables(ctx, rt.Objects, a.References)
		if err != nil {
			return err
		}
		cfg.Tables = append(append([]Table(nil), cfg.Tables...), tables...)
	}
	eng, err := NewEngine(cfg)
	if err != nil {
		return err
	}
	r := &appRun{app: a, rt: rt, eng: eng, key: CheckpointKey(a.Source.Account, a.Source.Region, a.Name),
		iters: map[string]string{}, signals: map[string]<-chan struct{}{}, outputs: map[string]Output{}}
	for _, o := range a.Outputs {
		r.outputs[o.Name] = o
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		read, err := r.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !read {
			r.wait(ctx)
		}
	}
	return nil
}

func (r *appRun) load(ctx context.Context) error {
	b, rev, err := r.rt.Catalog.Get(ctx, r.key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		r.cp = checkpoint{Positions: map[string]string{}, Done: map[string]bool{}}
		return nil
	case err != nil:
		return fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &r.cp); err != nil {
		return fmt.Errorf("checkpoint of %s: %w", r.app.Name, err)
	}
	r.rev = rev
	if r.cp.Positions == nil {
		r.cp.Positions = map[string]string{}
	}
	if r.cp.Done == nil {
		r.cp.Done = map[string]bool{}
	}
	if err := r.eng.Restore(r.cp.State); err != nil {
		return err
	}
	if len(r.cp.Pending) > 0 {
		// The last run may have died while writing these: write those the
		// output streams do not hold yet.
		if err := r.writePending(ctx, true); err != nil {
			return err
		}
	}
	return nil
}

func (r *appRun) save(ctx context.Context) error {
	state, err := r.eng.Snapshot()
	if err != nil {
		return err
	}
	r.cp.State = state
	return r.put(ctx)
}

// put writes the checkpoint with the engine's state as last taken.
func (r *appRun) put(ctx context.Context) error {
	r.cp.Time = r.rt.Now().UnixMilli()
	b, err := json.Marshal(&r.cp)
	if err != nil {
		return err
	}
	rev, err := r.rt.Catalog.Put(ctx, r.key, b, r.rev)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	r.rev = rev
	r.lastCP = r.rt.Now()
	return nil
}

// poll reads once from every shard and emits what closed.
func (r *appRun) poll(ctx context.Context) (bool, error) {
	st, err := r.rt.Streams.Describe(r.app.Source)
	if err != nil {
		return false, fmt.Errorf("source stream: %w", err)
	}
	read := false
	for i := range st.Shards {
		sh := &st.Shards[i]
		id := sh.ID()
		if r.cp.Done[id] || !r.parentsDone(st, sh) {
			continue
		}
		if sig, err := r.rt.Streams.AppendSignal(r.app.Source, id); err == nil {
			r.signals[id] = sig
		}
		n, err := r.readShard(ctx, id)
		if err != nil {
			return read, err
		}
		read = read || n > 0
	}
	results, err := r.eng.Advance(r.rt.Now())
	if err != nil {
		return read, err
	}
	r.queue(results)
	if len(r.cp.Pending) > 0 || r.rt.Now().Sub(r.lastCP) >= r.interval() {
		if err := r.save(ctx); err != nil {
			return read, err
		}
		if len(r.cp.Pending) > 0 {
			if r.rt.afterCheckpoint != nil {
				if err := r.rt.afterCheckpoint(r); err != nil {
					return read, err
				}
			}
			if err := r.writePending(ctx, false); err != nil {
				return read, err
			}
			// The engine has not moved since the state was taken: only
			// the pending outputs are gone.
			if err := r.put(ctx); err != nil {
				return read, err
			}
		}
	}
	return read, nil
}

func (r *appRun) interval() time.Duration {
	if r.app.CheckpointInterval > 0 {
		return r.app.CheckpointInterval
	}
	return 10 * time.Second
}

// parentsDone: a child shard is read once its parents are read to their
// end, so a key's rows stay in order across a reshard.
func (r *appRun) parentsDone(st *streams.Stream, sh *streams.Shard) bool {
	for _, p := range []int64{sh.ParentIndex, sh.AdjacentParentIndex} {
		if p < 0 || int(p) >= len(st.Shards) {
			continue
		}
		if !r.cp.Done[st.Shards[p].ID()] {
			return false
		}
	}
	return true
}

func (r *appRun) readShard(ctx context.Context, id string) (int, error) {
	it := r.iters[id]
	if it == "" {
		p := streams.IteratorParams{Ref: r.app.Source, ShardID: id, Type: streams.TrimHorizon}
		if seq := r.cp.Positions[id]; seq != "" {
			p.Type, p.StartingSequenceNumber = streams.AfterSequenceNumber, seq
		} else if r.app.StartPosition == "NOW" || r.app.StartPosition == streams.Latest {
			p.Type = streams.Latest
		}
		var err error
		if it, err = r.rt.Streams.GetShardIterator(ctx, p); err != nil {
			return 0, fmt.Errorf("shard %s: %w", id, err)
		}
	}
	res, err := r.rt.Streams.GetRecords(ctx, it, 0)
	if err != nil {
		var se *streams.Error
		if errors.As(err, &se) && (se.Kind == streams.KindThroughputExceeded || se.Kind == streams.KindExpiredIterator) {
			delete(r.iters, id) // taken again from the position next time
			return 0, nil
		}
		return 0, fmt.Errorf("shard %s: %w", id, err)
	}
	decoded := r.eng.decode(res.Records)
	for i, rec := range res.Records {
		results, rejected, err := r.eng.processRows(Input{Shard: id, ID: id + "-" + rec.SequenceNumber, Arrival: rec.Arrival, Data: rec.Data}, decoded[i].rows, decoded[i].err)
		if err != nil {
			return 0, err
		}
		r.queue(results)
		r.reject(rejected)
	}
	if n := len(res.Records); n > 0 {
		// An error above ends the run before any checkpoint: the
		// position moves once, to the batch's last record.
		r.cp.Positions[id] = res.Records[n-1].SequenceNumber
	}
	if len(res.Records) == 0 && res.MillisBehindLatest == 0 {
		r.eng.Idle(id)
	}
	if res.NextShardIterator == "" {
		r.cp.Done[id] = true
		r.eng.Forget(id)
		delete(r.iters, id)
	} else {
		r.iters[id] = res.NextShardIterator
	}
	return len(res.Records), nil
}

func (r *appRun) queue(results []Result) {
	for _, res := range results {
		o, ok := r.outputs[res.Dest]
		if !ok {
			continue // an in-application stream no output reads
		}
		data := FormatRow(o.Format, res.Columns, res.Values)
		r.cp.Pending = append(r.cp.Pending, pendingRecord{Kind: o.Kind, ARN: o.ARN, Stream: o.Stream, Key: res.ID, Data: data})
	}
}

func (r *appRun) reject(rej []Rejected) {
	o, ok := r.outputs[ErrorStreamName]
	if !ok {
		return
	}
	for i, x := range rej {
		row, _ := json.Marshal(map[string]any{
			"ERROR_TIME": time.UnixMilli(r.rt.Now().UnixMilli()).UTC().Format(timestampLayout),
			"ERROR_NAME": x.Reason, "MESSAGE": x.Reason, "DATA": string(x.Input.Data),
			"ROWTIME": time.UnixMilli(x.Input.Arrival).UTC().Format(timestampLayout),
		})
		r.cp.Pending = append(r.cp.Pending, pendingRecord{Kind: o.Kind, ARN: o.ARN, Stream: o.Stream, Key: "rejected-" + x.Input.ID + "-" + strconv.Itoa(i), Data: row})
	}
}

// FormatRow writes a row as a JSON object (columns in order) or a CSV line.
func FormatRow(format string, cols []string, vals []any) []byte {
	var b bytes.Buffer
	if format == FormatCSV {
		w := csv.NewWriter(&b)
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = formatValue(v)
		}
		_ = w.Write(rec)
		w.Flush()
		return b.Bytes()
	}
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c)
		v, _ := json.Marshal(jsonValue(vals[i]))
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writePending writes the checkpoint's pending outputs. After a restart
// (recover) it first reads what each output stream received since the
// checkpoint and leaves out the records already there; delivery streams
// and functions cannot be read back and get all theirs again.
func (r *appRun) writePending(ctx context.Context, recover bool) error {
	var pending, sinks []pendingRecord
	for _, p := range r.cp.Pending {
		if p.Kind == OutputStream {
			pending = append(pending, p)
		} else {
			sinks = append(sinks, p)
		}
	}
	if len(sinks) > 0 {
		if err := r.writeSinks(ctx, sinks); err != nil {
			return err
		}
	}
	if recover {
		seen := map[string]bool{}
		done := map[streams.StreamRef]bool{}
		for _, p := range pending {
			if done[p.Stream] {
				continue
			}
			done[p.Stream] = true
			if err := r.keysSince(ctx, p.Stream, r.cp.Time, seen); err != nil {
				return err
			}
		}
		var left []pendingRecord
		for _, p := range pending {
			if !seen[p.Stream.Name+"\x00"+p.Key] {
				left = append(left, p)
			}
		}
		r.rt.Logger.Info("analytics: resuming from a checkpoint with unwritten outputs",
			"application", r.app.Name, "pending", len(pending), "already_written", len(pending)-len(left))
		pending = left
	}
	for len(pending) > 0 {
		ref := pending[0].Stream
		var batch []streams.PutEntry
		var idx []int
		for i, p := range pending {
			if p.Stream != ref || len(batch) == 500 {
				continue
			}
			batch = append(batch, streams.PutEntry{Data: p.Data, PartitionKey: p.Key})
			idx = append(idx, i)
		}
		res, err := r.rt.Streams.PutRecords(ctx, ref, batch)
		if err != nil {
			return fmt.Errorf("write to %s: %w", ref.Name, err)
		}
		failed := map[int]bool{}
		for i, pr := range res.Records {
			if pr.ErrorCode != "" {
				failed[idx[i]] = true
			}
		}
		if len(failed) == 0 && idx[len(idx)-1] == len(idx)-1 {
			// The batch was the first records, all written: the rest
			// follow without being copied (a window's thousands of rows
			// would be copied once per batch).
			pending = pending[len(idx):]
			continue
		}
		var left []pendingRecord
		taken := map[int]bool{}
		for _, i := range idx {
			taken[i] = true
		}
		for i, p := range pending {
			if !taken[i] || failed[i] {
				left = append(left, p)
			}
		}
		if len(failed) > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		pending = left
	}
	r.cp.Pending = nil
	return nil
}

// keysSince collects the partition keys a stream received since a time.
func (r *appRun) keysSince(ctx context.Context, ref streams.StreamRef, since int64, seen map[string]bool) error {
	st, err := r.rt.Streams.Describe(ref)
	if err != nil {
		return fmt.Errorf("output stream %s: %w", ref.Name, err)
	}
	// Arrival times come from the same clock; a margin covers a write
	// stamped just before the checkpoint's time was taken.
	ts := time.UnixMilli(since - 5000)
	for i := range st.Shards {
		it, err := r.rt.Streams.GetShardIterator(ctx, streams.IteratorParams{Ref: ref, ShardID: st.Shards[i].ID(), Type: streams.AtTimestamp, Timestamp: &ts})
		if err != nil {
			return err
		}
		for it != "" {
			res, err := r.rt.Streams.GetRecords(ctx, it, 0)
			if err != nil {
				return err
			}
			for _, rec := range res.Records {
				seen[ref.Name+"\x00"+rec.PartitionKey] = true
			}
			if len(res.Records) == 0 {
				break
			}
			it = res.NextShardIterator
		}
	}
	return nil
}

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

const tailHelpIntro = `Usage:
  millrace tail STREAM [flags]

Prints the records of a stream (a name or an ARN) as they arrive, from every
shard: GetShardIterator and GetRecords on each open shard and, after a
reshard, on each child shard once its parents are read to their end (so the
records of a partition key come out in order). KPL aggregated records are
unpacked into their user records.

Each shard is polled at most 5 times a second (the Kinesis GetRecords limit
per shard): at once while it is behind (MillisBehindLatest above zero),
about once a second when it is idle. Throttling answers are waited out with
a backoff, never fatal; an expired iterator is renewed after the last record
read. SIGINT stops it cleanly (exit status 0).

Output, one record at a time, on stdout:
  text  one line: shard, sequence number (":n" after it for the n-th user
        record of an aggregate), partition key, arrival time (UTC), data.
        Data that is valid UTF-8 is printed as text (quoted, with escapes,
        when it holds control characters), other data as "base64:" and its
        base64.
  json  one JSON object per line: shardId, sequenceNumber,
        subSequenceNumber (aggregated records only), partitionKey,
        arrival, data and encoding: "json" when the data is a JSON value
        (then data is that value), "text" when it is other UTF-8 text (data
        is a string), "base64" otherwise (data is its base64).
  raw   the data alone, then a newline.
With --pretty, JSON data is indented: in text after the line, in json
inside the object.

Examples:
  millrace tail orders                        # new records, until Ctrl-C
  millrace tail orders --from trim-horizon --max 10 --format json
  millrace tail orders --from timestamp --timestamp 2026-01-02T15:04:05Z --grep 'error|fail'

` + awsFlagsHelp + `
Flags:
`

// tailOptions are the tail command's settings.
type tailOptions struct {
	aws       awsFlags
	from      string
	timestamp string
	grep      string
	key       string
	format    string
	pretty    bool
	max       int64
}

func (o *tailOptions) register(fs *flag.FlagSet) {
	o.aws.register(fs)
	fs.StringVar(&o.from, "from", "latest", "Where to start: latest (records put from now on), trim-horizon (the oldest record kept) or timestamp (--timestamp).")
	fs.StringVar(&o.timestamp, "timestamp", "", "RFC 3339 time to start at with --from timestamp (records that arrived at or after it).")
	fs.StringVar(&o.grep, "grep", "", "Print only records whose data matches this regular expression (Go syntax).")
	fs.StringVar(&o.key, "key", "", "Print only records with exactly this partition key.")
	fs.StringVar(&o.format, "format", "text", "Output format: text, json or raw.")
	fs.BoolVar(&o.pretty, "pretty", false, "Indent JSON data.")
	fs.Int64Var(&o.max, "max", 0, "Stop after printing this many records (0: no limit).")
}

func writeTailHelp(w io.Writer) {
	var o tailOptions
	fs := flag.NewFlagSet("millrace tail", flag.ContinueOnError)
	o.register(fs)
	writeFlagsHelp(w, tailHelpIntro, fs)
}

// runTail is the tail command.
func runTail(ctx context.Context, args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	var o tailOptions
	fs := flag.NewFlagSet("millrace tail", flag.ContinueOnError)
	o.register(fs)
	pos, done, err := parseFlags(fs, args, stdout, writeTailHelp)
	if done || err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("tail takes one stream name or ARN, got %d arguments", len(pos))}
	}
	fromSet := false
	fs.Visit(func(f *flag.Flag) { fromSet = fromSet || f.Name == "from" })
	t := &tailer{stream: pos[0], format: o.format, pretty: o.pretty, max: o.max, key: o.key, hasKey: o.key != ""}
	if o.timestamp != "" && !fromSet {
		o.from = "timestamp"
	}
	switch o.from {
	case "latest":
		t.startType = types.ShardIteratorTypeLatest
	case "trim-horizon":
		t.startType = types.ShardIteratorTypeTrimHorizon
	case "timestamp":
		t.startType = types.ShardIteratorTypeAtTimestamp
		if o.timestamp == "" {
			return usageError{errors.New("--from timestamp needs --timestamp")}
		}
		ts, err := time.Parse(time.RFC3339Nano, o.timestamp)
		if err != nil {
			return usageError{fmt.Errorf("--timestamp %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", o.timestamp)}
		}
		t.timestamp = ts
	default:
		return usageError{fmt.Errorf("--from %q must be latest, trim-horizon or timestamp", o.from)}
	}
	if o.timestamp != "" && o.from != "timestamp" {
		return usageError{fmt.Errorf("--timestamp goes with --from timestamp, not --from %s", o.from)}
	}
	switch o.format {
	case "text", "json", "raw":
	default:
		return usageError{fmt.Errorf("--format %q must be text, json or raw", o.format)}
	}
	if o.max < 0 {
		return usageError{fmt.Errorf("--max %d must not be negative", o.max)}
	}
	if o.grep != "" {
		re, err := regexp.Compile(o.grep)
		if err != nil {
			return usageError{fmt.Errorf("--grep: %v", err)}
		}
		t.grep = re
	}
	client, err := o.aws.kinesisClient(ctx, lookupEnv)
	if err != nil {
		return err
	}
	t.client = client
	t.out = bufio.NewWriterSize(stdout, 64<<10)
	return t.run(ctx)
}

// tailer reads every shard of one stream and prints the records.
type tailer struct {
	client    *kinesis.Client
	stream    string
	startType types.ShardIteratorType
	timestamp time.Time
	grep      *regexp.Regexp
	key       string
	hasKey    bool
	format    string
	pretty    bool
	max       int64

	// mu guards the output and the count of records printed.
	mu      sync.Mutex
	out     *bufio.Writer
	printed int64
	stop    context.CancelFunc

	// smu guards the shards and the error.
	smu    sync.Mutex
	shards map[string]*tailShard
	wg     sync.WaitGroup
	err    error
}

// tailShard is a shard the tailer reads, is reading or has read.
type tailShard struct {
	id       string
	parents  []string
	rng      aggregation.HashRange
	start    types.ShardIteratorType
	started  bool
	finished bool
}

func (t *tailer) streamRef(name, arn **string) {
	if strings.HasPrefix(t.stream, "arn:") {
		*arn = aws.String(t.stream)
	} else {
		*name = aws.String(t.stream)
	}
}

func (t *tailer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.stop = cancel
	shards, err := t.listShards(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t.shards = make(map[string]*tailShard)
	for _, s := range shards {
		open := s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil
		if t.startType == types.ShardIteratorTypeLatest && !open {
			continue // nothing new will arrive on a closed shard
		}
		ts, err := newTailShard(aws.ToString(s.ShardId), []string{aws.ToString(s.ParentShardId), aws.ToString(s.AdjacentParentShardId)}, s.HashKeyRange)
		if err != nil {
			return err
		}
		ts.start = t.startType
		t.shards[ts.id] = ts
	}
	t.smu.Lock()
	t.startReady(ctx)
	t.smu.Unlock()
	t.wg.Wait()
	t.mu.Lock()
	flushErr := t.out.Flush()
	t.mu.Unlock()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.err != nil {
		return t.err
	}
	return flushErr
}

func newTailShard(id string, parents []string, rng *types.HashKeyRange) (*tailShard, error) {
	s := &tailShard{id: id}
	for _, p := range parents {
		if p != "" {
			s.parents = append(s.parents, p)
		}
	}
	s.rng = aggregation.HashRange{Start: aggregation.HashKey{}, End: aggregation.MaxHashKey}
	if rng != nil {
		r, err := aggregation.ParseHashRange(aws.ToString(rng.StartingHashKey), aws.ToString(rng.EndingHashKey))
		if err != nil {
			return nil, fmt.Errorf("shard %s: hash key range: %w", id, err)
		}
		s.rng = r
	}
	return s, nil
}

// listShards lists every shard of the stream, throttling waited out.
func (t *tailer) listShards(ctx context.Context) ([]types.Shard, error) {
	var all []types.Shard
	in := &kinesis.ListShardsInput{}
	t.streamRef(&in.StreamName, &in.StreamARN)
	var bo backoff
	for {
		out, err := t.client.ListShards(ctx, in)
		if err != nil {
			if isThrottle(err) && sleep(ctx, bo.next()) {
				continue
			}
			return nil, fmt.Errorf("ListShards %s: %w", t.stream, err)
		}
		bo.reset()
		all = append(all, out.Shards...)
		if out.NextToken == nil {
			return all, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// startReady starts every shard not started whose parents being read are
// read to their end. t.smu is held.
func (t *tailer) startReady(ctx context.Context) {
	for _, s := range t.shards {
		if s.started {
			continue
		}
		ready := true
		for _, p := range s.parents {
			if ps, ok := t.shards[p]; ok && !ps.finished {
				ready = false
			}
		}
		if !ready {
			continue
		}
		s.started = true
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			if err := t.readShard(ctx, s); err != nil && ctx.Err() == nil {
				t.smu.Lock()
				if t.err == nil {
					t.err = err
				}
				t.smu.Unlock()
				t.stop()
			}
		}()
	}
}

// finished records that s is read to its end and starts its children once
// all their parents are. children are those the last GetRecords call
// named; when it named none, they are looked up with ListShards.
func (t *tailer) finished(ctx context.Context, s *tailShard, children []types.ChildShard) error {
	if len(children) == 0 {
		shards, err := t.listShards(ctx)
		if err != nil {
			return err
		}
		for _, c := range shards {
			if aws.ToString(c.ParentShardId) == s.id || aws.ToString(c.AdjacentParentShardId) == s.id {
				children = append(children, types.ChildShard{ShardId: c.ShardId, HashKeyRange: c.HashKeyRange,
					ParentShards: []string{aws.ToString(c.ParentShardId), aws.ToString(c.AdjacentParentShardId)}})
			}
		}
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	s.finished = true
	for _, c := range children {
		id := aws.ToString(c.ShardId)
		if _, ok := t.shards[id]; ok {
			continue
		}
		cs, err := newTailShard(id, c.ParentShards, c.HashKeyRange)
		if err != nil {
			return err
		}
		// A child's records all came after the parents' end.
		cs.start = types.ShardIteratorTypeTrimHorizon
		if t.startType == types.ShardIteratorTypeAtTimestamp {
			cs.start = types.ShardIteratorTypeAtTimestamp
		}
		t.shards[id] = cs
	}
	t.startReady(ctx)
	return nil
}

// iterator gets a shard iterator at s's start, or after lastSeq.
func (t *tailer) iterator(ctx context.Context, s *tailShard, lastSeq string) (string, error) {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(s.id), ShardIteratorType: s.start}
	t.streamRef(&in.StreamName, &in.StreamARN)
	if s.start == types.ShardIteratorTypeAtTimestamp {
		in.Timestamp = aws.Time(t.timestamp)
	}
	if lastSeq != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(lastSeq)
		in.Timestamp = nil
	}
	var bo backoff
	for {
		out, err := t.client.GetShardIterator(ctx, in)
		if err == nil {
			return aws.ToString(out.ShardIterator), nil
		}
		if isThrottle(err) && sleep(ctx, bo.next()) {
			continue
		}
		return "", fmt.Errorf("GetShardIterator %s %s: %w", t.stream, s.id, err)
	}
}

// Polling: a shard is read at most 5 times a second, about once a second
// when it has nothing new.
const (
	tailBusyInterval = 200 * time.Millisecond
	tailIdleInterval = time.Second
)

// readShard reads s until its end (then starts its children), until ctx
// ends or until --max records are printed.
func (t *tailer) readShard(ctx context.Context, s *tailShard) error {
	iter, err := t.iterator(ctx, s, "")
	if err != nil {
		return err
	}
	var (
		bo       backoff
		lastSeq  string
		lastCall time.Time
		interval time.Duration
	)
	for {
		if !sleep(ctx, interval-time.Since(lastCall)) {
			return nil
		}
		lastCall = time.Now()
		out, err := t.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter)})
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case isThrottle(err):
				interval = max(bo.next(), tailBusyInterval)
				continue
			case errorCode(err) == "ExpiredIteratorException":
				if iter, err = t.iterator(ctx, s, lastSeq); err != nil {
					return err
				}
				interval = 0
				continue
			}
			return fmt.Errorf("GetRecords %s %s: %w", t.stream, s.id, err)
		}
		bo.reset()
		if len(out.Records) > 0 {
			if !t.print(s.id, aggregation.DeaggregateInRange(out.Records, s.rng, aggregation.DropOutside)) {
				return nil
			}
			lastSeq = aws.ToString(out.Records[len(out.Records)-1].SequenceNumber)
		}
		if out.NextShardIterator == nil {
			return t.finished(ctx, s, out.ChildShards)
		}
		iter = aws.ToString(out.NextShardIterator)
		interval = tailBusyInterval
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			interval = tailIdleInterval
		}
	}
}

// print writes the records that pass the filters and reports whether to go
// on (false once --max records are printed).
func (t *tailer) print(shard string, recs []aggregation.UserRecord) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.out.Flush()
	for _, r := range recs {
		if t.max > 0 && t.printed >= t.max {
			break
		}
		if t.hasKey && r.PartitionKey != t.key {
			continue
		}
		if t.grep != nil && !t.grep.Match(r.Data) {
			continue
		}
		t.writeRecord(shard, r)
		t.printed++
	}
	if t.max > 0 && t.printed >= t.max {
		t.stop() // every shard's reader ends
		return false
	}
	return true
}

const arrivalLayout = "2006-01-02T15:04:05.000Z07:00"

func (t *tailer) writeRecord(shard string, r aggregation.UserRecord) {
	w := t.out
	switch t.format {
	case "raw":
		w.Write(r.Data)
		w.WriteByte('\n')
	case "json":
		obj := tailJSON{
			ShardID:        shard,
			SequenceNumber: r.SequenceNumber,
			PartitionKey:   r.PartitionKey,
			Arrival:        r.ApproximateArrivalTimestamp.UTC().Format(arrivalLayout),
		}
		if r.Aggregated {
			obj.SubSequenceNumber = &r.SubSequenceNumber
		}
		var compact bytes.Buffer
		switch {
		case json.Valid(r.Data) && json.Compact(&compact, r.Data) == nil:
			obj.Data, obj.Encoding = compact.Bytes(), "json"
		case utf8.Valid(r.Data):
			obj.Data, _ = json.Marshal(string(r.Data))
			obj.Encoding = "text"
		default:
			obj.Data, _ = json.Marshal(r.Data) // base64
			obj.Encoding = "base64"
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		if t.pretty {
			enc.SetIndent("", "  ")
		}
		enc.Encode(obj)
	default:
		seq := r.SequenceNumber
		if r.Aggregated {
			seq += ":" + strconv.FormatInt(r.SubSequenceNumber, 10)
		}
		fmt.Fprintf(w, "%s %s %s %s", shard, seq, textField(r.PartitionKey), r.ApproximateArrivalTimestamp.UTC().Format(arrivalLayout))
		var indented bytes.Buffer
		switch {
		case t.pretty && json.Valid(r.Data) && json.Indent(&indented, r.Data, "  ", "  ") == nil:
			w.WriteString("\n  ")
			w.Write(indented.Bytes())
		case utf8.Valid(r.Data):
			w.WriteString(" " + textData(string(r.Data)))
		default:
			w.WriteString(" base64:" + base64.StdEncoding.EncodeToString(r.Data))
		}
		w.WriteByte('\n')
	}
}

// tailJSON is one record in --format json.
type tailJSON struct {
	ShardID           string          `json:"shardId"`
	SequenceNumber    string          `json:"sequenceNumber"`
	SubSequenceNumber *int64          `json:"subSequenceNumber,omitempty"`
	PartitionKey      string          `json:"partitionKey"`
	Arrival           string          `json:"arrival"`
	Data              json.RawMessage `json:"data"`
	Encoding          string          `json:"encoding"`
}

// textData is s as is, or quoted with escapes when it holds control
// characters (which would break the line) or starts with a quote or
// "base64:" (which would make it ambiguous).
func textData(s string) string {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "base64:") || strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

// textField is s as is, or quoted when it is empty or holds spaces or
// control characters (which would break the columns).
func textField(s string) string {
	if s == "" || strings.HasPrefix(s, `"`) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return strconv.Quote(s)
	}
	return s
}

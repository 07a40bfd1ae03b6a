package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/analytics"
)

const sqlHelpIntro = `Usage:
  millrace sql --stream STREAM --columns COLUMNS [flags] "SELECT STREAM ..."

Runs a continuous SQL query over a stream and prints each result as it is
produced: the rows of a filter or projection as records arrive, a window's
rows when the window closes. The query may be written in Kinesis Data
Analytics SQL (SELECT STREAM ... GROUP BY k, STEP("S".ROWTIME BY INTERVAL
'60' SECOND), WINDOWED BY STAGGER, CREATE OR REPLACE PUMP ...) or with Flink
SQL's window table functions (FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts),
INTERVAL '1' MINUTES)) GROUP BY window_start, window_end, k); docs/analytics.md
lists what is supported. The query's FROM names the stream's rows (any name:
SOURCE_SQL_STREAM_001 as in KDA).

The command reads every shard itself (GetShardIterator, GetRecords) and keeps
its windows in memory: it is for trying queries. Applications that run
inside the server, with checkpoints, are described in docs/analytics.md.

--columns declares the record's columns, comma-separated, each
"name TYPE [path]": a JSON path such as $.order.id (default $.name) for
--record-format JSON, the field's position for CSV. Types: VARCHAR(n),
CHAR(n), INTEGER, BIGINT, SMALLINT, TINYINT, REAL, DOUBLE, FLOAT, DECIMAL,
BOOLEAN, TIMESTAMP.

--reference NAME=PATH loads a reference table the query may join the stream
with (FROM s JOIN NAME AS r ON s.k = r.k, or LEFT JOIN), as KDA's reference
data source: a .csv file is CSV lines, any other file JSON values one after
another; --reference-columns NAME=COLUMNS declares its columns.

--stream NAME=STREAM reads a second stream (repeatable), whose rows the
query names NAME, with --stream-columns NAME=COLUMNS: a join of two streams
bounded in time (FROM s JOIN NAME AS b ON s.k = b.k AND b.ROWTIME BETWEEN
s.ROWTIME AND s.ROWTIME + INTERVAL '1' MINUTE).

Examples:
  millrace sql --stream trades --columns 'ticker VARCHAR(8), price DOUBLE $.trade.price' \
    "SELECT STREAM ticker, COUNT(*) AS n, AVG(price) AS avg_price FROM SOURCE_SQL_STREAM_001
     GROUP BY ticker, STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '10' SECOND)"
  millrace sql --stream trades --columns 'ticker VARCHAR(8)' \
    --reference COMPANIES=companies.csv --reference-columns 'COMPANIES=ticker VARCHAR(8), name VARCHAR(32)' \
    "SELECT STREAM s.ticker, c.name FROM SOURCE_SQL_STREAM_001 AS s JOIN COMPANIES AS c ON s.ticker = c.ticker"
  millrace sql --stream orders --columns 'id BIGINT' --stream SHIPS=shipments --stream-columns 'SHIPS=id BIGINT' \
    "SELECT STREAM o.id FROM orders AS o JOIN SHIPS AS s ON o.id = s.id
     AND s.ROWTIME BETWEEN o.ROWTIME AND o.ROWTIME + INTERVAL '1' HOUR"

` + awsFlagsHelp + `
Flags:
`

type sqlOptions struct {
	aws          awsFlags
	streams      multiFlag
	streamCols   multiFlag
	columns      string
	recordFormat string
	format       string
	from         string
	lateness     time.Duration
	idleGrace    time.Duration
	max          int64
	references   multiFlag
	refColumns   multiFlag
}

func (o *sqlOptions) register(fs *flag.FlagSet) {
	o.aws.register(fs)
	fs.Var(&o.streams, "stream", "The stream to read (a name or an ARN); NAME=STREAM reads another, whose rows the query names NAME (repeatable).")
	fs.Var(&o.streamCols, "stream-columns", `A NAME=STREAM stream's columns: NAME="name TYPE [path], ..." (as --columns).`)
	fs.StringVar(&o.columns, "columns", "", `The record's columns: "name TYPE [path], ...".`)
	fs.StringVar(&o.recordFormat, "record-format", "JSON", "How records are read: JSON or CSV.")
	fs.StringVar(&o.format, "format", "json", "Output format: json (an object per line) or csv.")
	fs.StringVar(&o.from, "from", "latest", "Where to start: latest or trim-horizon.")
	fs.DurationVar(&o.lateness, "lateness", 0, "Allowed lateness of event-time rows (windows on a time column).")
	fs.DurationVar(&o.idleGrace, "idle-grace", 2*time.Second, "How long after its end a ROWTIME window closes when no records come.")
	fs.Int64Var(&o.max, "max", 0, "Stop after printing this many rows (0: no limit).")
	fs.Var(&o.references, "reference", "A reference table the query may join: NAME=PATH, a .csv file or JSON values (repeatable).")
	fs.Var(&o.refColumns, "reference-columns", `A reference table's columns: NAME="name TYPE [path], ..." (as --columns).`)
}

func writeSQLHelp(w io.Writer) {
	var o sqlOptions
	fs := flag.NewFlagSet("millrace sql", flag.ContinueOnError)
	o.register(fs)
	writeFlagsHelp(w, sqlHelpIntro, fs)
}

// parseColumns reads --columns.
func parseColumns(s, format string) ([]analytics.Column, error) {
	var cols []analytics.Column
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		// A type may carry a length with a space: VARCHAR (8).
		if len(f) >= 3 && strings.HasPrefix(f[2], "(") {
			f = append([]string{f[0], f[1] + f[2]}, f[3:]...)
		}
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("column %q is not \"name TYPE [path]\"", strings.TrimSpace(part))
		}
		c := analytics.Column{Name: f[0], SQLType: f[1]}
		if len(f) == 3 {
			if format == analytics.FormatCSV {
				return nil, fmt.Errorf("column %s: CSV columns are taken in order and have no path", f[0])
			}
			c.Mapping = f[2]
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, errors.New("--columns is required: the record's columns, \"name TYPE [path], ...\"")
	}
	return cols, nil
}

func runSQL(ctx context.Context, args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	var o sqlOptions
	fs := flag.NewFlagSet("millrace sql", flag.ContinueOnError)
	o.register(fs)
	pos, done, err := parseFlags(fs, args, stdout, writeSQLHelp)
	if done || err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("sql takes one query (quote it), got %d arguments", len(pos))}
	}
	format := strings.ToUpper(o.recordFormat)
	srcs, extra, err := sqlSources(o.streams, o.streamCols, format)
	if err != nil {
		return usageError{err}
	}
	cols, err := parseColumns(o.columns, format)
	if err != nil {
		return usageError{err}
	}
	if o.format != "json" && o.format != "csv" {
		return usageError{fmt.Errorf("--format %q must be json or csv", o.format)}
	}
	start := types.ShardIteratorTypeLatest
	switch o.from {
	case "latest":
	case "trim-horizon":
		start = types.ShardIteratorTypeTrimHorizon
	default:
		return usageError{fmt.Errorf("--from %q must be latest or trim-horizon", o.from)}
	}
	tables, err := referenceTables(o.references, o.refColumns)
	if err != nil {
		return usageError{err}
	}
	eng, err := analytics.NewEngine(analytics.Config{
		SQL:             pos[0],
		Schema:          analytics.Schema{Format: format, Columns: cols},
		AllowedLateness: o.lateness, IdleGrace: o.idleGrace,
		Tables: tables, Sources: extra,
	})
	if err != nil {
		return usageError{err}
	}
	client, err := o.aws.kinesisClient(ctx, lookupEnv)
	if err != nil {
		return err
	}
	q := &sqlRunner{client: client, sources: srcs, start: start, eng: eng, max: o.max,
		format: strings.ToUpper(o.format), out: bufio.NewWriter(stdout), iters: map[string]string{}, done: map[string]bool{}}
	return q.run(ctx)
}

// sqlSources reads --stream: one stream without a name (the query's FROM),
// and NAME=STREAM streams with their --stream-columns.
func sqlSources(streams, columns []string, format string) ([]sqlSource, []analytics.Source, error) {
	cols := map[string]string{}
	for _, c := range columns {
		name, spec, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return nil, nil, fmt.Errorf("--stream-columns %q is not NAME=COLUMNS", c)
		}
		cols[name] = spec
	}
	srcs := []sqlSource{{}}
	var extra []analytics.Source
	for _, s := range streams {
		name, stream, named := strings.Cut(s, "=")
		if !named {
			if srcs[0].stream != "" {
				return nil, nil, fmt.Errorf("--stream %s and --stream %s: name the second, --stream NAME=%s", srcs[0].stream, s, s)
			}
			srcs[0].stream = s
			continue
		}
		if name == "" || stream == "" {
			return nil, nil, fmt.Errorf("--stream %q is not STREAM or NAME=STREAM", s)
		}
		spec, ok := cols[name]
		if !ok {
			return nil, nil, fmt.Errorf("stream %s needs its columns: --stream-columns %s='name TYPE [path], ...'", name, name)
		}
		delete(cols, name)
		cs, err := parseColumns(spec, format)
		if err != nil {
			return nil, nil, fmt.Errorf("stream %s: %w", name, err)
		}
		srcs = append(srcs, sqlSource{name: name, stream: stream})
		extra = append(extra, analytics.Source{Name: name, Schema: analytics.Schema{Format: format, Columns: cs}})
	}
	if srcs[0].stream == "" {
		return nil, nil, errors.New("--stream is required")
	}
	for name := range cols {
		return nil, nil, fmt.Errorf("--stream-columns names %s, which no --stream NAME=STREAM names", name)
	}
	return srcs, extra, nil
}

// sqlSource is a stream the command reads: the first (name "") or one
// the query names.
type sqlSource struct {
	name, stream string
}

// shard is the engine's and the runner's name for a shard of the
// source: the shard id, prefixed with the source's name but for the first.
func (s sqlSource) shard(id string) string {
	if s.name == "" {
		return id
	}
	return s.name + "/" + id
}

func (s sqlSource) ref() (name, arn *string) {
	if strings.HasPrefix(s.stream, "arn:") {
		return nil, aws.String(s.stream)
	}
	return aws.String(s.stream), nil
}

type sqlRunner struct {
	client  *kinesis.Client
	sources []sqlSource
	start   types.ShardIteratorType
	eng     *analytics.Engine
	format  string
	out     *bufio.Writer
	max     int64
	printed int64
	iters   map[string]string
	done    map[string]bool
	backoff backoff
}

func (q *sqlRunner) run(ctx context.Context) error {
	defer q.out.Flush()
	for ctx.Err() == nil {
		read, err := q.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if q.max > 0 && q.printed >= q.max {
			return nil
		}
		q.out.Flush()
		if !read && !sleep(ctx, 200*time.Millisecond) {
			return nil
		}
	}
	return nil
}

// poll reads every shard of every source once (a child after its parents
// end) and prints what the records and the watermark produced.
func (q *sqlRunner) poll(ctx context.Context) (bool, error) {
	read := false
	for _, src := range q.sources {
		r, err := q.pollSource(ctx, src)
		if err != nil {
			return read, err
		}
		read = read || r
	}
	res, err := q.eng.Advance(time.Now())
	if err != nil {
		return read, err
	}
	q.print(res)
	return read, nil
}

func (q *sqlRunner) pollSource(ctx context.Context, src sqlSource) (bool, error) {
	name, arn := src.ref()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: name, StreamARN: arn}
	for {
		out, err := q.client.ListShards(ctx, in)
		if err != nil {
			if isThrottle(err) {
				return false, nil
			}
			return false, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	read := false
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if q.done[src.shard(id)] || !q.parentsDone(src, sh) {
			continue
		}
		n, err := q.readShard(ctx, src, id)
		if err != nil {
			return read, err
		}
		read = read || n > 0
	}
	return read, nil
}

func (q *sqlRunner) parentsDone(src sqlSource, sh types.Shard) bool {
	for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
		if p != nil && !q.done[src.shard(*p)] && q.iters[src.shard(*p)] != "" {
			return false
		}
	}
	return true
}

func (q *sqlRunner) readShard(ctx context.Context, src sqlSource, id string) (int, error) {
	name, arn := src.ref()
	key := src.shard(id)
	it := q.iters[key]
	if it == "" {
		out, err := q.client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, StreamARN: arn, ShardId: aws.String(id), ShardIteratorType: q.start})
		if err != nil {
			if isThrottle(err) {
				return 0, nil
			}
			return 0, err
		}
		it = aws.ToString(out.ShardIterator)
	}
	out, err := q.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), StreamARN: arn})
	if err != nil {
		if isThrottle(err) || errorCode(err) == "ExpiredIteratorException" {
			sleep(ctx, q.backoff.next())
			return 0, nil
		}
		return 0, err
	}
	q.backoff.reset()
	for _, r := range out.Records {
		res, _, err := q.eng.Process(analytics.Input{Source: src.name, Shard: key, ID: key + "-" + aws.ToString(r.SequenceNumber), Arrival: aws.ToTime(r.ApproximateArrivalTimestamp).UnixMilli(), Data: r.Data})
		if err != nil {
			return 0, err
		}
		q.print(res)
	}
	if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
		q.eng.Idle(key)
	}
	if out.NextShardIterator == nil {
		q.done[key] = true
		q.eng.Forget(key)
		delete(q.iters, key)
	} else {
		q.iters[key] = aws.ToString(out.NextShardIterator)
	}
	return len(out.Records), nil
}

func (q *sqlRunner) print(rs []analytics.Result) {
	for _, r := range rs {
		if q.max > 0 && q.printed >= q.max {
			return
		}
		q.out.Write(analytics.FormatRow(q.format, r.Columns, r.Values))
		if q.format != analytics.FormatCSV {
			q.out.WriteByte('\n')
		}
		q.printed++
	}
}

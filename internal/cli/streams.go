package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const streamsHelpIntro = `Usage:
  millrace streams [flags]

Lists the streams with their status, capacity mode, open shards, retention
period, enhanced fan-out consumers and encryption (ListStreams, then
DescribeStreamSummary for each), and the rate at which records are being
written to each.

The rates are measured, not read from metrics: for --sample (default 2s)
the tool holds a LATEST shard iterator on every open shard of every active
stream, then reads what arrived with GetRecords and counts Kinesis records
(an aggregate counts once) and bytes of data. That is one GetShardIterator
and at least one GetRecords call per open shard: these count against the
shard's read limits (5 calls/s, 2 MB/s) shared with the stream's other
consumers and, on an AWS on-demand stream, the data read is billed.
--sample 0 skips the sampling and the rate columns. A rate that could not
be measured (the stream is not active, or reads were throttled five times
in a row) is shown as "-" (and left out of the JSON object).

Examples:
  millrace streams
  millrace streams --sample 0 --json

` + awsFlagsHelp + `
Flags:
`

// streamsOptions are the streams command's settings.
type streamsOptions struct {
	aws     awsFlags
	sample  time.Duration
	jsonOut bool
}

func (o *streamsOptions) register(fs *flag.FlagSet) {
	o.aws.register(fs)
	fs.DurationVar(&o.sample, "sample", 2*time.Second, "How long to measure the write rates by reading each open shard (0: do not read, no rates).")
	fs.BoolVar(&o.jsonOut, "json", false, "Print a JSON array instead of a table.")
}

func writeStreamsHelp(w io.Writer) {
	var o streamsOptions
	fs := flag.NewFlagSet("millrace streams", flag.ContinueOnError)
	o.register(fs)
	writeFlagsHelp(w, streamsHelpIntro, fs)
}

// streamInfo is one stream of the list.
type streamInfo struct {
	Name             string   `json:"name"`
	ARN              string   `json:"arn"`
	Status           string   `json:"status"`
	Mode             string   `json:"mode"`
	OpenShards       int32    `json:"openShards"`
	RetentionHours   int32    `json:"retentionHours"`
	Consumers        int32    `json:"consumers"`
	Encryption       string   `json:"encryption"`
	RecordsPerSecond *float64 `json:"recordsPerSecond,omitempty"`
	BytesPerSecond   *float64 `json:"bytesPerSecond,omitempty"`
}

// runStreams is the streams command.
func runStreams(ctx context.Context, args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	var o streamsOptions
	fs := flag.NewFlagSet("millrace streams", flag.ContinueOnError)
	o.register(fs)
	pos, done, err := parseFlags(fs, args, stdout, writeStreamsHelp)
	if done || err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	if o.sample < 0 {
		return usageError{fmt.Errorf("--sample %v must not be negative", o.sample)}
	}
	client, err := o.aws.kinesisClient(ctx, lookupEnv)
	if err != nil {
		return err
	}
	infos, err := describeStreams(ctx, client)
	if err != nil {
		return err
	}
	if o.sample > 0 {
		sampleRates(ctx, client, infos, o.sample)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.jsonOut {
		if infos == nil {
			infos = []*streamInfo{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	head := "STREAM\tSTATUS\tMODE\tSHARDS\tRETENTION\tCONSUMERS\tENCRYPTION"
	if o.sample > 0 {
		head += "\tRECORDS/S IN\tBYTES/S IN"
	}
	fmt.Fprintln(tw, head)
	for _, s := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%dh\t%d\t%s", s.Name, s.Status, s.Mode, s.OpenShards, s.RetentionHours, s.Consumers, s.Encryption)
		if o.sample > 0 {
			fmt.Fprintf(tw, "\t%s\t%s", formatRate(s.RecordsPerSecond, false), formatRate(s.BytesPerSecond, true))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func formatRate(r *float64, bytes bool) string {
	switch {
	case r == nil:
		return "-"
	case bytes:
		return formatBytes(int64(*r + 0.5))
	}
	return strconv.FormatFloat(*r, 'f', 1, 64)
}

// describeStreams lists the streams, sorted by name, with their summaries.
func describeStreams(ctx context.Context, client *kinesis.Client) ([]*streamInfo, error) {
	var names []string
	in := &kinesis.ListStreamsInput{}
	var bo backoff
	for {
		out, err := client.ListStreams(ctx, in)
		if err != nil {
			if isThrottle(err) && sleep(ctx, bo.next()) {
				continue
			}
			return nil, fmt.Errorf("ListStreams: %w", err)
		}
		bo.reset()
		names = append(names, out.StreamNames...)
		if !aws.ToBool(out.HasMoreStreams) || out.NextToken == nil {
			break
		}
		in = &kinesis.ListStreamsInput{NextToken: out.NextToken}
	}
	sort.Strings(names)
	var infos []*streamInfo
	for _, name := range names {
		var out *kinesis.DescribeStreamSummaryOutput
		var err error
		for bo.reset(); ; {
			out, err = client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			if err == nil || !isThrottle(err) || !sleep(ctx, bo.next()) {
				break
			}
		}
		if errorCode(err) == "ResourceNotFoundException" {
			continue // deleted since the list
		}
		if err != nil {
			return nil, fmt.Errorf("DescribeStreamSummary %s: %w", name, err)
		}
		d := out.StreamDescriptionSummary
		info := &streamInfo{
			Name:           name,
			ARN:            aws.ToString(d.StreamARN),
			Status:         string(d.StreamStatus),
			Mode:           string(types.StreamModeProvisioned),
			OpenShards:     aws.ToInt32(d.OpenShardCount),
			RetentionHours: aws.ToInt32(d.RetentionPeriodHours),
			Consumers:      aws.ToInt32(d.ConsumerCount),
			Encryption:     string(d.EncryptionType),
		}
		if d.StreamModeDetails != nil {
			info.Mode = string(d.StreamModeDetails.StreamMode)
		}
		if info.Encryption == "" {
			info.Encryption = string(types.EncryptionTypeNone)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// sampleRates measures each active stream's write rates over window by
// reading from LATEST on each of its open shards, and fills them in.
func sampleRates(ctx context.Context, client *kinesis.Client, infos []*streamInfo, window time.Duration) {
	type shardSample struct {
		info  *streamInfo
		shard string
		iter  string
		start time.Time
		ok    bool
		recs  int64
		bytes int64
		dur   time.Duration
	}
	var samples []*shardSample
	for _, info := range infos {
		if info.Status != string(types.StreamStatusActive) && info.Status != string(types.StreamStatusUpdating) {
			continue
		}
		shards, err := openShards(ctx, client, info.ARN)
		if err != nil {
			continue
		}
		for _, id := range shards {
			samples = append(samples, &shardSample{info: info, shard: id})
		}
	}
	// A bounded number of shards at a time, each with its own calls
	// spaced at the per-shard limit.
	limit := make(chan struct{}, 16)
	each := func(f func(s *shardSample)) {
		var wg sync.WaitGroup
		for _, s := range samples {
			wg.Add(1)
			limit <- struct{}{}
			go func() {
				defer func() { <-limit; wg.Done() }()
				f(s)
			}()
		}
		wg.Wait()
	}
	each(func(s *shardSample) {
		var bo backoff
		for range 5 {
			out, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
				StreamARN: aws.String(s.info.ARN), ShardId: aws.String(s.shard), ShardIteratorType: types.ShardIteratorTypeLatest})
			if err == nil {
				s.iter, s.start, s.ok = aws.ToString(out.ShardIterator), time.Now(), true
				return
			}
			if !isThrottle(err) || !sleep(ctx, bo.next()) {
				return
			}
		}
	})
	if !sleep(ctx, window) {
		return
	}
	each(func(s *shardSample) {
		if !s.ok {
			return
		}
		s.ok = false
		var bo backoff
		throttles := 0
		for calls := 0; calls < 50; calls++ {
			if calls > 0 && !sleep(ctx, tailBusyInterval) {
				return
			}
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(s.iter)})
			if err != nil {
				if isThrottle(err) && throttles < 5 && sleep(ctx, bo.next()) {
					throttles++
					continue
				}
				return
			}
			throttles = 0
			for _, r := range out.Records {
				s.recs++
				s.bytes += int64(len(r.Data))
			}
			if out.NextShardIterator == nil || aws.ToInt64(out.MillisBehindLatest) == 0 || len(out.Records) == 0 {
				s.dur = time.Since(s.start)
				s.ok = true
				return
			}
			s.iter = aws.ToString(out.NextShardIterator)
		}
	})
	// A stream's rate is the sum of its shards' rates; one shard not
	// measured leaves it unknown.
	type sum struct {
		recs, bytes float64
		bad         bool
	}
	sums := map[*streamInfo]*sum{}
	for _, s := range samples {
		t := sums[s.info]
		if t == nil {
			t = &sum{}
			sums[s.info] = t
		}
		if !s.ok || s.dur <= 0 {
			t.bad = true
			continue
		}
		t.recs += float64(s.recs) / s.dur.Seconds()
		t.bytes += float64(s.bytes) / s.dur.Seconds()
	}
	for _, info := range infos {
		t := sums[info]
		switch {
		case t != nil && !t.bad:
			info.RecordsPerSecond, info.BytesPerSecond = &t.recs, &t.bytes
		case t == nil && info.OpenShards == 0 && info.Status == string(types.StreamStatusActive):
			zero := 0.0
			info.RecordsPerSecond, info.BytesPerSecond = &zero, &zero
		}
	}
}

// openShards lists the ids of a stream's open shards.
func openShards(ctx context.Context, client *kinesis.Client, arn string) ([]string, error) {
	var ids []string
	in := &kinesis.ListShardsInput{StreamARN: aws.String(arn), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}}
	var bo backoff
	for {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			if isThrottle(err) && sleep(ctx, bo.next()) {
				continue
			}
			return nil, err
		}
		bo.reset()
		for _, s := range out.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/bench"
)

const benchScaleHelp = `Usage:
  millrace bench scale --phase write|read [flags]

Measures a server holding many streams or shards, in two phases run
against the same server with a restart between them (scripts/bench-scale.sh
runs both and the restart):

  write  creates --streams streams of --shards shards (named PREFIX-0,
         PREFIX-1, ...) and waits until every one is ACTIVE, then writes
         --records records of --size bytes to every shard by explicit hash
         key, with PutRecords calls from --workers workers.
  read   waits until DescribeStreamSummary answers for every stream (calls
         that cannot connect are retried: the server may still be starting)
         and reads every shard back from TRIM_HORIZON with GetShardIterator
         and GetRecords until its records are counted, verifying each one
         (its stream, shard, position and every byte).

Nothing is retried silently: a failed put or a throttle is counted by its
error code and fails the phase, a failed GetRecords is retried with the
same iterator (up to 5 times in a row) and counted. With --pid the server's
CPU time and memory (VmRSS, RssAnon, VmHWM from /proc) are reported: in
the read phase after every stream is served, and the peak RSS of the
read-back sampled every 100 ms. Progress goes to stderr, the result to
stdout as one JSON object; the exit status is 1 when anything failed.

Flags:
`

// benchScaleFlags binds the scale command's flags to cfg.
func benchScaleFlags(fs *flag.FlagSet, cfg *bench.ScaleConfig, since *string) {
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "Kinesis endpoint URL.")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "Region to sign requests for.")
	fs.StringVar(&cfg.AccessKeyID, "access-key-id", cfg.AccessKeyID, "Access key id to sign with.")
	fs.StringVar(&cfg.SecretAccessKey, "secret-access-key", cfg.SecretAccessKey, "Secret key to sign with.")
	fs.StringVar(&cfg.Phase, "phase", cfg.Phase, "write (create and write every shard) or read (wait until served, read every shard back).")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "Stream names: PREFIX-0, PREFIX-1, ...")
	fs.IntVar(&cfg.Streams, "streams", cfg.Streams, "Streams.")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "Shards of every stream.")
	fs.IntVar(&cfg.Records, "records", cfg.Records, "Records written to (and read from) every shard.")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "Bytes per record (12-1048576).")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "Concurrent callers in every step.")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "Records per PutRecords call (1-500); a call goes to one stream.")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "PID of the local server process: report its CPU time and memory from /proc.")
	fs.StringVar(since, "since", *since, "Read phase: when the server process was started, in Unix nanoseconds (date +%s%N); the time until every stream is served counts from it. Empty: from the start of the phase.")
	fs.DurationVar(&cfg.ServeTimeout, "serve-timeout", cfg.ServeTimeout, "Read phase: how long to wait for every stream to be served.")
}

// runBenchScale is the bench scale command.
func runBenchScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.ScaleDefaults()
	var since string
	fs := flag.NewFlagSet("millrace bench scale", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	benchScaleFlags(fs, &cfg, &since)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeBenchScaleHelp(stdout)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if since != "" {
		ns, err := strconv.ParseInt(since, 10, 64)
		if err != nil || ns <= 0 {
			return usageError{fmt.Errorf("since: %q is not a time in Unix nanoseconds", since)}
		}
		cfg.Since = time.Unix(0, ns)
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	cfg.Progress = stderr
	res, err := bench.RunScale(ctx, cfg)
	if res != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(res); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// writeBenchScaleHelp prints every flag with its default.
func writeBenchScaleHelp(w io.Writer) {
	cfg := bench.ScaleDefaults()
	var since string
	fs := flag.NewFlagSet("millrace bench scale", flag.ContinueOnError)
	benchScaleFlags(fs, &cfg, &since)
	var b strings.Builder
	b.WriteString(benchScaleHelp)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s %s\n        %s", f.Name, typ, usage)
		if f.DefValue != "" && f.DefValue != "0" {
			fmt.Fprintf(&b, " Default %s.", f.DefValue)
		}
		b.WriteString("\n")
	})
	b.WriteString("  -h, --help\n        Show this help.\n")
	io.WriteString(w, strings.ReplaceAll(b.String(), " \n", "\n"))
}

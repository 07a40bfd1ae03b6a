package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/millrace/millrace/internal/bench"
)

const benchHelp = `Usage:
  millrace bench [flags]
  millrace bench scale --phase write|read [flags]

Drives a Kinesis Data Streams endpoint (this server or any other) with
PutRecords (or PutRecord) from several workers, then reads every shard back
with GetRecords and verifies every record: each carries an id and a CRC-32C,
so lost, duplicated or corrupted records are reported. It prints records/s,
MB/s (10^6 bytes of record data), put latency p50/p90/p99/p99.9, the
read-back rate, errors and throttles by code and, with --pid, the server
process's CPU time and RSS. Puts are never retried, so every failure is
counted; a failed read-back GetRecords is retried with the same iterator
(up to 5 times in a row) and the retries are reported.

By default it creates a stream (millrace-bench-<n>) and deletes it at the
end. Against a Millrace server started for benchmarking, turn throughput
limits off on the server, or the run measures throttling.

Progress goes to stderr: one updating line on a terminal, a line every 5
seconds otherwise. The summary goes to stdout, as a table or, with --json,
as one JSON object. The exit status is 1 when read-back verification fails.

millrace bench scale measures many streams or shards instead: creating and
writing them, a restart, reading them back (millrace bench scale --help).

Flags:
`

// benchFlags binds the bench command's flags to cfg and returns their help.
func benchFlags(fs *flag.FlagSet, cfg *bench.Config, jsonOut *bool, cpuProfile *string) {
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "Kinesis endpoint URL.")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "Region to sign requests for.")
	fs.StringVar(&cfg.AccessKeyID, "access-key-id", cfg.AccessKeyID, "Access key id to sign with (a 12-digit id selects that account on Millrace).")
	fs.StringVar(&cfg.SecretAccessKey, "secret-access-key", cfg.SecretAccessKey, "Secret key to sign with.")
	fs.StringVar(&cfg.Stream, "stream", cfg.Stream, "Existing stream to use; empty creates one with --shards shards.")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "Shards of the stream created (ignored with --stream).")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "Keep the stream created instead of deleting it.")
	fs.StringVar(&cfg.Client, "client", cfg.Client, "Client: sdk (aws-sdk-go-v2) or raw (pre-encoded JSON bodies signed once per minute, one keep-alive connection per worker written with one writev: measures the server, not the client).")
	fs.StringVar(&cfg.Op, "op", cfg.Op, "Write operation: put-records (--batch records per call) or put-record (one record per call).")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "Concurrent writers, each with one call in flight.")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "Records per PutRecords call (1-500).")
	fs.IntVar(&cfg.Size, "size", cfg.Size, fmt.Sprintf("Bytes per record (%d-1048576).", bench.MinRecordSize))
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "How long to write; 0 with --records writes until the record count is reached.")
	fs.Int64Var(&cfg.Records, "records", cfg.Records, "Stop after sending this many records (whole calls; 0: no limit).")
	fs.Float64Var(&cfg.RateMBps, "rate", cfg.RateMBps, "Offered load in MB/s over all workers, their calls spread evenly in time (0: as fast as the server answers).")
	fs.IntVar(&cfg.Burst, "burst", cfg.Burst, "With --rate: release the workers' calls this many at a time at the same instant (workers 0..N-1 together, then the next N, the groups spread evenly), the offered MB/s unchanged; must divide --workers. Reports the latency of the 1st to Nth call of each burst to be answered. 0 or 1: every call spread evenly.")
	fs.BoolVar(&cfg.ReadBack, "read", cfg.ReadBack, "Read every shard back with GetRecords and verify the records (--read=false to skip).")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "PID of a local server process: report its CPU time and RSS from /proc.")
	fs.BoolVar(jsonOut, "json", *jsonOut, "Print the result as JSON instead of a table.")
	fs.StringVar(cpuProfile, "cpuprofile", *cpuProfile, "Write a CPU profile of this load generator's write phase to this file (for go tool pprof): what the client itself costs.")
}

// runBench is the bench command.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "scale" {
		return runBenchScale(ctx, args[1:], stdout, stderr)
	}
	cfg := bench.Defaults()
	var jsonOut bool
	var cpuProfile string
	fs := flag.NewFlagSet("millrace bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	benchFlags(fs, &cfg, &jsonOut, &cpuProfile)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeBenchHelp(stdout)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if cpuProfile != "" {
		f, ferr := os.Create(cpuProfile)
		if ferr != nil {
			return fmt.Errorf("cpuprofile: %w", ferr)
		}
		defer func() {
			if e := f.Close(); e != nil && err == nil {
				err = fmt.Errorf("cpuprofile: %w", e)
			}
		}()
		cfg.CPUProfile = f
	}
	cfg.Progress = stderr
	cfg.TTY = isTerminal(stderr)
	res, err := bench.Run(ctx, cfg)
	if res != nil {
		if jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if e := enc.Encode(res); e != nil && err == nil {
				err = e
			}
		} else {
			res.WriteTable(stdout)
		}
	}
	return err
}

// writeBenchHelp prints every flag with its default.
func writeBenchHelp(w io.Writer) {
	cfg := bench.Defaults()
	var jsonOut bool
	var cpuProfile string
	fs := flag.NewFlagSet("millrace bench", flag.ContinueOnError)
	benchFlags(fs, &cfg, &jsonOut, &cpuProfile)
	var b strings.Builder
	b.WriteString(benchHelp)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			typ = ""
		}
		fmt.Fprintf(&b, "  --%s %s\n        %s", f.Name, typ, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(&b, " Default %s.", f.DefValue)
		}
		b.WriteString("\n")
	})
	b.WriteString("  -h, --help\n        Show this help.\n")
	io.WriteString(w, strings.ReplaceAll(b.String(), " \n", "\n"))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

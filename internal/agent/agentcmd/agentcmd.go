// Package agentcmd is the log shipper's command line: flags, help,
// logging and metrics listener around package agent. `millrace agent` and
// the millrace-agent binary both run it; the latter links only the agent
// and its clients, not the server, for a smaller footprint on the hosts
// whose logs it ships.
package agentcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/millrace/millrace/internal/agent"
)

// help is the command's help; %s is how it is invoked.
const help = `Usage:
  %s --config agent.json [flags]

Tails log files and sends their lines to Kinesis data streams, reading the
configuration file of the Amazon Kinesis Agent (agent.json) as it is:
flows of filePattern globs into kinesisStream, with partitionKeyOption,
initialPosition, the buffer settings, multiLineStartPattern,
skipHeaderLines, truncatedRecordTerminator and the dataProcessingOptions
SINGLELINE, CSVTOJSON, LOGTOJSON, ADDMETADATA and ADDBRACKETS. It is a
client of the public Kinesis API: point kinesis.endpoint at Millrace, or
leave it out for AWS.

Every complete line is delivered once, in order per file, across rotation
by rename, copytruncate or delete, restarts and crashes: the checkpoint
(checkpointFile, JSON, replaced atomically) advances only past
acknowledged records, and after an unclean stop the agent reads the stream
back (kinesis:ListShards, GetShardIterator, GetRecords) to skip the records
that reached it. Firehose flows (deliveryStream) send with PutRecordBatch
to firehose.endpoint; they cannot be read back, so after an unclean stop
they resend what followed the last checkpoint.

Counters are logged every log.statusReportingPeriodSeconds and, with
--metrics-listen, served for Prometheus at /metrics. SIGINT or SIGTERM
stops the agent: it sends what it read (up to shutdownTimeoutMillis) and
writes the checkpoint. See docs/agent.md.

Flags:
`

// UsageError is a mistake on the command line or in the configuration
// (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

func flags(fs *flag.FlagSet, cfgPath, metrics *string, opts *agent.Options) {
	fs.StringVar(cfgPath, "config", "/etc/aws-kinesis/agent.json", "The agent's configuration file (the Kinesis Agent's agent.json).")
	fs.StringVar(metrics, "metrics-listen", "", "Address to serve Prometheus metrics on at /metrics (e.g. 127.0.0.1:9109); empty: none.")
	fs.BoolVar(&opts.Aggregate, "aggregate", false, "Pack records into KPL aggregates (consumers must deaggregate; the Java agent does not).")
	fs.BoolVar(&opts.NoRateLimit, "no-rate-limit", false, "Send as fast as the stream accepts instead of keeping to the per-shard limits.")
	fs.Int64Var(&opts.MaxBufferedBytes, "max-buffered-bytes", 1<<20, "Bytes a flow holds unacknowledged before it stops reading (at least 1 MiB, the largest record).")
}

// WriteHelp writes the command's help, invoked as name ("millrace
// agent").
func WriteHelp(w io.Writer, name string) {
	fmt.Fprintf(w, help, name)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c, m string
	flags(fs, &c, &m, &agent.Options{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// Run runs the agent with the command line args (without the command's
// name) until ctx ends.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	var cfgPath, metricsAddr string
	var opts agent.Options
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags(fs, &cfgPath, &metricsAddr, &opts)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			WriteHelp(stdout, name)
			return nil
		}
		return UsageError{err}
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		var ce *agent.ConfigError
		if errors.As(err, &ce) {
			return UsageError{fmt.Errorf("%s: %w", cfgPath, err)}
		}
		return UsageError{err}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level(cfg.LogLevel))); err != nil {
		lv = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if metricsAddr != "" {
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return UsageError{fmt.Errorf("--metrics-listen: %w", err)}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux}
		go srv.Serve(ln)
		defer srv.Close()
		opts.Logger.Info("serving metrics", "addr", ln.Addr().String())
	}
	a, err := agent.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// level maps the Java agent's log.level to slog's.
func level(l string) string {
	if l == "TRACE" {
		return "debug"
	}
	return strings.ToLower(l)
}

// Main is the millrace-agent binary: it runs args (args[0] is the program
// name) until SIGINT or SIGTERM and returns the exit status: 0, 1 when
// the agent failed, 2 for a usage or configuration error.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default action: the next signal kills
	}()
	name := "millrace-agent"
	err := Run(ctx, name, args[1:], stdout, stderr)
	var ue UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

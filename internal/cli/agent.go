package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/millrace/millrace/internal/agent"
)

const agentHelp = `Usage:
  millrace agent --config agent.json [flags]

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

func agentFlags(fs *flag.FlagSet, cfgPath, metrics *string, opts *agent.Options) {
	fs.StringVar(cfgPath, "config", "/etc/aws-kinesis/agent.json", "The agent's configuration file (the Kinesis Agent's agent.json).")
	fs.StringVar(metrics, "metrics-listen", "", "Address to serve Prometheus metrics on at /metrics (e.g. 127.0.0.1:9109); empty: none.")
	fs.BoolVar(&opts.Aggregate, "aggregate", false, "Pack records into KPL aggregates (consumers must deaggregate; the Java agent does not).")
	fs.BoolVar(&opts.NoRateLimit, "no-rate-limit", false, "Send as fast as the stream accepts instead of keeping to the per-shard limits.")
	fs.Int64Var(&opts.MaxBufferedBytes, "max-buffered-bytes", 1<<20, "Bytes a flow holds unacknowledged before it stops reading (at least 1 MiB, the largest record).")
}

func writeAgentHelp(w io.Writer) {
	io.WriteString(w, agentHelp)
	fs := flag.NewFlagSet("millrace agent", flag.ContinueOnError)
	var c, m string
	agentFlags(fs, &c, &m, &agent.Options{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// runAgent is the agent command.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfgPath, metricsAddr string
	var opts agent.Options
	fs := flag.NewFlagSet("millrace agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	agentFlags(fs, &cfgPath, &metricsAddr, &opts)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeAgentHelp(stdout)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		var ce *agent.ConfigError
		if errors.As(err, &ce) {
			return usageError{fmt.Errorf("%s: %w", cfgPath, err)}
		}
		return usageError{err}
	}
	opts.Logger = newLogger(stderr, agentLevel(cfg.LogLevel), "text")
	if metricsAddr != "" {
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return usageError{fmt.Errorf("--metrics-listen: %w", err)}
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

// agentLevel maps the Java agent's log.level to slog's.
func agentLevel(l string) string {
	if l == "TRACE" {
		return "debug"
	}
	return strings.ToLower(l)
}

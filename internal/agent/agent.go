package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/millrace/millrace/internal/sdkhttp"
	"github.com/millrace/millrace/producer"
)

// clockSkew is how much earlier than the local clock says the stream is
// read back from after an unclean stop: records carry the server's arrival
// time.
const clockSkew = 5 * time.Second

// Options are the agent's settings beyond agent.json.
type Options struct {
	// Aggregate packs records bound for the same shard into KPL
	// aggregates (consumers must deaggregate; the Java agent does not
	// aggregate).
	Aggregate bool
	// NoRateLimit sends as fast as the stream accepts instead of keeping
	// to the shard limits.
	NoRateLimit bool
	// MaxBufferedBytes bounds the data a flow holds unacknowledged
	// (default and minimum 1 MiB, the largest record); when it is reached
	// the flow stops reading.
	MaxBufferedBytes int64
	// Registerer, when set, receives the agent's metrics.
	Registerer prometheus.Registerer
	// Logger receives the agent's log; nil discards it.
	Logger *slog.Logger
	// HTTPClient, when set, carries the Kinesis requests.
	HTTPClient aws.HTTPClient
}

// Stats are the agent's counters.
type Stats struct {
	BytesRead          atomic.Int64
	LinesRead          atomic.Int64
	RecordsSent        atomic.Int64
	BytesSent          atomic.Int64
	RecordsFailed      atomic.Int64
	RecordsTruncated   atomic.Int64
	RecordsRecovered   atomic.Int64
	ConversionFailures atomic.Int64
}

// Agent ships the files of its flows.
type Agent struct {
	cfg   *Config
	opts  Options
	log   *slog.Logger
	Stats Stats
	flows []*flowRunner
	prods []*producer.Producer
	// closers are the flows' senders: producers and firehose senders.
	closers []interface{ Close(context.Context) error }
	start   time.Time
}

// New prepares an agent: it reads the checkpoint and, if the last run
// stopped with records unacknowledged, reads the streams back to find the
// ones delivered. Run starts it.
func New(ctx context.Context, cfg *Config, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBufferedBytes == 0 {
		opts.MaxBufferedBytes = 1 << 20
	}
	if opts.MaxBufferedBytes < 1<<20 {
		return nil, fmt.Errorf("the buffer of unacknowledged data (%d bytes) must hold the largest record, 1 MiB", opts.MaxBufferedBytes)
	}
	a := &Agent{cfg: cfg, opts: opts, log: opts.Logger, start: time.Now()}
	if cfg.EmitCloudWatchMetrics {
		a.log.Info("cloudwatch.emitMetrics is accepted but metrics go to the log and --metrics-listen, not CloudWatch")
	}
	awsCfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	client := kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) { o.BaseEndpoint = endpointURL(cfg.KinesisEndpoint) })
	fhClient := firehose.NewFromConfig(awsCfg, func(o *firehose.Options) { o.BaseEndpoint = endpointURL(cfg.FirehoseEndpoint) })
	cp, err := readCheckpoint(cfg.CheckpointFile)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Flows {
		fl := &cfg.Flows[i]
		var fcp *flowCheckpoint
		if cp != nil {
			fcp = cp.Flows[fl.ID()]
			if fcp != nil {
				fcp.Files = dropExpired(fcp.Files, cfg.CheckpointTTL)
			}
		}
		if fl.DeliveryStream != "" {
			// A delivery stream cannot be read back: after an unclean
			// stop, records after the checkpoint are sent again.
			snd := newFirehoseSender(fhClient, fl, opts.MaxBufferedBytes, a.log)
			a.closers = append(a.closers, snd)
			a.flows = append(a.flows, newFlowRunner(fl, snd, fcp, nil, a.log.With("flow", fl.ID()), &a.Stats))
			continue
		}
		var skip map[string]int
		if cp != nil && !cp.Clean && fcp != nil {
			skip, err = recoverDelivered(ctx, client, fl.KinesisStream, fcp.Since.Add(-clockSkew), fcp.ShardStart, a.log)
			if err != nil {
				return nil, fmt.Errorf("flow %s: reading the stream back after an unclean stop: %w", fl.ID(), err)
			}
			a.log.Info("read the stream back after an unclean stop", "flow", fl.ID(), "since", fcp.Since, "records", sum(skip))
		}
		prod, err := producer.New(client, fl.KinesisStream, producer.Options{
			DisableAggregation:    !opts.Aggregate,
			PreserveOrder:         true,
			CollectionMaxCount:    fl.MaxBufferSizeRecords,
			CollectionMaxSize:     fl.MaxBufferSizeBytes,
			RecordMaxBufferedTime: fl.MaxBufferAge,
			RecordTTL:             100 * 365 * 24 * time.Hour, // retried until written
			RetryBaseDelay:        fl.RetryInitialBackoff,
			RetryMaxDelay:         fl.RetryMaxBackoff,
			MaxBufferedBytes:      opts.MaxBufferedBytes,
			MaxRecordSize:         1 << 20,
			MaxConnections:        cfg.MaxConnections,
			DisableRateLimit:      opts.NoRateLimit,
			Logger:                a.log,
		})
		if err != nil {
			a.closeProducers(ctx)
			return nil, err
		}
		a.prods = append(a.prods, prod)
		a.closers = append(a.closers, prod)
		a.flows = append(a.flows, newFlowRunner(fl, prod, fcp, skip, a.log.With("flow", fl.ID()), &a.Stats))
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(collector{a}); err != nil {
			return nil, err
		}
		for _, p := range a.prods {
			// Producer metrics carry the stream as a label; two flows to
			// one stream would collide, so register what fits.
			_ = opts.Registerer.Register(p.Collector())
		}
	}
	// The checkpoint says "unclean" while the agent runs.
	if err := a.writeCheckpoint(false); err != nil {
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	return a, nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func dropExpired(fs []*fileCheckpoint, ttl time.Duration) []*fileCheckpoint {
	var out []*fileCheckpoint
	for _, f := range fs {
		if time.Since(f.LastUpdated) <= ttl {
			out = append(out, f)
		}
	}
	return out
}

func (a *Agent) awsConfig(ctx context.Context) (aws.Config, error) {
	var lo []func(*awsconfig.LoadOptions) error
	if a.cfg.KinesisRegion != "" {
		lo = append(lo, awsconfig.WithRegion(a.cfg.KinesisRegion))
	}
	if a.cfg.AccessKeyID != "" {
		lo = append(lo, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(a.cfg.AccessKeyID, a.cfg.SecretAccessKey, "")))
	}
	// The SDK's buildable client, so that AWS_CA_BUNDLE still applies.
	lo = append(lo, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().
		WithTimeout(a.cfg.SocketTimeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = a.cfg.ConnectionTimeout }).
		WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = a.cfg.MaxConnections })))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, err
	}
	if awsCfg.Region == "" {
		return aws.Config{}, errors.New("no region: set kinesis.region in the configuration or AWS_REGION")
	}
	if a.opts.HTTPClient != nil {
		awsCfg.HTTPClient = a.opts.HTTPClient
	}
	// Every call's body without io.WriterTo, so that the SDK never sends
	// a PutRecordBatch again that the server had applied (see sdkhttp):
	// its records would arrive twice.
	awsCfg.HTTPClient = sdkhttp.PlainBodies(awsCfg.HTTPClient)
	return awsCfg, nil
}

// endpointURL adds https:// to a bare host name, as the Java agent takes
// them.
func endpointURL(s string) *string {
	if s == "" {
		return nil
	}
	if !hasScheme(s) {
		s = "https://" + s
	}
	return aws.String(s)
}

func hasScheme(s string) bool {
	for _, p := range []string{"http://", "https://"} {
		if len(s) >= len(p) && s[:len(p)] == p {
			return true
		}
	}
	return false
}

// Run tails and ships until ctx ends, then sends what it read (within
// shutdownTimeoutMillis) and writes the checkpoint.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(a.flows))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, r := range a.flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.run(runCtx); err != nil {
				errc <- fmt.Errorf("flow %s: %w", r.id, err)
				cancel()
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastStatus := time.Now()
	var werr error
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
			if err := a.writeCheckpoint(false); err != nil && werr == nil {
				a.log.Error("writing the checkpoint", "err", err)
				werr = err
			} else if err == nil {
				werr = nil
			}
			if time.Since(lastStatus) >= a.cfg.StatusReportingPeriod {
				lastStatus = time.Now()
				a.logStatus()
			}
		}
	}
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer scancel()
	a.closeProducers(sctx)
	a.logStatus()
	cerr := a.writeCheckpoint(true)
	select {
	case err := <-errc:
		return errors.Join(err, cerr)
	default:
		return cerr
	}
}

func (a *Agent) closeProducers(ctx context.Context) {
	for _, p := range a.closers {
		if err := p.Close(ctx); err != nil {
			a.log.Warn("records left unsent at shutdown; the next start finds out which reached the stream", "err", err)
		}
	}
}

// writeCheckpoint writes every flow's state; final marks it clean when
// nothing is left unacknowledged.
func (a *Agent) writeCheckpoint(final bool) error {
	now := time.Now()
	c := &checkpointFile{Flows: map[string]*flowCheckpoint{}, Clean: final}
	for _, r := range a.flows {
		fc, clean := r.checkpoint(now)
		c.Flows[r.id] = fc
		c.Clean = c.Clean && clean
	}
	return writeCheckpoint(a.cfg.CheckpointFile, c)
}

func (a *Agent) logStatus() {
	s := &a.Stats
	a.log.Info(fmt.Sprintf("Agent: Progress: %d records parsed (%d bytes), and %d records sent successfully to destinations. Uptime: %dms",
		s.LinesRead.Load(), s.BytesRead.Load(), s.RecordsSent.Load(), time.Since(a.start).Milliseconds()),
		"recordsFailed", s.RecordsFailed.Load(), "recordsTruncated", s.RecordsTruncated.Load(),
		"conversionFailures", s.ConversionFailures.Load(), "recordsRecovered", s.RecordsRecovered.Load())
	now := time.Now()
	for _, r := range a.flows {
		backlog, behind := r.backlog(now)
		a.log.Info("flow status", "flow", r.id, "backlogBytes", backlog, "timeBehind", behind.Round(time.Millisecond))
	}
}

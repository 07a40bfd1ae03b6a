package firehose

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// Options configures the service.
type Options struct {
	Catalog storage.Catalog
	Log     storage.Log
	// Streams is the Kinesis streams domain, the source of
	// KinesisStreamAsSource delivery streams.
	Streams *streams.Streams
	// Runner runs one delivery unit per delivery stream; nil: a runner
	// of the service's own, stopped by Close.
	Runner *background.Runner
	Logger *slog.Logger
	// S3 writes the objects of S3 destinations, backups and error
	// output; nil: such deliveries fail (and are retried) with an error
	// saying that no S3 endpoint is configured.
	S3 s3.Putter
	// GlueTables is the directory of the Glue tables record format
	// conversion reads its schemas from, one <database>.<table>.json file
	// per table in `aws glue get-table` output form; "": conversion is
	// refused, naming the file it would read.
	GlueTables string
	// Lambda invokes the transform functions of Lambda processors; nil:
	// Lambda processors are refused.
	Lambda Invoker
	// Roles, when set (authentication on), is how Firehose acts as the
	// roles delivery streams name: the Lambda processor invokes its
	// function as the processor's or the destination's role, through an
	// Invoker that makes in-process requests with the context it is
	// given. Nil (dev mode): no role is assumed or checked.
	Roles awsproto.RoleAssumer
	// Router serves the in-process requests made as roles: with Roles
	// and Router set, a Kinesis source is read through Kinesis's API as
	// KinesisStreamSourceConfiguration.RoleARN.
	Router http.Handler
	// HTTPClient posts to HTTP endpoint destinations; nil: a client with
	// the system's trusted roots.
	HTTPClient *http.Client
	// CreateDelay is how long a new delivery stream stays CREATING.
	CreateDelay time.Duration
	// RetryBase is the first wait between delivery attempts (zero: 1 s,
	// as Firehose), doubled per retry up to RetryCap (zero: 120 s).
	RetryBase, RetryCap time.Duration
	// StreamLimit is the number of delivery streams per account and
	// region (zero: 50, AWS's default quota).
	StreamLimit int
	// ActivePartitions is the number of partitions a delivery stream with
	// dynamic partitioning buffers at once; the records of any more go to
	// the error output (zero: 500, AWS's default quota).
	ActivePartitions int
	// Quotas are the Direct PUT throughput quotas.
	Quotas Quotas
	Now    func() time.Time // nil: time.Now
}

// Service is the Firehose API and the delivery of its delivery streams.
type Service struct {
	opts   Options
	cat    storage.Catalog
	log    storage.Log
	logger *slog.Logger
	now    func() time.Time

	mu sync.Mutex
	// locks serialize the control operations of one delivery stream.
	locks map[string]*sync.Mutex
	// wake is signalled (never blocking) when records land in a
	// delivery stream's log, keyed by log number.
	wake  map[uint32]chan struct{}
	units map[string]*background.Unit
	// stats are the delivery streams' counters, by catalog key.
	stats map[string]*statsEntry
	// quotas are the delivery streams' Direct PUT quota buckets, by
	// catalog key.
	quotas map[string]*quotaState
	// ownRunner: the runner is the service's own, stopped by Close.
	ownRunner bool
	closed    bool
}

// New returns the service; Start resumes the delivery of stored delivery
// streams.
func New(opts Options) *Service {
	s := &Service{opts: opts, cat: opts.Catalog, log: opts.Log, logger: opts.Logger, now: opts.Now,
		locks: map[string]*sync.Mutex{}, wake: map[uint32]chan struct{}{}, units: map[string]*background.Unit{}, stats: map[string]*statsEntry{}}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.Runner == nil {
		s.opts.Runner = background.New(s.logger)
		s.ownRunner = true
	}
	if s.opts.RetryBase <= 0 {
		s.opts.RetryBase = time.Second
	}
	if s.opts.RetryCap <= 0 {
		s.opts.RetryCap = 120 * time.Second
	}
	if s.opts.StreamLimit <= 0 {
		s.opts.StreamLimit = 50
	}
	if s.opts.HTTPClient == nil {
		s.opts.HTTPClient = &http.Client{}
	}
	return s
}

// Start starts the delivery unit of every stored delivery stream.
func (s *Service) Start(ctx context.Context) error {
	all, err := s.list(ctx, "", "")
	if err != nil {
		return err
	}
	for _, d := range all {
		s.startUnit(d)
	}
	return nil
}

// Close stops the delivery units (when the runner is the service's own;
// otherwise the runner's owner stops them).
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	units := s.units
	s.units = map[string]*background.Unit{}
	s.mu.Unlock()
	for _, u := range units {
		u.Stop()
	}
	if s.ownRunner {
		s.opts.Runner.Stop()
	}
	return nil
}

// Served lists the operations this service implements; every other
// operation of the model answers 501 NotImplemented.
var Served = []string{
	"CreateDeliveryStream", "DeleteDeliveryStream", "DescribeDeliveryStream", "ListDeliveryStreams",
	"UpdateDestination", "PutRecord", "PutRecordBatch", "TagDeliveryStream", "UntagDeliveryStream",
	"ListTagsForDeliveryStream", "StartDeliveryStreamEncryption", "StopDeliveryStreamEncryption",
}

// Register serves the operations on the router under Firehose's target
// prefix.
func (s *Service) Register(r *awsproto.Router) {
	h := map[string]awsproto.Handler{
		"CreateDeliveryStream":          awsproto.Op(s.createDeliveryStream),
		"DeleteDeliveryStream":          awsproto.Op(s.deleteDeliveryStream),
		"DescribeDeliveryStream":        awsproto.Op(s.describeDeliveryStream),
		"ListDeliveryStreams":           awsproto.Op(s.listDeliveryStreams),
		"UpdateDestination":             awsproto.Op(s.updateDestination),
		"PutRecord":                     awsproto.Op(s.putRecord),
		"PutRecordBatch":                awsproto.Op(s.putRecordBatch),
		"TagDeliveryStream":             awsproto.Op(s.tagDeliveryStream),
		"UntagDeliveryStream":           awsproto.Op(s.untagDeliveryStream),
		"ListTagsForDeliveryStream":     awsproto.Op(s.listTagsForDeliveryStream),
		"StartDeliveryStreamEncryption": awsproto.Op(s.startEncryption),
		"StopDeliveryStreamEncryption":  awsproto.Op(s.stopEncryption),
	}
	for _, op := range firehoseapi.Operations {
		if _, ok := h[op.Name]; !ok {
			h[op.Name] = notImplemented(op.Name)
		}
	}
	r.Register(firehoseapi.TargetPrefix, firehoseapi.JSONVersion, h)
}

func notImplemented(name string) awsproto.Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		return nil, awsproto.NewError("NotImplemented",
			"Millrace does not implement Firehose %s; see docs/firehose.md", name).WithStatus(http.StatusNotImplemented)
	}
}

// authorize checks the IAM action firehose:<op> on a delivery stream of
// the caller ("" name: no resource).
func authorize(ctx context.Context, op, name string, reqTags map[string]string, tagKeys []string) error {
	info := awsproto.Info(ctx)
	res := "*"
	if name != "" {
		res = streamARN(info.Region, info.AccountID, name)
	}
	return awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "firehose:" + op, Resource: res, RequestTags: reqTags, TagKeys: tagKeys})
}

func caller(ctx context.Context) (account, region string) {
	info := awsproto.Info(ctx)
	return info.AccountID, info.Region
}

// lock serializes the control operations of one delivery stream.
func (s *Service) lock(key string) func() {
	s.mu.Lock()
	m := s.locks[key]
	if m == nil {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// wakeChan is the channel a delivery unit waits on for new records.
func (s *Service) wakeChan(log uint32) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.wake[log]
	if c == nil {
		c = make(chan struct{}, 1)
		s.wake[log] = c
	}
	return c
}

func (s *Service) signal(log uint32) {
	select {
	case s.wakeChan(log) <- struct{}{}:
	default:
	}
}

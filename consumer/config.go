package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
)

// KinesisClient is the part of the Kinesis API the worker calls;
// *kinesis.Client implements it.
type KinesisClient interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

// DynamoDBClient is the part of the DynamoDB API the lease table needs;
// *dynamodb.Client implements it.
type DynamoDBClient interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var (
	_ KinesisClient  = (*kinesis.Client)(nil)
	_ DynamoDBClient = (*dynamodb.Client)(nil)
)

// InitialPosition is where a worker starts reading a shard that has no
// lease yet and no processed parent.
type InitialPosition int

const (
	// StartLatest starts after the last record at the time the lease is
	// first read (the KCL's default).
	StartLatest InitialPosition = iota
	// StartTrimHorizon starts at the oldest record retained.
	StartTrimHorizon
	// StartAtTimestamp starts at Config.InitialTimestamp.
	StartAtTimestamp
)

// Retrieval selects how records are read.
type Retrieval int

const (
	// Polling reads with GetRecords (shared throughput).
	Polling Retrieval = iota
	// FanOut reads with SubscribeToShard through a registered stream
	// consumer (enhanced fan-out: dedicated throughput, pushed records).
	FanOut
)

// Config configures a Worker. The zero value of every duration and limit
// means its default, which is the KCL 2.x default (see EnsureDefaults).
type Config struct {
	// ApplicationName names the application; it is the default lease table
	// name and enhanced fan-out consumer name.
	ApplicationName string
	// Streams are the streams consumed, by name or ARN. With one stream the
	// lease keys are shard ids (as a single-stream KCL application's); with
	// more, or with MultiStream set, they are
	// "account:stream:creationEpoch:shardId".
	Streams     []string
	MultiStream bool
	// TableName is the lease table (default ApplicationName).
	TableName string
	// WorkerID identifies this worker in the lease table (default
	// hostname-uuid).
	WorkerID string
	// InitialPosition and InitialTimestamp say where new shards without a
	// processed parent start (default StartLatest).
	InitialPosition  InitialPosition
	InitialTimestamp time.Time

	// Retrieval selects GetRecords polling (default) or enhanced fan-out.
	Retrieval Retrieval
	// ConsumerName is the enhanced fan-out consumer registered on each
	// stream (default ApplicationName).
	ConsumerName string

	// FailoverTime is the lease duration: a lease whose counter has not
	// been seen to change for this long is expired (default 10 s).
	FailoverTime time.Duration
	// Epsilon is the safety margin of the lease timings (default 25 ms).
	Epsilon time.Duration
	// RenewInterval is how often held leases are renewed (default
	// FailoverTime/3 - Epsilon).
	RenewInterval time.Duration
	// TakeInterval is how often the lease table is scanned to take expired
	// leases and steal for balance (default 2*(FailoverTime+Epsilon)).
	TakeInterval time.Duration
	// MaxLeasesForWorker caps the leases held (default no cap).
	MaxLeasesForWorker int
	// MaxLeasesToStealAtOneTime caps the leases stolen per take (default 1).
	MaxLeasesToStealAtOneTime int
	// ShardSyncInterval is how often the shards are listed to create
	// leases for new shards (default 60 s).
	ShardSyncInterval time.Duration
	// ParentShardPollInterval is how often a child shard checks whether its
	// parents have ended (default 10 s).
	ParentShardPollInterval time.Duration
	// TaskBackoff is the wait after a failed call (default 500 ms).
	TaskBackoff time.Duration
	// KeepFinishedLeases keeps the leases of ended shards; by default they
	// are deleted once every child shard has checkpointed.
	KeepFinishedLeases bool

	// MaxRecords bounds one GetRecords call (default 10000).
	MaxRecords int32
	// IdleTimeBetweenReads is the pause between GetRecords calls on a shard
	// (default 1500 ms).
	IdleTimeBetweenReads time.Duration
	// MaxBackoff bounds the exponential back-off after throttling
	// (default 10 s).
	MaxBackoff time.Duration
	// CallProcessRecordsEvenForEmptyRecordList delivers empty batches too.
	CallProcessRecordsEvenForEmptyRecordList bool
	// ShutdownTimeout bounds a graceful shutdown when Run's context ends
	// (default 30 s).
	ShutdownTimeout time.Duration

	// Logger receives the worker's log; nil discards it.
	Logger *slog.Logger
}

// EnsureDefaults fills the zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if c.TableName == "" {
		c.TableName = c.ApplicationName
	}
	if c.ConsumerName == "" {
		c.ConsumerName = c.ApplicationName
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = host + "-" + uuid.NewString()
	}
	setDur(&c.FailoverTime, 10*time.Second)
	setDur(&c.Epsilon, 25*time.Millisecond)
	setDur(&c.RenewInterval, c.FailoverTime/3-c.Epsilon)
	setDur(&c.TakeInterval, 2*(c.FailoverTime+c.Epsilon))
	if c.MaxLeasesForWorker == 0 {
		c.MaxLeasesForWorker = 1<<31 - 1
	}
	if c.MaxLeasesToStealAtOneTime == 0 {
		c.MaxLeasesToStealAtOneTime = 1
	}
	setDur(&c.ShardSyncInterval, 60*time.Second)
	setDur(&c.ParentShardPollInterval, 10*time.Second)
	setDur(&c.TaskBackoff, 500*time.Millisecond)
	if c.MaxRecords == 0 {
		c.MaxRecords = 10000
	}
	setDur(&c.IdleTimeBetweenReads, 1500*time.Millisecond)
	setDur(&c.MaxBackoff, 10*time.Second)
	setDur(&c.ShutdownTimeout, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the settings out of range.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("consumer: "+format, args...))
		}
	}
	check(c.ApplicationName != "", "empty ApplicationName")
	check(len(c.Streams) > 0, "no stream to consume")
	seen := map[string]bool{}
	for _, s := range c.Streams {
		check(s != "", "empty stream name")
		check(!seen[s], "stream %s listed twice", s)
		seen[s] = true
	}
	check(c.TableName != "", "empty TableName")
	check(c.WorkerID != "", "empty WorkerID")
	check(c.InitialPosition >= StartLatest && c.InitialPosition <= StartAtTimestamp, "unknown InitialPosition %d", c.InitialPosition)
	check(c.InitialPosition != StartAtTimestamp || !c.InitialTimestamp.IsZero(), "StartAtTimestamp without an InitialTimestamp")
	check(c.Retrieval == Polling || c.Retrieval == FanOut, "unknown Retrieval %d", c.Retrieval)
	check(c.FailoverTime > 0, "FailoverTime %v out of range", c.FailoverTime)
	check(c.RenewInterval > 0 && c.RenewInterval < c.FailoverTime, "RenewInterval %v must be positive and below FailoverTime %v", c.RenewInterval, c.FailoverTime)
	check(c.TakeInterval > 0, "TakeInterval %v out of range", c.TakeInterval)
	check(c.MaxLeasesForWorker > 0, "MaxLeasesForWorker %d out of range", c.MaxLeasesForWorker)
	check(c.MaxLeasesToStealAtOneTime > 0, "MaxLeasesToStealAtOneTime %d out of range", c.MaxLeasesToStealAtOneTime)
	check(c.ShardSyncInterval > 0, "ShardSyncInterval %v out of range", c.ShardSyncInterval)
	check(c.ParentShardPollInterval > 0, "ParentShardPollInterval %v out of range", c.ParentShardPollInterval)
	check(c.TaskBackoff > 0, "TaskBackoff %v out of range", c.TaskBackoff)
	check(c.MaxRecords >= 1 && c.MaxRecords <= 10000, "MaxRecords %d out of range 1..10000", c.MaxRecords)
	check(c.IdleTimeBetweenReads > 0, "IdleTimeBetweenReads %v out of range", c.IdleTimeBetweenReads)
	check(c.MaxBackoff >= c.TaskBackoff, "MaxBackoff %v below TaskBackoff %v", c.MaxBackoff, c.TaskBackoff)
	check(c.ShutdownTimeout > 0, "ShutdownTimeout %v out of range", c.ShutdownTimeout)
	return errors.Join(errs...)
}

func (c *Config) multiStream() bool { return c.MultiStream || len(c.Streams) > 1 }

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

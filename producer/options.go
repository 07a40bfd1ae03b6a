package producer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/millrace/millrace/aggregation"
)

// Kinesis limits the defaults follow.
const (
	maxRecordsPerRequest = 500
	maxRequestBytes      = 5 << 20 // PutRecords request, keys included (AWS: 5 MiB)
	shardRecordsPerSec   = 1000
	shardBytesPerSec     = 1 << 20
)

// Options configure a Producer. The zero value of every field means its
// default (see EnsureDefaults).
type Options struct {
	// DisableAggregation puts every user record as its own Kinesis record.
	// Aggregation (the default) packs records predicted to go to the same
	// shard into KPL aggregates.
	DisableAggregation bool
	// AggregationMaxSize bounds one aggregated record in bytes (default
	// 51200, the KPL's).
	AggregationMaxSize int
	// AggregationMaxCount bounds the user records in one aggregate
	// (default: no bound but the size).
	AggregationMaxCount int
	// ConsumerRangeFilter says how the stream's consumers read an aggregate
	// that landed, after a reshard the producer had not yet seen, on a
	// shard that does not own all of its user records. With
	// aggregation.DropOutside (the default; this module's consumer) they
	// skip only the records outside the shard, so the producer puts only
	// those again. With aggregation.DropAggregate (the KCL) they skip the
	// whole aggregate, so the producer puts all of its records again.
	// Either way each record is read once by consumers that filter as
	// declared.
	ConsumerRangeFilter aggregation.RangeFilter
	// CollectionMaxCount bounds the Kinesis records of one PutRecords call
	// (default and maximum 500).
	CollectionMaxCount int
	// CollectionMaxSize bounds one PutRecords call in bytes of data and
	// partition keys (default 5 MiB).
	CollectionMaxSize int
	// RecordMaxBufferedTime is how long a record may wait for others to
	// fill a batch (default 100 ms). Records do not wait while a Put waits
	// for buffer space.
	RecordMaxBufferedTime time.Duration
	// RecordTTL is how long a record may stay in the producer, retries
	// included, before it fails with ErrExpired (default 30 s).
	RecordTTL time.Duration
	// RateLimitFactor scales the per-shard limits the producer keeps to
	// (default 1.0: 1000 records/s and 1 MiB/s per shard, Kinesis's own).
	// The producer sends at 98% of the scaled limits, bursts half a second
	// of them at most, and slows a shard down while the stream throttles
	// it; set the factor below 1 to leave room for other writers of the
	// same shards.
	RateLimitFactor float64
	// ShardRecordsPerSecond and ShardBytesPerSecond are the per-shard
	// write limits before RateLimitFactor (default 1000 and 1 MiB).
	ShardRecordsPerSecond, ShardBytesPerSecond int
	// DisableRateLimit sends as fast as the stream accepts.
	DisableRateLimit bool
	// MaxBufferedBytes bounds the memory the producer holds for records not
	// yet acknowledged: data plus keys (default 64 MiB). When it is full Put
	// blocks, or fails with ErrBufferFull when FailWhenFull is set.
	MaxBufferedBytes int64
	// FailWhenFull makes Put fail at once instead of blocking.
	FailWhenFull bool
	// PreserveOrder keeps the order of records with the same partition key
	// by sending at most one PutRecords call per shard at a time and
	// putting failed records back at the head of their shard's queue.
	PreserveOrder bool
	// MaxInFlightPerShard bounds concurrent PutRecords calls per shard
	// when PreserveOrder is off (default 4).
	MaxInFlightPerShard int
	// MaxConnections bounds concurrent PutRecords calls (default 24).
	MaxConnections int
	// RequestTimeout bounds one PutRecords or ListShards call (default 6 s).
	RequestTimeout time.Duration
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff with
	// jitter between attempts (defaults 100 ms and 5 s).
	RetryBaseDelay, RetryMaxDelay time.Duration
	// MaxRecordSize bounds one user record's data plus partition key
	// (default 1 MiB).
	MaxRecordSize int
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// EnsureDefaults fills the zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&o.AggregationMaxSize, 51200)
	setInt(&o.AggregationMaxCount, 1<<31-1)
	setInt(&o.CollectionMaxCount, maxRecordsPerRequest)
	setInt(&o.CollectionMaxSize, maxRequestBytes)
	setDur(&o.RecordMaxBufferedTime, 100*time.Millisecond)
	setDur(&o.RecordTTL, 30*time.Second)
	if o.RateLimitFactor == 0 {
		o.RateLimitFactor = 1
	}
	setInt(&o.ShardRecordsPerSecond, shardRecordsPerSec)
	setInt(&o.ShardBytesPerSecond, shardBytesPerSec)
	if o.MaxBufferedBytes == 0 {
		o.MaxBufferedBytes = 64 << 20
	}
	setInt(&o.MaxInFlightPerShard, 4)
	setInt(&o.MaxConnections, 24)
	setDur(&o.RequestTimeout, 6*time.Second)
	setDur(&o.RetryBaseDelay, 100*time.Millisecond)
	setDur(&o.RetryMaxDelay, 5*time.Second)
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = int(min(1<<20, o.MaxBufferedBytes))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first setting out of range, naming it.
func (o *Options) Validate() error {
	var errs []error
	check := func(ok bool, name string, v any) {
		if !ok {
			errs = append(errs, fmt.Errorf("producer: %s %v out of range", name, v))
		}
	}
	check(o.AggregationMaxSize >= 64 && o.AggregationMaxSize <= 10<<20, "AggregationMaxSize", o.AggregationMaxSize)
	check(o.AggregationMaxCount >= 1, "AggregationMaxCount", o.AggregationMaxCount)
	check(o.CollectionMaxCount >= 1 && o.CollectionMaxCount <= maxRecordsPerRequest, "CollectionMaxCount", o.CollectionMaxCount)
	check(o.CollectionMaxSize >= 1 && o.CollectionMaxSize <= 10<<20, "CollectionMaxSize", o.CollectionMaxSize)
	check(o.RecordMaxBufferedTime > 0, "RecordMaxBufferedTime", o.RecordMaxBufferedTime)
	check(o.RecordTTL > 0, "RecordTTL", o.RecordTTL)
	check(o.RateLimitFactor > 0, "RateLimitFactor", o.RateLimitFactor)
	check(o.ShardRecordsPerSecond > 0, "ShardRecordsPerSecond", o.ShardRecordsPerSecond)
	check(o.ShardBytesPerSecond > 0, "ShardBytesPerSecond", o.ShardBytesPerSecond)
	check(o.MaxBufferedBytes > 0, "MaxBufferedBytes", o.MaxBufferedBytes)
	check(o.MaxInFlightPerShard >= 1, "MaxInFlightPerShard", o.MaxInFlightPerShard)
	check(o.MaxConnections >= 1, "MaxConnections", o.MaxConnections)
	check(o.RequestTimeout > 0, "RequestTimeout", o.RequestTimeout)
	check(o.RetryBaseDelay > 0 && o.RetryMaxDelay >= o.RetryBaseDelay, "RetryBaseDelay/RetryMaxDelay", fmt.Sprint(o.RetryBaseDelay, "/", o.RetryMaxDelay))
	check(o.ConsumerRangeFilter == aggregation.DropOutside || o.ConsumerRangeFilter == aggregation.DropAggregate, "ConsumerRangeFilter", o.ConsumerRangeFilter)
	check(o.MaxRecordSize >= 1 && int64(o.MaxRecordSize) <= o.MaxBufferedBytes, "MaxRecordSize (must fit MaxBufferedBytes)", o.MaxRecordSize)
	return errors.Join(errs...)
}

package consumer

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

// Record is one user record delivered to a processor: a plain Kinesis
// record, or one user record out of a KPL aggregate (Aggregated set, its
// index in the aggregate in SubSequenceNumber).
type Record = aggregation.UserRecord

// RecordProcessor processes the records of one shard. The worker makes one
// per lease it processes (through the ProcessorFactory) and calls its
// methods from a single goroutine, in the order of the KCL's
// ShardRecordProcessor: Initialize once, ProcessRecords any number of times,
// then exactly one of LeaseLost, ShardEnded or ShutdownRequested (the last
// followed by LeaseLost once the lease has been released).
type RecordProcessor interface {
	// Initialize is called before the first records, with the checkpoint
	// the shard resumes from.
	Initialize(ctx context.Context, in InitializationInput)
	// ProcessRecords handles a batch of records in shard order. The
	// processor checkpoints through in.Checkpointer when it sees fit;
	// records not checkpointed are delivered again to the next owner of the
	// lease.
	ProcessRecords(ctx context.Context, in ProcessRecordsInput)
	// LeaseLost is called when another worker took the lease or it could
	// not be renewed in time. The processor can no longer checkpoint.
	LeaseLost(ctx context.Context, in LeaseLostInput)
	// ShardEnded is called after the last record of a closed shard. The
	// processor must call in.Checkpointer.Checkpoint, which records
	// SHARD_END; until it does, the shard's children are not processed and
	// the worker calls ShardEnded again after a back-off.
	ShardEnded(ctx context.Context, in ShardEndedInput)
	// ShutdownRequested is called on a graceful shutdown of the worker
	// while the lease is still held, so the processor can checkpoint its
	// progress.
	ShutdownRequested(ctx context.Context, in ShutdownRequestedInput)
}

// ProcessorFactory makes a processor for a lease.
type ProcessorFactory func() RecordProcessor

// InitializationInput is the input of RecordProcessor.Initialize.
type InitializationInput struct {
	// ShardID is the shard the processor is for.
	ShardID string
	// StreamName is the stream of the shard, in a multi-stream worker the
	// stream identifier "account:name:creationEpoch".
	StreamName string
	// Checkpoint is where processing resumes (exclusive): a sequence number
	// with its sub-sequence number, or a sentinel (TRIM_HORIZON, LATEST,
	// AT_TIMESTAMP).
	Checkpoint ExtendedSequenceNumber
	// PendingCheckpoint is a checkpoint prepared but not committed by a
	// previous owner, or nil; PendingCheckpointState is the application
	// state saved with it.
	PendingCheckpoint      *ExtendedSequenceNumber
	PendingCheckpointState []byte
}

// ProcessRecordsInput is the input of RecordProcessor.ProcessRecords.
type ProcessRecordsInput struct {
	// Records are user records in shard order; aggregates are unpacked and
	// records at or before the checkpoint are left out.
	Records []Record
	// Checkpointer records progress in the lease table.
	Checkpointer *Checkpointer
	// MillisBehindLatest is how far the read was behind the tip of the
	// shard, as Kinesis reported it.
	MillisBehindLatest int64
	// IsAtShardEnd is true for the last batch of a closed shard.
	IsAtShardEnd bool
	// ChildShards are the shard's children when IsAtShardEnd.
	ChildShards []types.ChildShard
	// CacheEntryTime and CacheExitTime are when the batch was fetched and
	// when it was handed to the processor.
	CacheEntryTime, CacheExitTime time.Time
}

// LeaseLostInput is the input of RecordProcessor.LeaseLost.
type LeaseLostInput struct{}

// ShardEndedInput is the input of RecordProcessor.ShardEnded.
type ShardEndedInput struct {
	// Checkpointer.Checkpoint records SHARD_END; the processor must call it.
	Checkpointer *Checkpointer
}

// ShutdownRequestedInput is the input of RecordProcessor.ShutdownRequested.
type ShutdownRequestedInput struct {
	Checkpointer *Checkpointer
}

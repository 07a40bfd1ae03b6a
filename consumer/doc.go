// Package consumer reads Kinesis data streams with a fleet of workers that
// share the shards, as the Kinesis Client Library (KCL 2.x) does, through
// the public Kinesis and DynamoDB APIs (aws-sdk-go-v2), so it works
// unchanged against Millrace and against AWS.
//
// A Worker takes an application name, one or more streams and a
// ProcessorFactory. Workers of the same application coordinate through a
// lease table in DynamoDB, one lease per shard, in the KCL 2.x schema
// (leaseKey, leaseOwner, leaseCounter, checkpoint,
// checkpointSubSequenceNumber, ownerSwitchesSinceCheckpoint, parentShardId,
// childShardIds, pendingCheckpoint..., same names and types) and with the
// KCL's conditional-write protocol (legacy Expected/AttributeUpdates on
// leaseCounter), so Go workers and Java KCL 2.x workers can share a table.
//
// How the leases move:
//
//   - Every lease holder renews its leases every RenewInterval by
//     incrementing leaseCounter on the condition that it still has the
//     value it last wrote. A failed condition means another worker took the
//     lease: the processor is told through LeaseLost.
//   - Every TakeInterval each worker scans the table. Expiry is local: a
//     lease is expired when this worker has not seen its counter change for
//     FailoverTime, on its own monotonic clock, so workers need no
//     synchronized clocks. A worker takes expired and unowned leases up to
//     its fair share (leases divided by live workers), the longest-expired
//     first; when there is none it steals from the most loaded worker (at
//     most MaxLeasesToStealAtOneTime at a time).
//   - Shard sync (at start, every ShardSyncInterval, and when a shard ends)
//     lists the shards with ListShards (with a ShardFilter for the initial
//     position on an empty table) and creates the missing leases: children
//     of processed shards at TRIM_HORIZON, so nothing is skipped after a
//     reshard, others at the initial position.
//   - A child shard is processed only after all its parents have
//     checkpointed SHARD_END. A finished lease is deleted once every child
//     has checkpointed.
//
// Records are read by polling (GetRecords every IdleTimeBetweenReads,
// with exponential back-off while the shard's read throughput is
// exceeded) or by enhanced fan-out (SubscribeToShard through a stream
// consumer the worker registers). KPL aggregates are unpacked into user
// records numbered with sub-sequence numbers, and user records outside the
// shard's hash range are dropped (see package aggregation). A checkpoint is
// a sequence number and a sub-sequence number; a new owner resumes right
// after it.
//
// A RecordProcessor follows the KCL's ShardRecordProcessor lifecycle:
// Initialize, ProcessRecords (with a Checkpointer), then LeaseLost,
// ShardEnded (which must checkpoint, recording SHARD_END) or
// ShutdownRequested (on a graceful Shutdown, while the lease is still
// held, followed by LeaseLost once it is released).
//
// The defaults are the KCL's: failover time 10 s, renewal every 3.308 s,
// taking every 20.05 s, shard sync every 60 s, parent poll 10 s,
// GetRecords of up to 10000 records every 1.5 s, initial position LATEST.
// A worker that dies leaves its leases to expire; others take them after
// the failover time and the next scan. A lower TakeInterval (say
// FailoverTime/5) rebalances faster at the cost of more scans.
//
// Worker.Collector exports Prometheus metrics: millis_behind_latest per
// shard, records_processed_total per stream, lease counts (held, total,
// live workers), takes, steals, losses, checkpoints, GetRecords calls and
// throttles.
package consumer

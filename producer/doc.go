// Package producer writes records to a Kinesis data stream efficiently,
// through the public Kinesis API (aws-sdk-go-v2), so it works unchanged
// against Millrace and against AWS.
//
// It does what the Kinesis Producer Library does (per-shard batching into
// PutRecords calls, KPL aggregation of records bound for the same shard,
// a linger time, retries) and fixes the KPL's best-known problems:
//
//   - memory is bounded: MaxBufferedBytes caps the data held, and Put
//     blocks (or fails fast with FailWhenFull) when it is reached, which is
//     back-pressure for the caller;
//   - each shard has token buckets in records and bytes at the Kinesis
//     shard limits times RateLimitFactor, so the producer does not provoke
//     throttling, and failed records are retried with exponential backoff
//     and jitter rather than at once;
//   - a record that cannot be written within RecordTTL fails with an error
//     wrapping ErrExpired that names the last failure.
//
// The shard map comes from ListShards and is reloaded when a record lands
// on a shard other than the predicted one (after a reshard). An aggregate
// that lands on a shard not owning some of its records has those records
// put again, as the KPL does; consumers should drop such records with
// aggregation.DeaggregateInRange.
//
// With PreserveOrder, records with the same partition key are written in
// the order of Put: one PutRecords call per shard at a time, failed
// records go back to the head of their shard's queue, the queue of a shard
// born of a reshard sends nothing while its parents' calls are in flight,
// and a hash key packed in an aggregate appears in no later record of the
// same call (an aggregate landing on the wrong shard has its records put
// again, which later ones must not overtake). Set ConsumerRangeFilter to
// the way the stream's consumers filter aggregates (the KCL drops an
// aggregate holding any record outside its shard) so that each record is
// read once across reshards. A PutRecords answer
// that fails a record but accepts a later one of the same key (which
// Kinesis can do) still reorders them, as with the KPL.
package producer

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
//   - each shard has token buckets in records and bytes, counted as
//     Kinesis counts them (an aggregate is one record of its whole size,
//     partition key included), at 98% of the shard limits times
//     RateLimitFactor and holding half a second, and its rate is cut when
//     the stream throttles it anyway (see limiter.go), so the producer
//     holds the shards' limits without provoking throttling; failed records
//     are retried with exponential backoff and jitter, through the same
//     buckets, rather than at once;
//   - a record that cannot be written within RecordTTL fails with an error
//     wrapping ErrExpired that names the last failure.
//
// Memory is bounded by MaxBufferedBytes: against an endpoint that never
// answers, with writers putting 32 times the limit, Put blocks at the
// limit and the Go heap in use grows by about 2.6 times it (the records,
// and the base64-in-JSON requests carrying them, in flight and retried);
// the test checks the heap after GC rather than the process RSS, which in
// a shared test process reflects earlier tests and the runtime's lazy
// return of memory to the OS, not the producer.
//
// Throughput against the in-process server on a shared 2-core machine
// (BenchmarkProducer, 4 shards, limits off): 100-byte records 61,300/s
// unaggregated and 83,800/s aggregated (1.37×); 1 KiB records about
// 23,000/s (23 MB/s) either way. Against shard limits the gain for small
// records is larger: a shard takes 1,000 records/s unaggregated, and about
// 9,000 aggregated 100-byte records/s within its 1 MiB/s. Against the
// server's default limits, saturated, the producer holds about 98% of the
// binding limit with no record throttled (TestShardLimitsMeasurement,
// docs/performance.md).
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

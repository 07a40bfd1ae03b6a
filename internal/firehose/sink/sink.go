// Package sink declares what the delivery engine of a Firehose delivery
// stream hands to a destination, and what a destination answers. Each
// destination (S3, PostgreSQL as the Redshift analogue, HTTP endpoint,
// OpenSearch, Splunk) implements Destination in a package of its own under
// internal/firehose; the engine buffers, retries, backs up and keeps
// durable progress, so a destination only writes one batch.
package sink

import (
	"context"
	"time"
)

// Record is one record as the destination receives it: after the
// transform function and the processors (deaggregation, delimiter).
type Record struct {
	// ID is the record's id within its delivery stream, the same on
	// every attempt (the transform function's recordId).
	ID string
	// Data is the record's bytes.
	Data []byte
	// Arrival is when the delivery stream accepted the record.
	Arrival time.Time
}

// Batch is one buffer's worth of records for one destination and, with
// dynamic partitioning, one partition.
type Batch struct {
	// ID is stable across retries of the same batch (the HTTP endpoint's
	// X-Amz-Firehose-Request-Id; an S3 object's unique suffix).
	ID string
	// Stream is the delivery stream's name, and Version its destination
	// version id as DescribeDeliveryStream shows it.
	Stream  string
	Version int
	// Records are in the order the delivery stream accepted them.
	Records []Record
	// PartitionKeys are the dynamic partitioning keys of every record in
	// the batch (from jq queries or the transform function), nil without
	// dynamic partitioning.
	PartitionKeys map[string]string
	// Approximate: the arrival of the batch's first record, which object
	// names and timestamps in prefixes use.
	FirstArrival time.Time
}

// Destination writes a batch. Deliver returns nil only once the whole batch
// is durable in the destination; an error means the engine retries the
// same batch (same ID) until its retry duration ends, then backs it up.
// A destination that can reject single records (OpenSearch bulk items, for
// example) returns them as Rejected; the engine sends those to the backup
// and does not retry the rest.
type Destination interface {
	Deliver(ctx context.Context, b *Batch) (Result, error)
	// Close releases connections.
	Close() error
}

// Result is what a successful Deliver reports.
type Result struct {
	// Rejected are the indexes in Batch.Records the destination refused
	// one by one, with why.
	Rejected []Rejection
	// Location names what was written (an object key, a table and row
	// count), for logs and DescribeDeliveryStream.
	Location string
}

// Rejection is one record a destination refused.
type Rejection struct {
	Index   int
	Code    string
	Message string
}

// Encoder turns a batch's records into one object body: S3 writes the
// records as they are (concatenated) or converted to a columnar format.
type Encoder interface {
	// Encode returns the body of the records that encode and the indexes
	// of those that do not (a record that is not JSON, or does not fit the
	// schema), which the engine writes under the error output prefix with
	// the error type "format-conversion-failed".
	Encode(records []Record) (body []byte, failed []Rejection, err error)
	// Extension is the object name's suffix, e.g. ".parquet", or "" for
	// records as they are.
	Extension() string
}

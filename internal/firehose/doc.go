// Package firehose serves the Amazon Data Firehose API (Firehose_20150804,
// AWS JSON 1.1) on the server's endpoint and runs the delivery of every
// delivery stream.
//
// A Direct PUT record is appended to an internal storage log of its
// delivery stream before PutRecord answers, so an acknowledged record
// survives a crash. A Kinesis-source delivery stream reads its stream
// through the streams domain. Either way, one background unit per
// delivery stream buffers records by its destination's buffering hints
// (with dynamic partitioning, one buffer per partition: partition.go),
// runs the processors, hands batches to a sink.Destination and, once a
// batch is delivered (or, after its retries, written to the error
// output), stores in the catalog how far the source has been delivered.
// Delivery is at least once: a crash between a delivery and that write
// delivers the batch again.
package firehose

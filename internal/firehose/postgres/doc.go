// Package postgres is the Redshift destination of a Firehose delivery
// stream, loading into PostgreSQL. Redshift's flow stages a batch in S3 and
// runs COPY table (columns) FROM 's3://...' with the stream's CopyOptions;
// here the batch goes as COPY table (columns) FROM STDIN in the same
// transaction-per-batch way, with the Redshift options that apply mapped
// to what PostgreSQL's COPY does (see docs/firehose-destinations.md).
//
// Delivery is at-least-once, as Firehose's to Redshift: one COPY is one
// transaction, so a failed batch loads nothing, but a batch whose COPY
// committed and whose answer was lost is loaded again on retry.
package postgres

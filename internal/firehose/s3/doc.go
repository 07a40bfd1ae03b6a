// Package s3 is the S3 destination of a Firehose delivery stream: it
// names objects as Firehose does (prefix expressions, the default hour
// prefix, <stream>-<version>-<time>-<uuid>), encodes and compresses a
// batch and writes it through an S3 client. It also writes the error
// output and backup objects the delivery engine hands it.
package s3

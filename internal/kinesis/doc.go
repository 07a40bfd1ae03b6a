// Package kinesis serves the Amazon Kinesis Data Streams API
// (X-Amz-Target Kinesis_20131202.*) on top of the streams domain. Each file
// holds one family of operations; each handler translates the generated
// kinesisapi shapes to domain calls and back. Input shapes are validated by
// the generated code before a handler runs; errors.go is the one place where
// domain errors become AWS error codes.
package kinesis

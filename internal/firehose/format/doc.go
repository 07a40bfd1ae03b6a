// Package format converts a Firehose delivery stream's JSON records to a
// columnar format, as DataFormatConversionConfiguration asks: the schema is
// the Glue table's columns (names and Hive types) given inline, the
// deserializer is OpenXJsonSerDe or HiveJsonSerDe, and the serializer is
// ParquetSerDe.
//
// ORC (OrcSerDe) is refused with ErrORCUnsupported: no maintained Go ORC
// writer exists. github.com/scritchley/orc, the only pure-Go one, has no
// tagged release, has not changed since May 2021, and the module proxy
// here does not serve it.
//
// A record that is not JSON, or whose values do not fit the schema, is not
// written; Encode returns it as a Rejection, which the delivery engine
// writes under the error output prefix with the error type
// "format-conversion-failed", as Firehose does.
package format

// Package cloudwatch serves a subset of the Amazon CloudWatch API
// (GetMetricStatistics, GetMetricData, ListMetrics) for the metrics
// Millrace counts itself: namespace AWS/Kinesis today, with the Source
// interface for further namespaces (AWS/Firehose, AWS/Lambda).
//
// An Aggregator samples every Source's running totals at each minute
// boundary and appends the minute's differences (Sum, SampleCount and,
// where the source knows them, Minimum, Maximum and a histogram) to an
// internal storage Log, one record per minute keyed by its time, trimmed
// past the retention horizon. Queries read the minutes they cover from
// the log and merge the live counters of the minute still open, as
// CloudWatch shows a partial current minute.
package cloudwatch

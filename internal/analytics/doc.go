// Package analytics runs continuous SQL applications over streams: the
// applications Kinesis Data Analytics for SQL ran, written in its dialect
// (CREATE OR REPLACE STREAM / PUMP, SELECT STREAM, GROUP BY ...
// STEP(ROWTIME BY INTERVAL ...), WINDOWED BY STAGGER) or with Flink SQL's
// window table functions (TUMBLE, HOP, SESSION, CUMULATE).
//
// The SQL itself is not evaluated here. A small rewrite layer (rewrite.go)
// recognises the streaming forms, records the window they ask for and
// turns the rest into an ordinary SELECT, which Vitess's MySQL parser
// parses; every scalar expression (filters, projections, group keys,
// aggregate arguments, HAVING) is compiled to a program of a small
// expression language (eval.go) with SQL's NULL semantics supplied as
// functions (functions.go). What is left
// is the streaming part: input schemas (schema.go), event time,
// watermarks and windows with keyed aggregate state (operator.go), joins
// with reference tables (join.go, reference.go), window Top-N and KDA's
// TOP_K_ITEMS_TUMBLING (topk.go), approximate distinct counts
// (approx.go), KDA's sliding windows (sliding.go), pumps reading other
// pumps' in-application streams (chain.go), and applications that read
// Millrace streams, checkpoint that state with their source positions in
// the catalog and write each window's result once to a stream, or at
// least once to a Firehose delivery stream or a Lambda function (app.go,
// sinks.go, service.go).
package analytics

// Package aggregation reads and writes the KPL aggregated-record format, the
// container the Kinesis Producer Library packs many user records into so
// that one Kinesis record (and one unit of the per-shard records/s limit)
// carries many of them. Consumers built on the KCL, Firehose and the awslabs
// deaggregators unpack it.
//
// An aggregated record is
//
//	magic F3 89 9A C2 | protobuf AggregatedRecord | MD5(protobuf) (16 bytes)
//
// where AggregatedRecord holds a partition-key table, an explicit-hash-key
// table (decimal strings) and the records, each naming its keys by index
// into the tables (messages.proto has the schema).
//
// An Aggregator builds one aggregated record and knows its exact encoded
// size before it is built, so a producer can fill containers to a size limit.
// Deaggregate unpacks the records GetRecords returns, numbering the user
// records of each aggregate with sub-sequence numbers from 0, and passing
// through unchanged any record that is not a valid aggregate (bad magic, bad
// MD5, bad protobuf, or a key index outside its table), as the KCL does.
// Given a shard's hash-key range it drops user records whose effective hash
// key (the explicit hash key, else the MD5 of the partition key) lies
// outside the range.
package aggregation

//go:generate protoc --go_out=internal/aggpb --go_opt=paths=source_relative messages.proto

// Package pebble is Millrace's default storage engine: every shard's record
// log and the catalog in one Pebble database per data directory.
//
// Durability: an Append returns only after the write-ahead log holding its
// batch is fsync'd. Concurrent Appends, to the same shard or to different
// ones, share WAL syncs through Pebble's commit pipeline (group commit):
// sequence numbers are assigned and the batch applied under a per-shard
// lock, and the fsync is awaited outside it. Readers see a shard only up to
// its durable watermark, the end of the longest run of synced Appends, so
// they never see a record that a crash could take away.
//
// State kept in memory per shard (next sequence number, last arrival,
// watermark) is rebuilt on first use from the shard's first and last keys,
// so Open does not scan the database.
//
// Options.InMemory runs the same engine on Pebble's in-memory filesystem.
//
// The key layout is described in keys.go.
package pebble

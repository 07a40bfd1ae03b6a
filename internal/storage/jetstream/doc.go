// Package jetstream is Millrace's cluster storage engine: every shard's
// record log is a NATS JetStream stream and the catalog is a JetStream
// key-value bucket, so that several Millrace nodes share one replicated
// store (three replicas in a cluster, one on a lone server) without any
// replication code of Millrace's own.
//
// Decisions, and why:
//
//   - One JetStream stream per shard, file storage, named
//     <prefix>-log-<stream>-<shard> on the subject <prefix>.log.<stream>.<shard>.
//     Reading one shard never skips another shard's messages.
//   - One message per Append. The message carries every entry of the
//     Append (length-prefixed), its arrival time and its entry count in
//     headers. That makes an Append all-or-nothing and its records
//     contiguous without JetStream's atomic batches (a staging store per
//     batch, about 4 times slower), and costs one publish and one
//     replication round per shard per PutRecords instead of one per record.
//   - Sequence numbers: the record i of n in the message at stream
//     sequence m is m<<16 + 2^16 - n + i. Numbers increase with m, are
//     contiguous within an Append, and the last record of message m is
//     (m+1)<<16 - 1, so Bounds.Next is (last stream sequence + 1)<<16 from
//     the stream's state alone. An Append holds at most 2^16 entries.
//   - Publishes carry Nats-Msg-Id (one id per Append, kept across retries,
//     so a retried Append whose first try was stored is stored once) and
//     Nats-Expected-Last-Sequence: arrivals must not decrease within a shard
//     whichever node appends, so a node that finds another node appended
//     since it last looked reloads the shard's last arrival and tries again.
//   - DenyDelete, never Sealed (sealing turns age expiry off and cannot be
//     undone). CloseShard appends a closing marker instead (no entries,
//     header Mr-Closed), without an expected last sequence so that other
//     nodes' Appends cannot keep it out: an Append after it expects a
//     sequence that is no longer the last, reloads the shard, finds the
//     marker and fails with storage.ErrShardClosed, through whichever
//     node. Trim never drops the marker, and a search by time sees it as
//     later than every record; Bounds.Next of a closed shard is the
//     marker's first number, so the domain's ending sequence number is
//     below every number it could give.
//     DenyPurge is off: Trim drops whole Appends older than a time with a
//     purge up to a stream sequence, found by searching the arrival
//     headers. When Trim drops every message, the last arrival (which
//     Bounds keeps) is first written to the stream's metadata.
//   - Reads are batched direct gets (DIRECT.GET with batch and max_bytes,
//     nats-server 2.11 or later); any replica may answer, so a read through
//     one node can trail an Append acknowledged through another by the
//     replication delay, never by a record that could be lost.
//   - SeekTime searches the arrival headers (binary search over stream
//     sequences, the first and last messages checked first): JetStream's
//     own timestamps are the stream leader's clock, not the arrival the
//     domain assigned, so a start-time lookup alone could be off by the
//     clock skew between nodes.
//   - The catalog is a key-value bucket (<prefix>-catalog) whose stream is
//     created without direct gets, so every Get is answered by the stream
//     leader and follows every acknowledged Put; Put and Delete are
//     compare-and-set on the bucket's revision (the stream sequence).
//     Catalog keys are arbitrary bytes; each "/"-separated part becomes one
//     subject token ("_" followed by the part with bytes outside
//     [A-Za-z0-9_-] written as =XX), so List narrows by whole parts on the
//     server and by the rest on the client.
//
// Publish and Subscribe carry the domain's messages between nodes
// (streams.Peers) on plain NATS subjects <prefix>.peer.<topic>: at most
// once, nothing stored.
//
// Durability: on a lone server the embedded server runs with SyncAlways,
// so an Append is fsync'd before it is acknowledged; with three replicas an
// acknowledged Append is on a quorum (JetStream relaxes SyncAlways there to
// its Raft log's own syncs).
package jetstream

// Package streams is Millrace's domain: Kinesis data streams, their shards
// and hash ranges, lifecycle (CREATING, ACTIVE, UPDATING, DELETING),
// account quotas, tags, retention, resource policies and settings, and the
// data path (records, sequence numbers, iterators).
//
// Metadata lives in the storage Catalog, one JSON document per stream,
// written with compare-and-set. In memory, each stream is an immutable
// snapshot (*Stream) in a map: the data path reads a snapshot under a read
// lock and never waits for the control path. A change builds a new snapshot,
// stores it in the catalog and only then publishes it, all under one
// control-path mutex, so a snapshot readers see is always durable.
//
// Lock order: ctl (control path) before mu (the snapshot map). Background
// work (state transitions, retention trimming) stops on Close; transitions
// resume at the next New from deadlines stored with each stream.
//
// Records are read and written through the storage Log; this package never
// imports an engine or a wire protocol.
package streams

// Package backup writes and reads Millrace's backup files: a consistent
// copy of what a storage engine holds (every catalog entry, and every
// shard's bounds and records with their sequence numbers and arrival
// times), in a versioned format of checksummed frames described in
// format.go and docs/running.md. Engines take part through the optional
// storage.Exporter and storage.Importer interfaces.
package backup

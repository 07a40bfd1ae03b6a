// Package agent ships lines appended to log files into Kinesis data
// streams, reading the JSON configuration of the Amazon Kinesis Agent
// (agent.json). It is a client of the public Kinesis API (aws-sdk-go-v2
// through the producer package), so it works against Millrace and AWS.
//
// Unlike the Java agent it delivers every complete line exactly once
// across rotation (rename, copytruncate, delete), restarts and crashes:
//
//   - a tracked file is a byte sequence identified by its device, inode
//     and a fingerprint of its first bytes (up to 1 KiB), so a reused inode
//     or a file truncated and refilled between polls is not mistaken for
//     the old one, and a copy made by copytruncate continues the original
//     at the offset the original had reached;
//   - a line without its newline yet is never sent;
//   - the checkpoint (a JSON file replaced atomically) holds, per tracked
//     file, the offset up to which every record is acknowledged;
//   - after a stop that left records unacknowledged (a crash, SIGKILL, an
//     endpoint down at shutdown) the agent reads the stream back from
//     shortly before the oldest unacknowledged record and skips the
//     records it finds there, recognised by their partition keys, which
//     encode the file and offset of the record (RANDOM) or are the MD5 of
//     the record (DETERMINISTIC, as in the Java agent).
package agent

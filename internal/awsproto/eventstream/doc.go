// Package eventstream encodes and decodes the binary message framing of
// the AWS event-stream protocol, media type
// application/vnd.amazon.eventstream.
//
// Kinesis SubscribeToShard answers with an HTTP 200 whose body is a sequence
// of these messages: first an initial-response event, then
// SubscribeToShardEvent events carrying JSON (or CBOR) records, and possibly
// an exception message when the subscription fails mid-stream. This package
// only frames messages; what goes into the payload belongs to the caller.
//
// Every message is self-delimiting. All integers are big-endian:
//
//	prelude   total_length   u32  length of the whole message, CRC included
//	          headers_length u32  length of the headers section
//	          prelude_crc    u32  CRC-32 (IEEE) of the first 8 bytes
//	headers   repeated: name_len u8, name, value_type u8, value
//	payload   total_length - headers_length - 16 bytes
//	message_crc            u32  CRC-32 (IEEE) of everything before it
//
// Header values are typed (see [ValueType]): booleans carry no bytes (the
// type byte is the value), integers are fixed width, byte arrays and strings
// are prefixed by a u16 length, timestamps are int64 milliseconds since the
// Unix epoch and UUIDs are 16 raw bytes.
//
// The limits follow the SDKs that read these streams: header names are 1 to
// 255 bytes, variable-length header values at most 32767 bytes, the headers
// section at most 128 KiB and the payload at most 24 MiB (botocore's caps).
// The [Decoder] enforces them before it allocates, so a corrupt or hostile
// length cannot make it reserve more than a legitimate message would need,
// and it checks the prelude CRC before trusting the lengths at all.
//
// The [Encoder] builds each message in one reused buffer and hands it to the
// writer with a single Write, so steady-state encoding does not allocate and
// a message is never split across a failed write. Kinesis-specific message
// shapes are built with [EventMessage], [ExceptionMessage] and
// [ErrorMessage].
package eventstream

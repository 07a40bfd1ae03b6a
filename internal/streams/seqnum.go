package streams

import (
	"math/bits"
)

// Sequence numbers follow the layout kinesalite reverse-engineered from AWS
// (the "version 2" numbers AWS has issued since 2015), read as one 188-bit
// hexadecimal number and written in decimal, about 56 digits:
//
//	'2' | shardCreateSecs (9 hex) | shard index low nibble (1 hex) |
//	seqIndex (16 hex) | '00' | recordSecs (9 hex) | shard index (8 hex) | '2'
//
// seqIndex is the storage engine's per-shard sequence number, so numbers
// increase with it within a shard whatever the record times are. The shard
// index and the shard's creation second let GetShardIterator reject a number
// that belongs to another shard or to another stream, as AWS does.

// seqNum is a decoded sequence number.
type seqNum struct {
	ShardCreateSecs uint64 // 36 bits: the shard's creation time in seconds
	Index           uint64 // the engine's per-shard sequence number (63 bits)
	RecordSecs      uint64 // 36 bits: the record's arrival in seconds
	Shard           uint32 // the shard's index
	StreamTag       uint8  // low 8 bits of the stream id: tells apart streams whose shards were created in the same second
}

const (
	maxSecs     = 1<<36 - 1
	maxSeqIndex = 1<<63 - 1
	// maxSeqDigits is the model's pattern limit: 0|([1-9]\d{0,128}).
	maxSeqDigits = 129
)

// u192 is an unsigned 192-bit integer, most significant word first.
type u192 [3]uint64

// field returns the n-bit field (n <= 64) whose lowest bit is bit lo.
func (v u192) field(lo, n uint) uint64 {
	w := 2 - lo/64 // word holding bit lo
	off := lo % 64
	x := v[w] >> off
	if off != 0 && off+n > 64 && w > 0 {
		x |= v[w-1] << (64 - off)
	}
	if n == 64 {
		return x
	}
	return x & (1<<n - 1)
}

// put ORs the n-bit value x into v at bit lo.
func (v *u192) put(lo, n uint, x uint64) {
	if n < 64 {
		x &= 1<<n - 1
	}
	w := 2 - lo/64
	off := lo % 64
	v[w] |= x << off
	if off != 0 && off+n > 64 && w > 0 {
		v[w-1] |= x >> (64 - off)
	}
}

// Bit positions of the fields, counted from the least significant bit.
const (
	posTrailer    = 0   // 4 bits, '2'
	posShard      = 4   // 32 bits
	posRecordSecs = 36  // 36 bits
	posByte       = 72  // 8 bits, the stream tag (AWS's numbers show 0 here)
	posIndex      = 80  // 64 bits
	posNibble     = 144 // 4 bits, shard index & 0xf
	posCreateSecs = 148 // 36 bits
	posVersion    = 184 // 4 bits, '2'
)

// encode packs n into its 188-bit form.
func (n seqNum) encode() u192 {
	var v u192
	v.put(posVersion, 4, 2)
	v.put(posCreateSecs, 36, n.ShardCreateSecs)
	v.put(posNibble, 4, uint64(n.Shard&0xf))
	v.put(posIndex, 64, n.Index)
	v.put(posRecordSecs, 36, n.RecordSecs)
	v.put(posByte, 8, uint64(n.StreamTag))
	v.put(posShard, 32, uint64(n.Shard))
	v.put(posTrailer, 4, 2)
	return v
}

// String returns the decimal form clients see.
func (n seqNum) String() string { return n.encode().decimal() }

// decimal formats v in base 10.
func (v u192) decimal() string {
	var buf [4 * 19]byte
	return string(v.appendDecimal(buf[:0]))
}

// appendDecimal appends v in base 10 to dst.
func (v u192) appendDecimal(dst []byte) []byte {
	if v == (u192{}) {
		return append(dst, '0')
	}
	// Peel off 19 decimal digits at a time: 10^19 fits in a uint64.
	const chunk = 10_000_000_000_000_000_000
	var buf [4 * 19]byte // 192 bits is at most 58 digits: 4 chunks
	pos := len(buf)
	top := 0 // the first word that is not zero
	for {
		for top < len(v) && v[top] == 0 {
			top++
		}
		if top == len(v) {
			break
		}
		var r uint64
		for i := top; i < len(v); i++ {
			v[i], r = bits.Div64(r, v[i], chunk)
		}
		// The chunk's 19 digits, two at a time (a GetRecords response
		// formats one number per record).
		for range 9 {
			q := r / 100
			two := r - q*100
			pos -= 2
			buf[pos], buf[pos+1] = digitPairs[2*two], digitPairs[2*two+1]
			r = q
		}
		pos--
		buf[pos] = byte('0' + r)
	}
	for buf[pos] == '0' { // v is not zero: a digit that is not '0' remains
		pos++
	}
	return append(dst, buf[pos:]...)
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// parseDecimal reads a decimal number of at most 192 bits; ok is false on
// anything else.
func parseDecimal(s string) (v u192, ok bool) {
	if s == "" {
		return v, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return u192{}, false
		}
		// v = v*10 + digit, failing on overflow.
		var carry uint64 = uint64(c - '0')
		for w := 2; w >= 0; w-- {
			hi, lo := bits.Mul64(v[w], 10)
			lo, c1 := bits.Add64(lo, carry, 0)
			v[w] = lo
			carry = hi + c1
		}
		if carry != 0 {
			return u192{}, false
		}
	}
	return v, true
}

// validSeqPattern reports whether s matches the model's pattern for
// sequence numbers, 0|([1-9]\d{0,128}).
func validSeqPattern(s string) bool {
	if s == "0" {
		return true
	}
	if s == "" || len(s) > maxSeqDigits || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseSeqNum decodes a sequence number in the layout above. ok is false for
// anything this server could not have issued: a bad pattern, another
// version, a shard index that disagrees with its nibble, or a sequence index
// above 2^63-1.
func parseSeqNum(s string) (n seqNum, ok bool) {
	if !validSeqPattern(s) {
		return n, false
	}
	v, ok := parseDecimal(s)
	if !ok || v[0]>>60 != 0 { // more than 188 bits
		return n, false
	}
	if v.field(posVersion, 4) != 2 || v.field(posTrailer, 4) != 2 {
		return n, false
	}
	n = seqNum{
		ShardCreateSecs: v.field(posCreateSecs, 36),
		Index:           v.field(posIndex, 64),
		RecordSecs:      v.field(posRecordSecs, 36),
		Shard:           uint32(v.field(posShard, 32)),
		StreamTag:       uint8(v.field(posByte, 8)),
	}
	if uint64(n.Shard&0xf) != v.field(posNibble, 4) || n.Index > maxSeqIndex || n.Shard > 1<<31-1 {
		return seqNum{}, false
	}
	return n, true
}

// secs converts milliseconds since the epoch to the 36-bit seconds field.
func secs(ms int64) uint64 {
	if ms <= 0 {
		return 0
	}
	s := uint64(ms / 1000)
	if s > maxSecs {
		return maxSecs
	}
	return s
}

// StartingSequenceNumber is the first number of the shard's range: sequence
// index 0 at the shard's creation, below every record's number.
func (st *Stream) StartingSequenceNumber(sh *Shard) string {
	return seqNum{ShardCreateSecs: secs(sh.CreatedAt), RecordSecs: secs(sh.CreatedAt), Shard: sh.Index, StreamTag: uint8(st.ID)}.String()
}

// EndingSequenceNumber is the last number of a closed shard's range, "" while
// the shard is open. kinesalite saw AWS put 2^63-1 in the index field; this
// server uses the index of the shard's last record (at the closing second),
// which is at least that record's number and below any later one, so a
// reader that compares its position with the end, or starts
// AT_SEQUENCE_NUMBER from it, finds exactly the shard's last record.
func (st *Stream) EndingSequenceNumber(sh *Shard) string {
	if sh.IsOpen() {
		return ""
	}
	return seqNum{ShardCreateSecs: secs(sh.CreatedAt), Index: sh.EndingSeq, RecordSecs: secs(sh.ClosedAt), Shard: sh.Index, StreamTag: uint8(st.ID)}.String()
}

// SequenceNumber returns the number of the record with engine sequence seq
// that arrived at arrival (ms) in shard sh of st.
func (st *Stream) SequenceNumber(sh *Shard, seq uint64, arrival int64) string {
	return seqNum{ShardCreateSecs: secs(sh.CreatedAt), Index: seq, RecordSecs: secs(arrival), Shard: sh.Index, StreamTag: uint8(st.ID)}.String()
}

// appendSequenceNumber appends the SequenceNumber of record seq of shard sh
// to dst.
func (st *Stream) appendSequenceNumber(dst []byte, sh *Shard, seq uint64, arrival int64) []byte {
	return seqNum{ShardCreateSecs: secs(sh.CreatedAt), Index: seq, RecordSecs: secs(arrival), Shard: sh.Index, StreamTag: uint8(st.ID)}.encode().appendDecimal(dst)
}

// startingSequence resolves the StartingSequenceNumber of a GetShardIterator
// call on shard sh to the engine sequence it names, with AWS's errors for a
// number this server did not issue, one from another shard and one from
// another stream (or an earlier stream of the same name).
func (st *Stream) startingSequence(sh *Shard, s string) (uint64, error) {
	n, ok := parseSeqNum(s)
	if !ok {
		return 0, errorf(KindInvalidArgument,
			"StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid.",
			s, sh.ID(), st.Name, st.Account)
	}
	if n.Shard != sh.Index {
		return 0, errorf(KindInvalidArgument,
			"Invalid StartingSequenceNumber. It encodes shardId-%012d, while it was used in a call to a shard with %s",
			n.Shard, sh.ID())
	}
	if n.ShardCreateSecs != secs(sh.CreatedAt) || n.StreamTag != uint8(st.ID) {
		return 0, errorf(KindInvalidArgument,
			"StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid because it did not come from this stream.",
			s, sh.ID(), st.Name, st.Account)
	}
	return n.Index, nil
}

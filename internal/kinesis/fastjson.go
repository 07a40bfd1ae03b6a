package kinesis

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

// Hand-written JSON codecs for the data-plane shapes that carry records.
// The decoders take the common, regular form of a request (the members the
// SDKs send, plain strings, no duplicates or nulls) straight into the
// input shape, base64-decoding every record into one shared buffer; for
// anything else they report false and the generic decoder runs, so that
// errors keep their exact wording.

func init() {
	awsproto.RegisterFastJSONDecoder(decodePutRecordsJSON)
	awsproto.RegisterFastJSONDecoder(decodePutRecordJSON)
	awsproto.RegisterFastJSONEncoder(encodeGetRecordsJSON)
	awsproto.RegisterSizedJSONEncoder(getRecordsJSONSize, func(dst []byte, out *kinesisapi.GetRecordsOutput, flush func([]byte) []byte) []byte {
		return writeGetRecordsJSON(dst, out, flush)
	})
	awsproto.RegisterFastJSONEncoder(encodePutRecordsOutputJSON)
	awsproto.RegisterFastJSONEncoder(encodePutRecordOutputJSON)
}

// scanner reads the regular subset of JSON the fast decoders accept.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and consumes c.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips white space and reports whether c comes next.
func (s *scanner) peek(c byte) bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == c
}

// str reads a string of printable ASCII without escapes and returns its
// contents (aliasing the body).
func (s *scanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			s.i++
			return s.b[start : s.i-1], true
		}
		if c < 0x20 || c == '\\' || c >= 0x80 {
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// blob reads a string's raw text up to the next '"'. Text that is not
// base64 (escapes, control or non-ASCII characters) fails to decode later,
// so it is not checked here. Raw '\r' and '\n', which JSON does not allow
// in a string, are the exception: base64 decoding skips them, so the
// decoders check instead that the text decoded to as many bytes as
// Base64Len counts (each skipped character takes a place and gives no
// data) and leave a body with them to the generic decoder, which refuses
// it.
func (s *scanner) blob() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	n := bytes.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		return nil, false
	}
	v := s.b[s.i : s.i+n]
	s.i += n + 1
	return v, true
}

// member reads `"name":` and returns name.
func (s *scanner) member() ([]byte, bool) {
	k, ok := s.str()
	if !ok || !s.next(':') {
		return nil, false
	}
	return k, true
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// entryText is one record of a request as it appears in the body.
type entryText struct {
	data, pk, ehk []byte
	hasEHK        bool
}

// record reads a record object with members Data, PartitionKey and
// optionally ExplicitHashKey, each once.
func (s *scanner) record(e *entryText) bool {
	if !s.next('{') {
		return false
	}
	var seen [3]bool
	for {
		k, ok := s.member()
		if !ok {
			return false
		}
		var v []byte
		if string(k) == "Data" {
			v, ok = s.blob()
		} else {
			v, ok = s.str()
		}
		if !ok {
			return false
		}
		var f int
		switch string(k) {
		case "Data":
			f, e.data = 0, v
		case "PartitionKey":
			f, e.pk = 1, v
		case "ExplicitHashKey":
			f, e.ehk, e.hasEHK = 2, v, true
		default:
			return false
		}
		if seen[f] {
			return false
		}
		seen[f] = true
		if s.next(',') {
			continue
		}
		return s.next('}') && seen[0] && seen[1]
	}
}

// blobs base64-decodes every record's data into one buffer; each record's
// Data is a full slice of it. It returns false for data the generic
// decoder would reject or that is empty.
func blobs(texts []entryText, data func(i int) []byte, set func(i int, b []byte)) bool {
	total := 0
	for i := range texts {
		n, ok := awsproto.Base64Len(data(i))
		if !ok || n == 0 {
			return false
		}
		total += n
	}
	// Two bytes more: the room decodeBase64 asks for after the last
	// record's data when it ends in padding.
	buf := make([]byte, total+2)
	off := 0
	for i := range texts {
		src := data(i)
		want, _ := awsproto.Base64Len(src)
		n, ok := decodeBase64(buf[off:], src)
		if !ok || n != want {
			return false // a raw line break: see blob
		}
		set(i, buf[off:off+n:off+n])
		off += n
	}
	return true
}

// stringsOf copies the parts into one string and returns a substring per
// part: one allocation for all of them.
func stringsOf(parts [][]byte) []string {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	buf := make([]byte, 0, total)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	out := make([]string, len(parts))
	off := 0
	for i, p := range parts {
		out[i] = all[off : off+len(p)]
		off += len(p)
	}
	return out
}

// decodePutRecordsJSON decodes {"StreamName"|"StreamARN": s, "Records":
// [{"Data": b64, "PartitionKey": s[, "ExplicitHashKey": s]}, ...]}.
func decodePutRecordsJSON(body []byte, in *kinesisapi.PutRecordsInput) bool {
	s := scanner{b: body}
	if !s.next('{') {
		return false
	}
	var name, arn []byte
	var hasName, hasARN, hasRecords bool
	var texts []entryText
	for {
		k, ok := s.member()
		if !ok {
			return false
		}
		switch string(k) {
		case "StreamName":
			if hasName {
				return false
			}
			name, hasName = s.str()
			if !hasName {
				return false
			}
		case "StreamARN":
			if hasARN {
				return false
			}
			arn, hasARN = s.str()
			if !hasARN {
				return false
			}
		case "Records":
			if hasRecords || !s.next('[') || s.peek(']') {
				return false
			}
			hasRecords = true
			texts = make([]entryText, 0, 500)
			for {
				texts = append(texts, entryText{})
				if !s.record(&texts[len(texts)-1]) {
					return false
				}
				if s.next(',') {
					continue
				}
				if !s.next(']') {
					return false
				}
				break
			}
		default:
			return false
		}
		if s.next(',') {
			continue
		}
		if !s.next('}') || !s.end() {
			return false
		}
		break
	}
	if !hasRecords {
		return false
	}
	records := make([]kinesisapi.PutRecordsRequestEntry, len(texts))
	if !blobs(texts, func(i int) []byte { return texts[i].data }, func(i int, b []byte) { records[i].Data = b }) {
		return false
	}
	parts := make([][]byte, 0, len(texts)+2)
	for i := range texts {
		parts = append(parts, texts[i].pk)
	}
	parts = append(parts, name, arn)
	strs := stringsOf(parts)
	for i := range texts {
		records[i].PartitionKey = &strs[i]
		if texts[i].hasEHK {
			records[i].ExplicitHashKey = awsproto.Ptr(string(texts[i].ehk))
		}
	}
	*in = kinesisapi.PutRecordsInput{Records: records}
	if hasName {
		in.StreamName = &strs[len(texts)]
	}
	if hasARN {
		in.StreamARN = &strs[len(texts)+1]
	}
	return true
}

// decodePutRecordJSON decodes {"StreamName"|"StreamARN": s, "Data": b64,
// "PartitionKey": s[, "ExplicitHashKey": s][, "SequenceNumberForOrdering": s]}.
func decodePutRecordJSON(body []byte, in *kinesisapi.PutRecordInput) bool {
	s := scanner{b: body}
	if !s.next('{') {
		return false
	}
	var vals [6][]byte
	var seen [6]bool
	for {
		k, ok := s.member()
		if !ok {
			return false
		}
		var f int
		switch string(k) {
		case "StreamName":
			f = 0
		case "StreamARN":
			f = 1
		case "Data":
			f = 2
		case "PartitionKey":
			f = 3
		case "ExplicitHashKey":
			f = 4
		case "SequenceNumberForOrdering":
			f = 5
		default:
			return false
		}
		if seen[f] {
			return false
		}
		if f == 2 {
			vals[f], seen[f] = s.blob()
		} else {
			vals[f], seen[f] = s.str()
		}
		if !seen[f] {
			return false
		}
		if s.next(',') {
			continue
		}
		if !s.next('}') || !s.end() {
			return false
		}
		break
	}
	if !seen[2] || !seen[3] {
		return false
	}
	n, ok := awsproto.Base64Len(vals[2])
	if !ok || n == 0 {
		return false
	}
	data := make([]byte, decodedRoom(len(vals[2])))
	if got, ok := decodeBase64(data, vals[2]); !ok || got != n {
		return false // a raw line break: see blob
	}
	data = data[:n:n]
	out := kinesisapi.PutRecordInput{Data: data}
	for f, dst := range [...]**string{0: &out.StreamName, 1: &out.StreamARN, 3: &out.PartitionKey, 4: &out.ExplicitHashKey, 5: &out.SequenceNumberForOrdering} {
		if dst != nil && seen[f] {
			*dst = awsproto.Ptr(string(vals[f]))
		}
	}
	*in = out
	return true
}

// appendString appends s as a JSON string. It escapes exactly as
// encoding/json does for the characters our strings can hold: it falls
// back (false) on anything but printable ASCII without '"', '\\', '<', '>'
// and '&', which encoding/json escapes.
func appendString(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return dst, false
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), true
}

// encodeGetRecordsJSON writes a GetRecords response the way encoding/json
// does (same member order and omissions), without building per-record
// values.
func encodeGetRecordsJSON(dst []byte, out *kinesisapi.GetRecordsOutput) ([]byte, bool) {
	n, ok := getRecordsJSONSize(out)
	if !ok {
		return nil, false
	}
	dst = awsproto.Grow(dst, n)
	return writeGetRecordsJSON(dst, out, nil), true
}

// plainString reports whether encoding/json writes s as it is between
// quotes: printable ASCII without '"', '\\', '<', '>' and '&'.
func plainString(s string) bool {
	// Eight bytes at a time: a GetRecords response checks every record's
	// 56-digit sequence number and its partition key.
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64([]byte(s[i : i+8]))
		// A byte is flagged when it is below 0x20 or at or above 0x80,
		// or when it is one of the five characters.
		bad := (x - 0x20*ones) | x |
			(x ^ '"'*ones - ones) | (x ^ '\\'*ones - ones) |
			(x ^ '<'*ones - ones) | (x ^ '>'*ones - ones) | (x ^ '&'*ones - ones)
		if bad&highs != 0 {
			break // some byte in these eight needs a closer look
		}
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// getRecordsJSONSize returns the exact length of out's encoding by
// writeGetRecordsJSON, or false when out is not in the subset it writes
// (child shards, strings that need escaping, missing members).
func getRecordsJSONSize(out *kinesisapi.GetRecordsOutput) (int, bool) {
	if len(out.ChildShards) > 0 {
		return 0, false
	}
	var num [24]byte
	n := len(`{"Records":}`)
	if out.MillisBehindLatest != nil {
		n += len(`"MillisBehindLatest":,`) + len(strconv.AppendInt(num[:0], *out.MillisBehindLatest, 10))
	}
	if it := out.NextShardIterator; it != nil {
		if !plainString(*it) {
			return 0, false
		}
		n += len(`"NextShardIterator":"",`) + len(*it)
	}
	if out.Records == nil {
		return n + len("null"), true
	}
	n += len("[]") + max(len(out.Records)-1, 0) // brackets and commas
	const fixed = len(`{"ApproximateArrivalTimestamp":,"Data":,"PartitionKey":"","SequenceNumber":""}`)
	for i := range out.Records {
		r := &out.Records[i]
		if r.SequenceNumber == nil || r.PartitionKey == nil || r.ApproximateArrivalTimestamp == nil ||
			!plainString(*r.PartitionKey) || !plainString(*r.SequenceNumber) {
			return 0, false
		}
		n += fixed + timestampLen(r.ApproximateArrivalTimestamp.UnixMilli()) +
			len(*r.PartitionKey) + len(*r.SequenceNumber)
		if r.Data == nil {
			n += len("null")
		} else {
			n += 2 + base64.StdEncoding.EncodedLen(len(r.Data))
		}
		if r.EncryptionType != nil {
			if !plainString(string(*r.EncryptionType)) {
				return 0, false
			}
			n += len(`,"EncryptionType":""`) + len(*r.EncryptionType)
		}
	}
	return n, true
}

// writeGetRecordsJSON appends the encoding of out, which
// getRecordsJSONSize accepted, to dst. With a flush func it keeps within
// cap(dst) (at least 8 KiB), emptying the buffer through flush whenever
// the next part does not fit; records' data go out in as many pieces as
// they need.
func writeGetRecordsJSON(dst []byte, out *kinesisapi.GetRecordsOutput, flush func([]byte) []byte) []byte {
	room := func(n int) {
		if flush != nil && cap(dst)-len(dst) < n {
			dst = flush(dst)
		}
	}
	dst = append(dst, '{')
	if out.MillisBehindLatest != nil {
		dst = append(dst, `"MillisBehindLatest":`...)
		dst = strconv.AppendInt(dst, *out.MillisBehindLatest, 10)
		dst = append(dst, ',')
	}
	if it := out.NextShardIterator; it != nil {
		room(len(*it) + 64)
		dst = append(dst, `"NextShardIterator":"`...)
		dst = append(dst, *it...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"Records":`...)
	if out.Records == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i := range out.Records {
		r := &out.Records[i]
		// A record's members other than its data: a partition key of at
		// most 256 characters, a sequence number, a timestamp.
		tail := len(*r.PartitionKey) + len(*r.SequenceNumber)
		if r.EncryptionType != nil {
			tail += len(*r.EncryptionType)
		}
		room(256 + tail)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"ApproximateArrivalTimestamp":`...)
		dst = appendTimestamp(dst, r.ApproximateArrivalTimestamp.UnixMilli())
		dst = append(dst, `,"Data":`...)
		if r.Data == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '"')
			data := r.Data
			for flush != nil && base64.StdEncoding.EncodedLen(len(data)) > cap(dst)-len(dst) {
				// Whole groups of three bytes, so that no padding falls
				// inside the text.
				k := (cap(dst) - len(dst)) / 4 * 3
				if k < 3<<10 && len(dst) > 0 {
					dst = flush(dst)
					continue
				}
				if k == 0 {
					break // a buffer smaller than any piece: let it grow
				}
				dst = appendBase64(dst, data[:k])
				data = data[k:]
			}
			dst = appendBase64(dst, data)
			room(128 + tail)
			dst = append(dst, '"')
		}
		if r.EncryptionType != nil {
			dst = append(dst, `,"EncryptionType":"`...)
			dst = append(dst, *r.EncryptionType...)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"PartitionKey":"`...)
		dst = append(dst, *r.PartitionKey...)
		dst = append(dst, `","SequenceNumber":"`...)
		dst = append(dst, *r.SequenceNumber...)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// encodePutRecordsOutputJSON writes a PutRecords response the way
// encoding/json does.
func encodePutRecordsOutputJSON(dst []byte, out *kinesisapi.PutRecordsOutput) ([]byte, bool) {
	dst = awsproto.Grow(dst, 128+len(out.Records)*96)
	var ok bool
	dst = append(dst, '{')
	if out.EncryptionType != nil {
		dst = append(dst, `"EncryptionType":`...)
		if dst, ok = appendString(dst, string(*out.EncryptionType)); !ok {
			return nil, false
		}
		dst = append(dst, ',')
	}
	if out.FailedRecordCount != nil {
		dst = append(dst, `"FailedRecordCount":`...)
		dst = strconv.AppendInt(dst, int64(*out.FailedRecordCount), 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"Records":`...)
	if out.Records == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '[')
	for i := range out.Records {
		r := &out.Records[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		first := true
		for _, m := range [...]struct {
			name string
			v    *string
		}{{"ErrorCode", r.ErrorCode}, {"ErrorMessage", r.ErrorMessage}, {"SequenceNumber", r.SequenceNumber}, {"ShardId", r.ShardId}} {
			if m.v == nil {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, m.name...)
			dst = append(dst, `":`...)
			if dst, ok = appendString(dst, *m.v); !ok {
				return nil, false
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), true
}

// encodePutRecordOutputJSON writes a PutRecord response the way
// encoding/json does.
func encodePutRecordOutputJSON(dst []byte, out *kinesisapi.PutRecordOutput) ([]byte, bool) {
	dst = awsproto.Grow(dst, 160)
	var ok bool
	dst = append(dst, '{')
	if out.EncryptionType != nil {
		dst = append(dst, `"EncryptionType":`...)
		if dst, ok = appendString(dst, string(*out.EncryptionType)); !ok {
			return nil, false
		}
		dst = append(dst, ',')
	}
	for i, m := range [...]struct {
		name string
		v    *string
	}{{`"SequenceNumber":`, out.SequenceNumber}, {`"ShardId":`, out.ShardId}} {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, m.name...)
		if m.v == nil {
			dst = append(dst, "null"...)
		} else if dst, ok = appendString(dst, *m.v); !ok {
			return nil, false
		}
	}
	return append(dst, '}'), true
}

// appendTimestamp writes epoch seconds with up to three decimals, as
// awsproto.Timestamp does, without allocating.
// timestampLen is len(appendTimestamp(nil, ms)), without formatting it.
func timestampLen(ms int64) int {
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec--
		frac += 1000
	}
	n := 0
	u := uint64(sec)
	if sec < 0 {
		n, u = 1, uint64(-sec)
	}
	// Digits of u: an estimate from its bit length, then one comparison.
	d := bits.Len64(u) * 1233 >> 12
	if d < len(powersOf10) && u >= powersOf10[d] {
		d++
	}
	n += max(d, 1)
	switch {
	case frac == 0:
	case frac%100 == 0:
		n += 2
	case frac%10 == 0:
		n += 3
	default:
		n += 4
	}
	return n
}

// powersOf10[i] is 10^i.
var powersOf10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func appendTimestamp(dst []byte, ms int64) []byte {
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec--
		frac += 1000
	}
	dst = strconv.AppendInt(dst, sec, 10)
	if frac != 0 {
		d := [4]byte{'.', byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
		n := 4
		for d[n-1] == '0' {
			n--
		}
		dst = append(dst, d[:n]...)
	}
	return dst
}

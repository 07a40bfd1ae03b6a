package firehose

import (
	"bytes"
	"encoding/base64"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
)

// PutRecordBatch's request, as every SDK writes it, is decoded without
// reflection: {"DeliveryStreamName":"...","Records":[{"Data":"..."},...]}
// with optional whitespace, ASCII names without escapes and standard
// base64.
// Anything else (another member, escapes, bad base64) goes to the generic
// decoder, so errors keep their exact wording.

func init() {
	awsproto.RegisterFastJSONDecoder(decodePutRecordBatchJSON)
}

// strictBase64 is made once: Strict returns a new copy of the encoding.
var strictBase64 = base64.StdEncoding.Strict()

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\r' || s.b[s.i] == '\t') {
		s.i++
	}
}

// lit consumes c after whitespace.
func (s *scanner) lit(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes, control characters or bytes outside
// ASCII (the generic decoder turns invalid UTF-8 into U+FFFD; names and
// base64 data are ASCII anyway).
func (s *scanner) str() ([]byte, bool) {
	if !s.lit('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// base64Str reads a string that must be standard base64: it finds the
// closing quote with bytes.IndexByte and leaves the checking of its bytes
// to the base64 decoder, which refuses every byte str refuses (escapes,
// non-ASCII) but CR and LF, which it skips: a string holding them decodes
// to fewer bytes than Base64Len counts, and the caller refuses it.
func (s *scanner) base64Str() ([]byte, bool) {
	if !s.lit('"') {
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

func decodePutRecordBatchJSON(body []byte, in *firehoseapi.PutRecordBatchInput) bool {
	s := &scanner{b: body}
	if !s.lit('{') {
		return false
	}
	var name *string
	var records []firehoseapi.Record
	seenRecords := false
	for first := true; ; first = false {
		if s.lit('}') {
			break
		}
		if !first && !s.lit(',') {
			return false
		}
		key, ok := s.str()
		if !ok || !s.lit(':') {
			return false
		}
		switch string(key) {
		case "DeliveryStreamName":
			v, ok := s.str()
			if !ok || name != nil {
				return false
			}
			str := string(v)
			name = &str
		case "Records":
			if seenRecords || !s.lit('[') {
				return false
			}
			seenRecords = true
			records = make([]firehoseapi.Record, 0, 500)
			// Every record's data is decoded into one block: the base64
			// text is at most the body, and decodes to 3/4 of it.
			block := make([]byte, len(body)/4*3)
			for rfirst := true; ; rfirst = false {
				if s.lit(']') {
					break
				}
				if !rfirst && !s.lit(',') {
					return false
				}
				if !s.lit('{') {
					return false
				}
				k, ok := s.str()
				if !ok || string(k) != "Data" || !s.lit(':') {
					return false
				}
				v, ok := s.base64Str()
				if !ok || !s.lit('}') {
					return false
				}
				n, ok := awsproto.Base64Len(v)
				if !ok || n > len(block) {
					return false
				}
				// Capped, so that appending to one record's data never
				// writes over the next one's.
				data := block[:n:n]
				block = block[n:]
				if m, err := strictBase64.Decode(data, v); err != nil || m != n {
					return false
				}
				records = append(records, firehoseapi.Record{Data: data})
			}
		default:
			return false
		}
	}
	s.ws()
	if s.i != len(s.b) || name == nil || !seenRecords {
		return false
	}
	in.DeliveryStreamName, in.Records = name, records
	return true
}

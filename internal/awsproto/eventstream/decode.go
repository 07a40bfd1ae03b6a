package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Decoder reads messages from a reader. It reads exactly one message per
// call and never past it, so the reader can be handed on afterwards. It is
// not safe for concurrent use.
type Decoder struct {
	r       io.Reader
	prelude [preludeLen]byte
	buf     []byte // headers section, reused between messages
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r}
}

// payloadChunk is how much payload the Decoder reserves before the bytes
// arrive: a larger message grows its buffer as it is read, so a truncated
// stream that announces a large payload costs little.
const payloadChunk = 64 << 10

// Decode reads the next message. It returns io.EOF, unwrapped, when the
// reader ends cleanly before a message starts. A stream cut inside a
// message gives an error wrapping io.ErrUnexpectedEOF; corrupt input gives
// an error wrapping ErrChecksum, ErrTooLarge or ErrMalformed. The returned
// message owns its memory.
func (d *Decoder) Decode() (Message, error) {
	p := d.prelude[:]
	if n, err := io.ReadFull(d.r, p); err != nil {
		if err == io.EOF {
			return Message{}, io.EOF
		}
		return Message{}, readError("prelude", n, preludeLen, err)
	}
	total := binary.BigEndian.Uint32(p[0:4])
	hl := binary.BigEndian.Uint32(p[4:8])
	// The prelude CRC comes first: lengths are not trusted before it.
	if want, got := binary.BigEndian.Uint32(p[8:12]), crc32.ChecksumIEEE(p[:8]); want != got {
		return Message{}, fmt.Errorf("eventstream: prelude CRC is 0x%08x, computed 0x%08x: %w", want, got, ErrChecksum)
	}
	if total < MinMessageLen {
		return Message{}, fmt.Errorf("eventstream: message length %d is under the minimum of %d: %w", total, MinMessageLen, ErrMalformed)
	}
	if hl > MaxHeadersLen {
		return Message{}, fmt.Errorf("eventstream: headers of %d bytes %w of %d bytes", hl, ErrTooLarge, MaxHeadersLen)
	}
	if hl > total-MinMessageLen {
		return Message{}, fmt.Errorf("eventstream: headers length %d does not fit in message length %d: %w", hl, total, ErrMalformed)
	}
	pl := total - MinMessageLen - hl
	if pl > MaxPayloadLen {
		return Message{}, fmt.Errorf("eventstream: payload of %d bytes %w of %d bytes", pl, ErrTooLarge, MaxPayloadLen)
	}

	crc := crc32.ChecksumIEEE(p)
	hb := slices.Grow(d.buf[:0], int(hl))[:hl]
	d.buf = hb
	if n, err := io.ReadFull(d.r, hb); err != nil {
		return Message{}, readError("headers", n, int(hl), err)
	}
	crc = crc32.Update(crc, crc32.IEEETable, hb)

	payload, err := readPayload(d.r, int(pl))
	if err != nil {
		return Message{}, err
	}
	crc = crc32.Update(crc, crc32.IEEETable, payload)

	var tail [crcLen]byte
	if n, err := io.ReadFull(d.r, tail[:]); err != nil {
		return Message{}, readError("message CRC", n, crcLen, err)
	}
	if want := binary.BigEndian.Uint32(tail[:]); want != crc {
		return Message{}, fmt.Errorf("eventstream: message CRC is 0x%08x, computed 0x%08x: %w", want, crc, ErrChecksum)
	}

	headers, err := parseHeaders(hb)
	if err != nil {
		return Message{}, err
	}
	if len(payload) == 0 {
		payload = nil
	}
	return Message{Headers: headers, Payload: payload}, nil
}

// readPayload reads n bytes, growing the buffer as data arrives rather than
// trusting n up front.
func readPayload(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, payloadChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b)))
		}
		end := min(cap(b), n)
		k, err := io.ReadFull(r, b[len(b):end])
		b = b[:len(b)+k]
		if err != nil {
			return nil, readError("payload", len(b), n, err)
		}
	}
	return b, nil
}

// readError describes a failed read of part of a message. Any end of input
// inside a message is io.ErrUnexpectedEOF.
func readError(part string, got, want int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("eventstream: message truncated in %s (%d of %d bytes): %w", part, got, want, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("eventstream: read %s: %w", part, err)
}

// parseHeaders decodes a headers section whose CRC has been checked.
func parseHeaders(b []byte) ([]Header, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var hs []Header
	for off := 0; off < len(b); {
		nl := int(b[off])
		off++
		if nl == 0 {
			return nil, fmt.Errorf("eventstream: empty header name at offset %d: %w", off-1, ErrMalformed)
		}
		if len(b)-off < nl+1 {
			return nil, fmt.Errorf("eventstream: header at offset %d overruns the headers section: %w", off-1, ErrMalformed)
		}
		name := internName(b[off : off+nl])
		off += nl
		t := ValueType(b[off])
		off++
		v, n, err := parseValue(t, b[off:])
		if err != nil {
			return nil, fmt.Errorf("eventstream: header %q: %w", name, err)
		}
		off += n
		hs = append(hs, Header{Name: name, Value: v})
	}
	return hs, nil
}

// parseValue decodes a value of type t from the front of b and returns it
// with the number of bytes it used.
func parseValue(t ValueType, b []byte) (Value, int, error) {
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("%s value needs %d bytes, %d left in headers: %w", t, n, len(b), ErrMalformed)
		}
		return nil
	}
	v := newValue(t)
	switch t {
	case TypeBoolTrue, TypeBoolFalse:
		return v, 0, nil
	case TypeByte:
		if err := need(1); err != nil {
			return Value{}, 0, err
		}
		v.num = int64(int8(b[0]))
		return v, 1, nil
	case TypeInt16:
		if err := need(2); err != nil {
			return Value{}, 0, err
		}
		v.num = int64(int16(binary.BigEndian.Uint16(b)))
		return v, 2, nil
	case TypeInt32:
		if err := need(4); err != nil {
			return Value{}, 0, err
		}
		v.num = int64(int32(binary.BigEndian.Uint32(b)))
		return v, 4, nil
	case TypeInt64, TypeTimestamp:
		if err := need(8); err != nil {
			return Value{}, 0, err
		}
		v.num = int64(binary.BigEndian.Uint64(b))
		return v, 8, nil
	case TypeBytes, TypeString:
		if err := need(2); err != nil {
			return Value{}, 0, err
		}
		l := int(binary.BigEndian.Uint16(b))
		if l > MaxHeaderValueLen {
			return Value{}, 0, fmt.Errorf("%s value of %d bytes %w of %d bytes", t, l, ErrTooLarge, MaxHeaderValueLen)
		}
		if err := need(2 + l); err != nil {
			return Value{}, 0, err
		}
		if t == TypeString {
			v.str = string(b[2 : 2+l])
		} else {
			v.b = slices.Clone(b[2 : 2+l])
		}
		return v, 2 + l, nil
	case TypeUUID:
		if err := need(16); err != nil {
			return Value{}, 0, err
		}
		copy(v.uuid[:], b)
		return v, 16, nil
	}
	return Value{}, 0, fmt.Errorf("unknown value type %d: %w", uint8(t), ErrMalformed)
}

// internName returns the common Kinesis header names without allocating.
func internName(b []byte) string {
	switch string(b) {
	case HeaderMessageType:
		return HeaderMessageType
	case HeaderEventType:
		return HeaderEventType
	case HeaderContentType:
		return HeaderContentType
	case HeaderExceptionType:
		return HeaderExceptionType
	case HeaderErrorCode:
		return HeaderErrorCode
	case HeaderErrorMessage:
		return HeaderErrorMessage
	}
	return string(b)
}

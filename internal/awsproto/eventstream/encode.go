package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Limits of the format, as enforced by the SDKs that read it.
const (
	// MaxHeaderNameLen is the longest header name (its length is a u8).
	MaxHeaderNameLen = 255
	// MaxHeaderValueLen is the longest byte-array or string header value.
	MaxHeaderValueLen = 32767
	// MaxHeadersLen is the largest headers section (botocore's cap).
	MaxHeadersLen = 128 << 10
	// MaxPayloadLen is the largest payload (botocore's cap).
	MaxPayloadLen = 24 << 20
	// MinMessageLen is the size of a message with no headers and no
	// payload: prelude, prelude CRC and message CRC.
	MinMessageLen = 16

	preludeLen = 12 // total length, headers length, prelude CRC
	crcLen     = 4
)

// Errors wrapped by encoding and decoding failures; match with errors.Is.
var (
	// ErrChecksum means a prelude or message CRC did not match.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrTooLarge means a length exceeds one of the format's limits.
	ErrTooLarge = errors.New("exceeds limit")
	// ErrMalformed means the bytes do not form a valid message, or a
	// message to encode is not representable.
	ErrMalformed = errors.New("malformed message")
)

// AppendMessage appends the encoding of m to dst and returns the extended
// slice. On error dst is returned unchanged in length.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	hl, err := headersLen(m.Headers)
	if err != nil {
		return dst, err
	}
	if len(m.Payload) > MaxPayloadLen {
		return dst, fmt.Errorf("eventstream: payload of %d bytes %w of %d bytes", len(m.Payload), ErrTooLarge, MaxPayloadLen)
	}
	total := MinMessageLen + hl + len(m.Payload)

	start := len(dst)
	dst = slices.Grow(dst, total)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hl))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	for _, h := range m.Headers {
		dst = appendHeader(dst, h)
	}
	dst = append(dst, m.Payload...)
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
	return dst, nil
}

// headersLen validates headers and returns the size of their encoding.
func headersLen(hs []Header) (int, error) {
	n := 0
	for _, h := range hs {
		if len(h.Name) == 0 || len(h.Name) > MaxHeaderNameLen {
			return 0, fmt.Errorf("eventstream: header name %.32q is %d bytes, want 1 to %d: %w", h.Name, len(h.Name), MaxHeaderNameLen, ErrMalformed)
		}
		n += 1 + len(h.Name) + 1
		v := h.Value
		if !v.IsValid() {
			return 0, fmt.Errorf("eventstream: header %q has no value: %w", h.Name, ErrMalformed)
		}
		switch v.Type() {
		case TypeBoolTrue, TypeBoolFalse:
		case TypeByte:
			n++
		case TypeInt16:
			n += 2
		case TypeInt32:
			n += 4
		case TypeInt64, TypeTimestamp:
			n += 8
		case TypeBytes, TypeString:
			l := len(v.b)
			if v.Type() == TypeString {
				l = len(v.str)
			}
			if l > MaxHeaderValueLen {
				return 0, fmt.Errorf("eventstream: header %q value of %d bytes %w of %d bytes", h.Name, l, ErrTooLarge, MaxHeaderValueLen)
			}
			n += 2 + l
		case TypeUUID:
			n += 16
		}
	}
	if n > MaxHeadersLen {
		return 0, fmt.Errorf("eventstream: headers of %d bytes %w of %d bytes", n, ErrTooLarge, MaxHeadersLen)
	}
	return n, nil
}

// appendHeader encodes a header that headersLen has validated.
func appendHeader(dst []byte, h Header) []byte {
	dst = append(dst, byte(len(h.Name)))
	dst = append(dst, h.Name...)
	v := h.Value
	t := v.Type()
	dst = append(dst, byte(t))
	switch t {
	case TypeByte:
		dst = append(dst, byte(v.num))
	case TypeInt16:
		dst = binary.BigEndian.AppendUint16(dst, uint16(v.num))
	case TypeInt32:
		dst = binary.BigEndian.AppendUint32(dst, uint32(v.num))
	case TypeInt64, TypeTimestamp:
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.num))
	case TypeBytes:
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v.b)))
		dst = append(dst, v.b...)
	case TypeString:
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v.str)))
		dst = append(dst, v.str...)
	case TypeUUID:
		dst = append(dst, v.uuid[:]...)
	}
	return dst
}

// Encoder writes messages to a writer. It is not safe for concurrent use.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// retainLimit is the largest buffer an Encoder keeps between messages, so
// that one huge message does not pin its memory for a stream's lifetime.
const retainLimit = 1 << 20

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w}
}

// Encode writes m with a single Write call. Nothing is written if m is
// invalid. The caller flushes w if it buffers (an HTTP response does).
func (e *Encoder) Encode(m Message) error {
	buf, err := AppendMessage(e.buf[:0], m)
	if err != nil {
		return err
	}
	if cap(buf) <= retainLimit {
		e.buf = buf
	} else {
		e.buf = nil
	}
	if _, err := e.w.Write(buf); err != nil {
		return fmt.Errorf("eventstream: write message: %w", err)
	}
	return nil
}

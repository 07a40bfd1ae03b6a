package awsproto

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
	"sync/atomic"
)

// Request ids: every response carries an x-amzn-RequestId (a UUID, as on
// AWS) and an x-amz-id-2 (96 characters of base64). They identify a
// request in logs and the audit log; nothing derives security from them,
// so they are built from a counter and a process-wide random prefix rather
// than from crypto/rand per request (a system call or two, and most of the
// router's own cost on a small request).

var (
	// requestIDPrefix is 8 random bytes drawn once per process, so that
	// ids of different runs of the server do not repeat.
	requestIDPrefix [8]byte
	requestIDSeq    atomic.Uint64
)

func init() {
	if _, err := rand.Read(requestIDPrefix[:]); err != nil {
		panic("awsproto: no random source for request ids: " + err.Error())
	}
}

// newRequestID returns a UUID (version 4 layout) unique within the
// process: the random prefix, then a counter.
func newRequestID() string {
	var u [16]byte
	copy(u[:8], requestIDPrefix[:])
	binary.BigEndian.PutUint64(u[8:], requestIDSeq.Add(1))
	u[6] = u[6]&0x0f | 0x40 // version 4
	// The variant bits take the counter's top two bits, which a process
	// never reaches.
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}

// amzID2 returns 72 pseudo-random bytes in base64, the shape of AWS's
// x-amz-id-2, from the runtime's per-thread generator.
func amzID2() string {
	var b [72]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], mrand.Uint64())
	}
	var s [96]byte
	base64.StdEncoding.Encode(s[:], b[:])
	return string(s[:])
}

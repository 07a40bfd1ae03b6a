package bench

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
)

// Every record the benchmark writes starts with a 12-byte header: an 8-byte
// id (run tag 16 bits, worker 16 bits, the worker's record number 32 bits)
// and a CRC-32C over the rest of the record followed by the id. The rest is
// pseudo-random bytes. Reading back checks the checksum and which ids came
// back, so that a lost, duplicated or corrupted record is caught.

// headerLen is the size of the record header.
const headerLen = 12

// MinRecordSize is the smallest record size the benchmark can verify.
const MinRecordSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordID packs a record's identity.
func recordID(tag uint16, worker uint16, n uint32) uint64 {
	return uint64(tag)<<48 | uint64(worker)<<32 | uint64(n)
}

// slot is one reusable record buffer: its random body is fixed, its header
// is rewritten for every record it carries.
type slot struct {
	data    []byte
	restCRC uint32 // CRC-32C of data[headerLen:]
	pk      string
}

func newSlot(rng *rand.Rand, size int) slot {
	data := make([]byte, size)
	for i := headerLen; i < size; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(data[i:], w[:])
	}
	const hexdigits = "0123456789abcdef"
	pk := make([]byte, 24)
	for i := range pk {
		pk[i] = hexdigits[rng.IntN(16)]
	}
	return slot{data: data, restCRC: crc32.Checksum(data[headerLen:], castagnoli), pk: string(pk)}
}

// stamp writes the header for id into the slot.
func (s *slot) stamp(id uint64) {
	binary.BigEndian.PutUint64(s.data, id)
	binary.BigEndian.PutUint32(s.data[8:], crc32.Update(s.restCRC, castagnoli, s.data[:8]))
}

// parseRecord checks a record read back. ok is false for a record that is
// too short or whose checksum does not match.
func parseRecord(data []byte) (id uint64, ok bool) {
	if len(data) < headerLen {
		return 0, false
	}
	id = binary.BigEndian.Uint64(data)
	sum := crc32.Update(crc32.Checksum(data[headerLen:], castagnoli), castagnoli, data[:8])
	return id, sum == binary.BigEndian.Uint32(data[8:])
}

// bitset is a growable set of record numbers.
type bitset []uint64

func (b *bitset) set(n uint32) (already bool) {
	i := int(n / 64)
	if i >= len(*b) {
		grown := make(bitset, max(i+1, 2*len(*b)))
		copy(grown, *b)
		*b = grown
	}
	m := uint64(1) << (n % 64)
	already = (*b)[i]&m != 0
	(*b)[i] |= m
	return already
}

func (b bitset) has(n uint32) bool {
	i := int(n / 64)
	return i < len(b) && b[i]&(1<<(n%64)) != 0
}

package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// The file format, version 1. All integers are big-endian.
//
//	file    = magic "MRBACKUP" | version u32 | frame* (manifest first, end last)
//	frame   = kind u8 | length u32 | payload | crc u32
//
// crc is the CRC-32C (Castagnoli) of kind, length and payload. Kinds:
//
//	'M' manifest  JSON: {"format":1,"created":RFC 3339,"millrace":version,"engine":name,"kmsKeyringId":id}
//	'C' catalog   uvarint len(key) | key | value
//	'S' shard     stream u64 | shard u32 | first u64 | next u64 | last arrival i64
//	'R' record    seq u64 | arrival i64 | uvarint len(partition key) | partition key | data
//	'K' key file  the KMS key file's bytes, as the server keeps them (sealed
//	              under kms-master-key when that is set); at most one, after
//	              the shards
//	'E' end       catalog entries u64 | shards u64 | records u64 | record bytes u64
//
// Records follow the shard frame they belong to, in sequence order; shards
// come in key order. The end frame's counts must match what came before
// it, and nothing may follow it, so a truncated file is refused as surely
// as a changed byte.
const (
	Magic   = "MRBACKUP"
	Version = 1

	kindManifest = 'M'
	kindCatalog  = 'C'
	kindShard    = 'S'
	kindRecord   = 'R'
	kindEnd      = 'E'
	kindKeyFile  = 'K'

	// maxFrame bounds one frame: a catalog value (a Lambda function's code
	// is the largest) or a record. The reader grows its buffer as bytes
	// arrive, so a corrupt length costs no memory it does not read.
	maxFrame = 1 << 30

	shardFrameLen = 8 + 4 + 8 + 8 + 8
	endFrameLen   = 4 * 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned (wrapped, with what was wrong and where) for a
// file that is not an intact backup.
var ErrCorrupt = errors.New("backup: not an intact backup file")

// ErrNewerVersion is returned for a backup written in a format version
// this build does not know.
var ErrNewerVersion = errors.New("backup: format version newer than this millrace reads")

// Manifest describes a backup.
type Manifest struct {
	Format   int       `json:"format"`
	Created  time.Time `json:"created"`
	Millrace string    `json:"millrace"`
	Engine   string    `json:"engine"`
	// KMSKeyringID names the keyring (the KMS key file) that the data
	// directory's encrypted streams belong to, if it had one: restore
	// writes it back, so that a server started without that key file
	// refuses to start rather than serve records nobody can decrypt.
	KMSKeyringID string `json:"kmsKeyringId,omitempty"`
}

// Counts are what a backup holds.
type Counts struct {
	CatalogEntries uint64 `json:"catalogEntries"`
	Shards         uint64 `json:"shards"`
	Records        uint64 `json:"records"`
	RecordBytes    uint64 `json:"recordBytes"` // partition keys plus data
}

// encoder writes frames.
type encoder struct {
	w   *bufio.Writer
	buf []byte
	off int64 // bytes written so far
}

func newEncoder(w io.Writer) (*encoder, error) {
	e := &encoder{w: bufio.NewWriterSize(w, 1<<20)}
	var h [12]byte
	copy(h[:], Magic)
	binary.BigEndian.PutUint32(h[8:], Version)
	if _, err := e.w.Write(h[:]); err != nil {
		return nil, err
	}
	e.off = int64(len(h))
	return e, nil
}

// frame writes one frame whose payload the caller has put in e.buf[5:].
func (e *encoder) frame(kind byte) error {
	n := len(e.buf) - 5
	if n > maxFrame {
		return fmt.Errorf("backup: a %c entry of %d bytes is over the format's limit of %d", kind, n, maxFrame)
	}
	e.buf[0] = kind
	binary.BigEndian.PutUint32(e.buf[1:5], uint32(n))
	e.buf = binary.BigEndian.AppendUint32(e.buf, crc32.Checksum(e.buf, castagnoli))
	_, err := e.w.Write(e.buf)
	e.off += int64(len(e.buf))
	return err
}

func (e *encoder) start() { e.buf = append(e.buf[:0], 0, 0, 0, 0, 0) }

func (e *encoder) manifest(m Manifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	e.start()
	e.buf = append(e.buf, b...)
	return e.frame(kindManifest)
}

func (e *encoder) catalog(kv storage.KV) error {
	e.start()
	e.buf = binary.AppendUvarint(e.buf, uint64(len(kv.Key)))
	e.buf = append(e.buf, kv.Key...)
	e.buf = append(e.buf, kv.Value...)
	return e.frame(kindCatalog)
}

func (e *encoder) shard(sk storage.ShardKey, b storage.Bounds) error {
	e.start()
	e.buf = binary.BigEndian.AppendUint64(e.buf, sk.Stream)
	e.buf = binary.BigEndian.AppendUint32(e.buf, sk.Shard)
	e.buf = binary.BigEndian.AppendUint64(e.buf, b.First)
	e.buf = binary.BigEndian.AppendUint64(e.buf, b.Next)
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(b.LastArrival))
	return e.frame(kindShard)
}

func (e *encoder) record(r *storage.Record) error {
	e.start()
	e.buf = binary.BigEndian.AppendUint64(e.buf, r.Seq)
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(r.Arrival))
	e.buf = binary.AppendUvarint(e.buf, uint64(len(r.PartitionKey)))
	e.buf = append(e.buf, r.PartitionKey...)
	e.buf = append(e.buf, r.Data...)
	return e.frame(kindRecord)
}

func (e *encoder) keyFile(b []byte) error {
	e.start()
	e.buf = append(e.buf, b...)
	return e.frame(kindKeyFile)
}

func (e *encoder) end(c Counts) error {
	e.start()
	for _, v := range []uint64{c.CatalogEntries, c.Shards, c.Records, c.RecordBytes} {
		e.buf = binary.BigEndian.AppendUint64(e.buf, v)
	}
	if err := e.frame(kindEnd); err != nil {
		return err
	}
	return e.w.Flush()
}

// Item is one decoded entry of a backup: exactly one of its fields is set.
type Item struct {
	Manifest *Manifest
	Catalog  *storage.KV
	Shard    *ShardItem
	Record   *storage.Record
	KeyFile  []byte
	End      *Counts
}

// ShardItem is a shard frame.
type ShardItem struct {
	Key    storage.ShardKey
	Bounds storage.Bounds
}

// Decoder reads a backup file's items, checking each frame's checksum and
// the file's structure as it goes. Next returns io.EOF after the end
// frame, and an error wrapping ErrCorrupt (or ErrNewerVersion) for
// anything else than an intact backup.
type Decoder struct {
	r      *bufio.Reader
	off    int64 // offset of the next frame
	buf    bytes.Buffer
	header bool

	seen      Counts
	manifest  bool
	keyFile   bool
	done      bool
	inShard   bool
	lastShard storage.ShardKey
	bounds    storage.Bounds
	lastSeq   uint64
	lastArr   int64
}

// NewDecoder reads a backup from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 1<<20)} }

// Offset is how many bytes of the file Next has consumed.
func (d *Decoder) Offset() int64 { return d.off }

func (d *Decoder) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, args...))
}

func (d *Decoder) readHeader() error {
	var h [12]byte
	if _, err := io.ReadFull(d.r, h[:]); err != nil {
		return d.corrupt("no backup header (%v)", err)
	}
	if string(h[:8]) != Magic {
		return d.corrupt("does not start with %q: not a millrace backup", Magic)
	}
	v := binary.BigEndian.Uint32(h[8:])
	if v > Version {
		return fmt.Errorf("%w: the backup is in format version %d, this millrace reads versions up to %d; restore it with a newer millrace", ErrNewerVersion, v, Version)
	}
	if v == 0 {
		return d.corrupt("format version 0")
	}
	d.off = int64(len(h))
	d.header = true
	return nil
}

// Next returns the next item. Its slices are valid until the next call.
func (d *Decoder) Next() (Item, error) {
	if !d.header {
		if err := d.readHeader(); err != nil {
			return Item{}, err
		}
	}
	if d.done {
		if _, err := d.r.ReadByte(); err != io.EOF {
			return Item{}, d.corrupt("bytes after the end frame")
		}
		return Item{}, io.EOF
	}
	var h [5]byte
	if _, err := io.ReadFull(d.r, h[:]); err != nil {
		return Item{}, d.corrupt("truncated: no end frame (%v)", err)
	}
	kind, n := h[0], binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return Item{}, d.corrupt("frame length %d over the limit", n)
	}
	d.buf.Reset()
	d.buf.Write(h[:])
	if got, err := io.CopyN(&d.buf, d.r, int64(n)+4); err != nil {
		return Item{}, d.corrupt("truncated frame: %d of %d bytes (%v)", got, int64(n)+4, err)
	}
	b := d.buf.Bytes()
	sum := binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(b[:len(b)-4], castagnoli) != sum {
		return Item{}, d.corrupt("checksum mismatch in a %q frame of %d bytes", kind, n)
	}
	it, err := d.item(kind, b[5:len(b)-4])
	if err != nil {
		return Item{}, err
	}
	d.off += int64(len(b))
	return it, nil
}

func (d *Decoder) item(kind byte, p []byte) (Item, error) {
	if !d.manifest && kind != kindManifest {
		return Item{}, d.corrupt("the first frame is %q, not the manifest", kind)
	}
	switch kind {
	case kindManifest:
		if d.manifest {
			return Item{}, d.corrupt("a second manifest")
		}
		var m Manifest
		if err := json.Unmarshal(p, &m); err != nil {
			return Item{}, d.corrupt("manifest: %v", err)
		}
		if m.Format > Version {
			return Item{}, fmt.Errorf("%w: the backup's manifest says format version %d, this millrace reads versions up to %d; restore it with a newer millrace", ErrNewerVersion, m.Format, Version)
		}
		d.manifest = true
		return Item{Manifest: &m}, nil
	case kindCatalog:
		if d.seen.Shards > 0 || d.keyFile {
			return Item{}, d.corrupt("a catalog entry after the shards")
		}
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return Item{}, d.corrupt("catalog entry: bad key length")
		}
		d.seen.CatalogEntries++
		return Item{Catalog: &storage.KV{Key: string(p[k : k+int(l)]), Value: p[k+int(l):]}}, nil
	case kindShard:
		if d.keyFile {
			return Item{}, d.corrupt("a shard after the key file")
		}
		if len(p) != shardFrameLen {
			return Item{}, d.corrupt("shard frame of %d bytes", len(p))
		}
		s := ShardItem{
			Key: storage.ShardKey{Stream: binary.BigEndian.Uint64(p), Shard: binary.BigEndian.Uint32(p[8:])},
			Bounds: storage.Bounds{
				First:       binary.BigEndian.Uint64(p[12:]),
				Next:        binary.BigEndian.Uint64(p[20:]),
				LastArrival: int64(binary.BigEndian.Uint64(p[28:])),
			},
		}
		if d.inShard && !shardLess(d.lastShard, s.Key) {
			return Item{}, d.corrupt("shard %d/%d out of order", s.Key.Stream, s.Key.Shard)
		}
		if s.Bounds.First > s.Bounds.Next || s.Bounds.Next < 1 {
			return Item{}, d.corrupt("shard %d/%d: bounds first %d, next %d", s.Key.Stream, s.Key.Shard, s.Bounds.First, s.Bounds.Next)
		}
		d.inShard, d.lastShard, d.bounds = true, s.Key, s.Bounds
		d.lastSeq, d.lastArr = 0, 0
		d.seen.Shards++
		return Item{Shard: &s}, nil
	case kindRecord:
		if !d.inShard {
			return Item{}, d.corrupt("a record before any shard")
		}
		if len(p) < 17 {
			return Item{}, d.corrupt("record frame of %d bytes", len(p))
		}
		r := storage.Record{Seq: binary.BigEndian.Uint64(p), Arrival: int64(binary.BigEndian.Uint64(p[8:]))}
		l, k := binary.Uvarint(p[16:])
		if k <= 0 || l > uint64(len(p)-16-k) {
			return Item{}, d.corrupt("record: bad partition key length")
		}
		rest := p[16+k:]
		r.PartitionKey, r.Data = rest[:l], rest[l:]
		if r.Seq == 0 || r.Seq < d.bounds.First || r.Seq >= d.bounds.Next || (d.lastSeq != 0 && r.Seq <= d.lastSeq) {
			return Item{}, d.corrupt("shard %d/%d: record sequence number %d out of order or bounds", d.lastShard.Stream, d.lastShard.Shard, r.Seq)
		}
		if (d.lastSeq != 0 && r.Arrival < d.lastArr) || r.Arrival > d.bounds.LastArrival {
			return Item{}, d.corrupt("shard %d/%d: record %d arrival %d out of order", d.lastShard.Stream, d.lastShard.Shard, r.Seq, r.Arrival)
		}
		d.lastSeq, d.lastArr = r.Seq, r.Arrival
		d.seen.Records++
		d.seen.RecordBytes += uint64(len(r.PartitionKey) + len(r.Data))
		return Item{Record: &r}, nil
	case kindKeyFile:
		if d.keyFile {
			return Item{}, d.corrupt("a second key file")
		}
		d.keyFile = true
		return Item{KeyFile: p}, nil
	case kindEnd:
		if len(p) != endFrameLen {
			return Item{}, d.corrupt("end frame of %d bytes", len(p))
		}
		c := Counts{
			CatalogEntries: binary.BigEndian.Uint64(p),
			Shards:         binary.BigEndian.Uint64(p[8:]),
			Records:        binary.BigEndian.Uint64(p[16:]),
			RecordBytes:    binary.BigEndian.Uint64(p[24:]),
		}
		if c != d.seen {
			return Item{}, d.corrupt("the end frame counts %+v, the file holds %+v", c, d.seen)
		}
		d.done = true
		return Item{End: &c}, nil
	}
	return Item{}, d.corrupt("unknown frame kind %q", kind)
}

func shardLess(a, b storage.ShardKey) bool {
	return a.Stream < b.Stream || (a.Stream == b.Stream && a.Shard < b.Shard)
}

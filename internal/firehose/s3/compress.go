package s3

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Compression formats, as CompressionFormat names them.
const (
	Uncompressed = "UNCOMPRESSED"
	GZIP         = "GZIP"
	ZIP          = "ZIP"
	Snappy       = "Snappy"
	HadoopSnappy = "HADOOP_SNAPPY"
)

// CompressionExtension is the object name's suffix for a compression
// format.
func CompressionExtension(format string) string {
	switch format {
	case GZIP:
		return ".gz"
	case ZIP:
		return ".zip"
	case Snappy:
		return ".snappy"
	case HadoopSnappy:
		return ".hsnappy"
	}
	return ""
}

// gzipLevel is the level of GZIP objects: klauspost/compress's level 2,
// one of its fast levels, takes about a quarter less CPU than its
// default level 5 on 1 KiB JSON log records (130 to 155 against 110 MB/s
// of a core) for objects about 9 % larger (docs/performance.md,
// "Firehose").
const gzipLevel = 2

// hadoopBlock is the uncompressed size of one block of Hadoop's snappy
// codec (its default buffer size).
const hadoopBlock = 256 << 10

// Compress compresses an object body. name is the name of the one entry
// of a ZIP archive.
func Compress(format, name string, body []byte) ([]byte, error) {
	if format == "" || format == Uncompressed {
		return body, nil
	}
	return compress(format, name, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	})
}

// CompressRecords compresses the concatenation of the records' data
// without building it first: a buffer of 64 MiB is compressed as it is
// read rather than copied once more.
func CompressRecords(format, name string, records []sink.Record) ([]byte, error) {
	if format == "" || format == Uncompressed {
		body, _, err := Raw{}.Encode(records)
		return body, err
	}
	return compress(format, name, func(w io.Writer) error {
		for _, r := range records {
			if _, err := w.Write(r.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// compress returns what write writes, compressed.
func compress(format, name string, write func(io.Writer) error) ([]byte, error) {
	var out bytes.Buffer
	var w io.WriteCloser
	var zw *zip.Writer
	switch format {
	case GZIP:
		w, _ = gzip.NewWriterLevel(&out, gzipLevel)
	case ZIP:
		zw = zip.NewWriter(&out)
		fw, err := zw.Create(name)
		if err != nil {
			return nil, err
		}
		w = nopCloser{fw}
	case Snappy:
		// Firehose's Snappy is the snappy framing format.
		w = snappy.NewBufferedWriter(&out)
	case HadoopSnappy:
		w = &hadoopSnappyWriter{out: &out}
	default:
		return nil, fmt.Errorf("unknown compression format %q", format)
	}
	if err := write(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// hadoopSnappyWriter writes Hadoop's snappy block format: per block of
// hadoopBlock uncompressed bytes (the last one shorter), the uncompressed
// length, then one compressed chunk with its length, both 4-byte
// big-endian.
type hadoopSnappyWriter struct {
	out   *bytes.Buffer
	block []byte
}

func (h *hadoopSnappyWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if h.block == nil {
			h.block = make([]byte, 0, hadoopBlock)
		}
		k := min(len(p), hadoopBlock-len(h.block))
		h.block = append(h.block, p[:k]...)
		p = p[k:]
		if len(h.block) == hadoopBlock {
			h.emit()
		}
	}
	return n, nil
}

func (h *hadoopSnappyWriter) emit() {
	var hdr [4]byte
	chunk := snappy.Encode(nil, h.block)
	binary.BigEndian.PutUint32(hdr[:], uint32(len(h.block)))
	h.out.Write(hdr[:])
	binary.BigEndian.PutUint32(hdr[:], uint32(len(chunk)))
	h.out.Write(hdr[:])
	h.out.Write(chunk)
	h.block = h.block[:0]
}

// Close writes the last, partial block.
func (h *hadoopSnappyWriter) Close() error {
	if len(h.block) > 0 {
		h.emit()
	}
	return nil
}

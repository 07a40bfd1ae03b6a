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
	var out bytes.Buffer
	err := compressBody(format, name, body, &out)
	return out.Bytes(), err
}

// CompressRecords compresses the concatenation of the records' data
// without building it first: a buffer of 64 MiB is compressed as it is
// read rather than copied once more.
func CompressRecords(format, name string, records []sink.Record) ([]byte, error) {
	if format == "" || format == Uncompressed {
		body, _, err := Raw{}.Encode(records)
		return body, err
	}
	var out bytes.Buffer
	err := compressRecords(format, name, records, &out)
	return out.Bytes(), err
}

// compressBody writes body, compressed, to dst.
func compressBody(format, name string, body []byte, dst io.Writer) error {
	return compress(format, name, dst, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	})
}

// compressRecords writes the concatenation of the records' data,
// compressed, to dst.
func compressRecords(format, name string, records []sink.Record, dst io.Writer) error {
	return compress(format, name, dst, func(w io.Writer) error {
		for _, r := range records {
			if _, err := w.Write(r.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// compress writes what write writes, compressed, to out; uncompressed
// when format is "" or UNCOMPRESSED.
func compress(format, name string, out io.Writer, write func(io.Writer) error) error {
	var w io.WriteCloser
	var zw *zip.Writer
	switch format {
	case "", Uncompressed:
		w = nopCloser{out}
	case GZIP:
		w, _ = gzip.NewWriterLevel(out, gzipLevel)
	case ZIP:
		zw = zip.NewWriter(out)
		fw, err := zw.Create(name)
		if err != nil {
			return err
		}
		w = nopCloser{fw}
	case Snappy:
		// Firehose's Snappy is the snappy framing format.
		w = snappy.NewBufferedWriter(out)
	case HadoopSnappy:
		w = &hadoopSnappyWriter{out: out}
	default:
		return fmt.Errorf("unknown compression format %q", format)
	}
	if err := write(w); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// hadoopSnappyWriter writes Hadoop's snappy block format: per block of
// hadoopBlock uncompressed bytes (the last one shorter), the uncompressed
// length, then one compressed chunk with its length, both 4-byte
// big-endian.
type hadoopSnappyWriter struct {
	out   io.Writer
	err   error
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
	if h.err != nil {
		return 0, h.err
	}
	return n, nil
}

func (h *hadoopSnappyWriter) emit() {
	var hdr [8]byte
	chunk := snappy.Encode(nil, h.block)
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(h.block)))
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(chunk)))
	if h.err == nil {
		_, h.err = h.out.Write(hdr[:])
	}
	if h.err == nil {
		_, h.err = h.out.Write(chunk)
	}
	h.block = h.block[:0]
}

// Close writes the last, partial block.
func (h *hadoopSnappyWriter) Close() error {
	if len(h.block) > 0 {
		h.emit()
	}
	return h.err
}

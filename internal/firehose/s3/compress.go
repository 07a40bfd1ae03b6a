package s3

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
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

// hadoopBlock is the uncompressed size of one block of Hadoop's snappy
// codec (its default buffer size).
const hadoopBlock = 256 << 10

// Compress compresses an object body. name is the name of the one entry
// of a ZIP archive.
func Compress(format, name string, body []byte) ([]byte, error) {
	var out bytes.Buffer
	switch format {
	case "", Uncompressed:
		return body, nil
	case GZIP:
		w, _ := gzip.NewWriterLevel(&out, gzip.DefaultCompression)
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case ZIP:
		zw := zip.NewWriter(&out)
		w, err := zw.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case Snappy:
		// Firehose's Snappy is the snappy framing format.
		w := snappy.NewBufferedWriter(&out)
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case HadoopSnappy:
		// Hadoop's block format: per block, the uncompressed length, then
		// one compressed chunk with its length, both 4-byte big-endian.
		var hdr [4]byte
		for len(body) > 0 {
			n := min(len(body), hadoopBlock)
			chunk := snappy.Encode(nil, body[:n])
			binary.BigEndian.PutUint32(hdr[:], uint32(n))
			out.Write(hdr[:])
			binary.BigEndian.PutUint32(hdr[:], uint32(len(chunk)))
			out.Write(hdr[:])
			out.Write(chunk)
			body = body[n:]
		}
	default:
		return nil, fmt.Errorf("unknown compression format %q", format)
	}
	return out.Bytes(), nil
}

package awsproto

import (
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
)

// ServiceOption changes how the router answers the requests of one service.
type ServiceOption func(*service)

// ResponseCRC32 makes every response of the service, errors included,
// carry X-Amz-Crc32: the CRC-32 (IEEE) of the body as sent, in decimal.
// DynamoDB does this, and its SDKs check it: aws-sdk-go-v2 wraps every
// DynamoDB response body in a validator whose Close fails when the header
// is missing (the expected value is then 0), and smithy-go logs "failed
// to close HTTP response body" for each call.
func ResponseCRC32() ServiceOption {
	return func(s *service) { s.crc32 = true }
}

// GzipResponses compresses a response of at least gzipMinBytes with gzip
// when the request's Accept-Encoding allows it, as DynamoDB does for the
// SDKs that ask (aws-sdk-go-v2's EnableAcceptEncodingGzip). With
// ResponseCRC32 the checksum covers the compressed bytes: DynamoDB's does,
// and the SDKs validate it before they decompress.
func GzipResponses() ServiceOption {
	return func(s *service) { s.gzip = true }
}

// gzipMinBytes is the smallest body GzipResponses compresses. DynamoDB
// leaves small responses uncompressed; below about a kilobyte the gzip
// header and trailer eat most of the gain.
const gzipMinBytes = 1024

// finishingWriter buffers a response so that headers computed from the
// whole body (X-Amz-Crc32, Content-Encoding, Content-Length) can be set
// before anything is sent. The router writes each response as one
// WriteHeader and at most one Write, so buffering costs one copy. It is
// not for streamed responses: nothing reaches the client before finish.
type finishingWriter struct {
	http.ResponseWriter
	crc32, gzip bool
	status      int
	body        bytes.Buffer
}

func (f *finishingWriter) WriteHeader(status int) {
	if f.status == 0 {
		f.status = status
	}
}

func (f *finishingWriter) Write(p []byte) (int, error) {
	if f.status == 0 {
		f.status = http.StatusOK
	}
	return f.body.Write(p)
}

// Unwrap gives http.ResponseController the connection's writer.
func (f *finishingWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// finish sends the buffered response.
func (f *finishingWriter) finish() {
	if f.status == 0 {
		f.status = http.StatusOK
	}
	body := f.body.Bytes()
	h := f.ResponseWriter.Header()
	if f.gzip && len(body) >= gzipMinBytes {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		// Writes to a bytes.Buffer cannot fail.
		zw.Write(body)
		zw.Close()
		body = z.Bytes()
		h["Content-Encoding"] = []string{"gzip"}
	}
	if f.crc32 {
		h["X-Amz-Crc32"] = []string{strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	f.ResponseWriter.WriteHeader(f.status)
	f.ResponseWriter.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip:
// "gzip" listed without q=0, or else "*" listed without q=0.
func acceptsGzip(v string) bool {
	if v == "" {
		return false
	}
	star := false
	for part := range strings.SplitSeq(v, ",") {
		coding, params, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			return !zeroQuality(params)
		case "*":
			star = !zeroQuality(params)
		}
	}
	return star
}

// zeroQuality reports whether Accept-Encoding parameters hold q=0.
func zeroQuality(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

package awsproto

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRouterBody is the router's cost for a 700 KiB request (the size
// of a PutRecords of 500 x 1 KiB in JSON): reading the body, the request
// id, signature parsing and an empty response.
func BenchmarkRouterBody(b *testing.B) {
	r := NewRouter(RouterOptions{})
	r.Register("Kinesis_20131202", "1.1", map[string]Handler{
		"PutRecords": func(ctx context.Context, body []byte) (any, error) {
			if len(body) != 700<<10 {
				b.Fatalf("body of %d bytes", len(body))
			}
			return nil, nil
		},
	})
	body := bytes.Repeat([]byte("x"), 700<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
		req.Header.Set("Content-Type", ContentTypeJSON11)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkRouterSmall is the router's cost for a single-record request
// (a PutRecord of 1 KiB): ids, headers, signature parsing, request info
// and an empty response.
func BenchmarkRouterSmall(b *testing.B) {
	r := NewRouter(RouterOptions{})
	r.Register("Kinesis_20131202", "1.1", map[string]Handler{
		"PutRecord": func(ctx context.Context, body []byte) (any, error) { return nil, nil },
	})
	body := bytes.Repeat([]byte("x"), 1400)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecord")
	req.Header.Set("Content-Type", ContentTypeJSON11)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.ContentLength = int64(len(body))
	w := &discardResponse{h: http.Header{}}
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		clear(w.h)
		r.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// discardResponse is a ResponseWriter that keeps only the status and the
// headers, so that the benchmark measures the router and not a recorder.
type discardResponse struct {
	h    http.Header
	code int
}

func (w *discardResponse) Header() http.Header         { return w.h }
func (w *discardResponse) WriteHeader(code int)        { w.code = code }
func (w *discardResponse) Write(p []byte) (int, error) { return len(p), nil }

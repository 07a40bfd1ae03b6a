package awsproto

import (
	"bytes"
	"compress/gzip"
	"context"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

const checksumTestAuth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd"

type echoIn struct{ Size *int64 }

type echoOut struct{ Text *string }

// checksumRouter serves Svc_1 with ResponseCRC32 and GzipResponses and
// Plain_1 without them; both have an Echo operation that answers Size
// bytes of text, or fails with a ValidationException for a negative Size.
func checksumRouter() *Router {
	r := NewRouter(RouterOptions{Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 1024})
	echo := Op(func(ctx context.Context, in *echoIn) (*echoOut, error) {
		n := Value(in.Size)
		if n < 0 {
			return nil, NewError(CodeValidation, "Size must not be negative: %d", n)
		}
		s := strings.Repeat("a", int(n))
		return &echoOut{Text: &s}, nil
	})
	r.Register("Svc_1", "1.0", map[string]Handler{"Echo": echo}, ResponseCRC32(), GzipResponses())
	r.Register("Plain_1", "1.1", map[string]Handler{"Echo": echo})
	return r
}

func serve(h http.Handler, target, contentType, body string, header map[string]string) *http.Response {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func TestResponseCRC32OnEveryResponse(t *testing.T) {
	r := checksumRouter()
	auth := map[string]string{"Authorization": checksumTestAuth, "X-Amz-Date": "20260101T000000Z"}
	gz := map[string]string{"Authorization": checksumTestAuth, "X-Amz-Date": "20260101T000000Z", "Accept-Encoding": "gzip"}
	const j10 = "application/x-amz-json-1.0"
	tests := []struct {
		name, target, contentType, body string
		header                          map[string]string
		status                          int
		gzipped                         bool
		errType                         string
	}{
		{"success", "Svc_1.Echo", j10, `{"Size":3}`, auth, 200, false, ""},
		{"empty output", "Svc_1.Echo", j10, `{"Size":0}`, auth, 200, false, ""},
		{"large success, gzip not asked", "Svc_1.Echo", j10, `{"Size":5000}`, auth, 200, false, ""},
		{"large success, gzip asked", "Svc_1.Echo", j10, `{"Size":5000}`, gz, 200, true, ""},
		{"small success, gzip asked", "Svc_1.Echo", j10, `{"Size":3}`, gz, 200, false, ""},
		{"large success, gzip refused by q=0", "Svc_1.Echo", j10, `{"Size":5000}`,
			map[string]string{"Authorization": checksumTestAuth, "X-Amz-Date": "20260101T000000Z", "Accept-Encoding": "gzip;q=0, identity"}, 200, false, ""},
		{"operation error", "Svc_1.Echo", j10, `{"Size":-1}`, auth, 400, false, CodeValidation},
		{"operation error, gzip asked", "Svc_1.Echo", j10, `{"Size":-1}`, gz, 400, false, CodeValidation},
		{"serialization error", "Svc_1.Echo", j10, `{"Size":`, auth, 400, false, CodeSerialization},
		{"unknown operation", "Svc_1.Nope", j10, `{}`, auth, 400, false, CodeUnknownOperation},
		{"missing authentication", "Svc_1.Echo", j10, `{"Size":1}`, nil, 400, false, CodeMissingAuthentication},
		{"incomplete signature", "Svc_1.Echo", j10, `{"Size":1}`, map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/e"}, 400, false, CodeIncompleteSignature},
		{"body too large", "Svc_1.Echo", j10, `{"Size":1,"x":"` + strings.Repeat("b", 2000) + `"}`, auth, 413, false, CodeRequestEntityTooLarge},
		{"CBOR", "Svc_1.Echo", ContentTypeCBOR11, "\xa1\x64Size\x03", auth, 200, false, ""},
		{"content type of another protocol", "Svc_1.Echo", "text/plain", `{}`, auth, 404, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serve(r, tt.target, tt.contentType, tt.body, tt.header)
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
			if got := resp.Header.Get("X-Amz-Crc32"); got != want {
				t.Errorf("X-Amz-Crc32 = %q, want %s (the CRC-32 of the %d bytes sent)", got, want, len(raw))
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(raw)) {
				t.Errorf("Content-Length = %q, want %d", got, len(raw))
			}
			body := raw
			if enc := resp.Header.Get("Content-Encoding"); (enc == "gzip") != tt.gzipped {
				t.Fatalf("Content-Encoding = %q, want gzip: %v", enc, tt.gzipped)
			}
			if tt.gzipped {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
				if len(raw) >= len(body) {
					t.Errorf("gzipped body of %d bytes is not smaller than the %d it holds", len(raw), len(body))
				}
			}
			if tt.errType != "" {
				if got := resp.Header.Get("X-Amzn-ErrorType"); got != tt.errType {
					t.Errorf("X-Amzn-ErrorType = %q, want %s", got, tt.errType)
				}
				if !bytes.Contains(body, []byte(tt.errType)) {
					t.Errorf("body %s does not name %s", body, tt.errType)
				}
			}
			if tt.name == "large success, gzip asked" && !bytes.Contains(body, []byte(strings.Repeat("a", 5000))) {
				t.Errorf("decompressed body is not the output: %.80s", body)
			}
		})
	}
}

func TestNoResponseCRC32WithoutTheOption(t *testing.T) {
	r := checksumRouter()
	for _, body := range []string{`{"Size":5000}`, `{"Size":-1}`} {
		resp := serve(r, "Plain_1.Echo", "application/x-amz-json-1.1", body,
			map[string]string{"Authorization": checksumTestAuth, "X-Amz-Date": "20260101T000000Z", "Accept-Encoding": "gzip"})
		if v, ok := resp.Header["X-Amz-Crc32"]; ok {
			t.Errorf("%s: X-Amz-Crc32 %q on a service without ResponseCRC32", body, v)
		}
		if v := resp.Header.Get("Content-Encoding"); v != "" {
			t.Errorf("%s: Content-Encoding %q on a service without GzipResponses", body, v)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                        false,
		"identity":                false,
		"gzip":                    true,
		"GZIP":                    true,
		"x-gzip":                  true,
		"deflate, gzip":           true,
		"gzip;q=0.5":              true,
		"gzip; q=0":               false,
		"gzip;q=0.0, identity":    false,
		"*":                       true,
		"*;q=0":                   false,
		"gzip;q=0, *":             false,
		"br, *;q=0.1":             true,
		"gzip;q=bogus":            true,
		"deflate, identity;q=0.5": false,
	} {
		if got := acceptsGzip(v); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", v, got, want)
		}
	}
}

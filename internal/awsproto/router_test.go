package awsproto_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

const testAuth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd"

func newTestRouter(t *testing.T) *awsproto.Router {
	t.Helper()
	r := awsproto.NewRouter(awsproto.RouterOptions{
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes:     1024,
		DefaultRegion:    "us-east-1",
		DefaultAccountID: "000000000000",
	})
	r.Register("Kinesis_20131202", "1.1", map[string]awsproto.Handler{
		"GetShardIterator": awsproto.Op(func(ctx context.Context, in *kinesisapi.GetShardIteratorInput) (*kinesisapi.GetShardIteratorOutput, error) {
			info := awsproto.Info(ctx)
			it := info.AccountID + "/" + info.Region + "/" + string(*in.ShardIteratorType) + "/" + info.Protocol.String()
			if in.Timestamp != nil {
				it += "/" + in.Timestamp.UTC().Format("2006-01-02T15:04:05.000")
			}
			return &kinesisapi.GetShardIteratorOutput{ShardIterator: &it}, nil
		}),
		"DeleteStream": awsproto.Op(func(ctx context.Context, in *kinesisapi.DeleteStreamInput) (*awsproto.Empty, error) {
			if *in.StreamName == "missing" {
				return nil, awsproto.NewError("ResourceNotFoundException", "Stream %s under account %s not found.", *in.StreamName, awsproto.Info(ctx).AccountID)
			}
			if *in.StreamName == "boom" {
				return nil, errors.New("disk on fire at /var/secret")
			}
			if *in.StreamName == "panic" {
				panic("handler bug")
			}
			return &awsproto.Empty{}, nil
		}),
		"DescribeLimits": awsproto.Op(func(ctx context.Context, in *kinesisapi.DescribeLimitsInput) (*kinesisapi.DescribeLimitsOutput, error) {
			return &kinesisapi.DescribeLimitsOutput{ShardLimit: awsproto.Ptr[int32](500), OpenShardCount: awsproto.Ptr[int32](0),
				OnDemandStreamCount: awsproto.Ptr[int32](0), OnDemandStreamCountLimit: awsproto.Ptr[int32](50)}, nil
		}),
	})
	return r
}

type reqSpec struct {
	method, target, contentType, auth, query, origin string
	body                                             string
	header                                           map[string]string
}

func do(t *testing.T, h http.Handler, s reqSpec) *httptest.ResponseRecorder {
	t.Helper()
	if s.method == "" {
		s.method = http.MethodPost
	}
	req := httptest.NewRequest(s.method, "/"+s.query, strings.NewReader(s.body))
	if s.target != "" {
		req.Header.Set("X-Amz-Target", s.target)
	}
	if s.contentType != "" {
		req.Header.Set("Content-Type", s.contentType)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
	}
	if s.origin != "" {
		req.Header.Set("Origin", s.origin)
	}
	for k, v := range s.header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRouter(t *testing.T) {
	const j = "application/x-amz-json-1.1"
	tests := []struct {
		name       string
		req        reqSpec
		status     int
		errType    string // __type, or "" for success
		body       string // exact body when set
		bodyPrefix string
	}{
		{name: "GET is denied", req: reqSpec{method: "GET"}, status: 403,
			body: "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n"},
		{name: "no target and no content type", req: reqSpec{body: "{}"}, status: 403, bodyPrefix: "<AccessDeniedException>"},
		{name: "target but unknown content type", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: "text/plain", body: "{}"}, status: 404,
			body: "<UnknownOperationException/>\n"},
		{name: "unknown operation", req: reqSpec{target: "Kinesis_20131202.Nope", contentType: j, body: "{}", auth: testAuth}, status: 400,
			errType: "UnknownOperationException", body: `{"__type":"UnknownOperationException"}`},
		{name: "unknown service", req: reqSpec{target: "Firehose_20150804.DeleteStream", contentType: j, body: "{}", auth: testAuth}, status: 400,
			errType: "UnknownOperationException"},
		{name: "missing target with json", req: reqSpec{contentType: j, body: "{}", auth: testAuth}, status: 400, errType: "UnknownOperationException"},
		{name: "json 1.0 for a 1.1 service", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: "application/x-amz-json-1.0", body: "{}"}, status: 404},
		{name: "no authentication", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"a"}`}, status: 400,
			errType: "MissingAuthenticationTokenException", body: `{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}`},
		{name: "header and query authentication", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"a"}`, auth: testAuth, query: "?X-Amz-Algorithm=a"}, status: 400,
			errType: "InvalidSignatureException"},
		{name: "incomplete authorization header", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"a"}`, header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/e"}}, status: 400,
			errType: "IncompleteSignatureException",
			body: `{"__type":"IncompleteSignatureException","message":"Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. ` +
				`Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=a/b/c/d/e"}`},
		{name: "incomplete presigned query", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"a"}`, query: "?X-Amz-Algorithm=AWS4-HMAC-SHA256"}, status: 400,
			errType: "IncompleteSignatureException",
			body: `{"__type":"IncompleteSignatureException","message":"AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. ` +
				`AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."}`},
		{name: "presigned query accepted", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"a"}`,
			query: "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=123456789012%2F20260101%2Feu-west-1%2Fkinesis%2Faws4_request&X-Amz-Signature=ab&X-Amz-SignedHeaders=host&X-Amz-Date=20260101T000000Z"},
			status: 200, body: ""},
		{name: "malformed json", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":`, auth: testAuth}, status: 400,
			errType: "SerializationException", bodyPrefix: `{"__type":"SerializationException","Message":"Could not parse request body into json: `},
		{name: "members of an empty input are ignored", req: reqSpec{target: "Kinesis_20131202.DescribeLimits", contentType: j, body: `{"StreamName":true}`, auth: testAuth}, status: 200,
			bodyPrefix: `{"OnDemandStreamCount":0`},
		{name: "string for a timestamp", req: reqSpec{target: "Kinesis_20131202.GetShardIterator", contentType: j, body: `{"ShardId":"s","ShardIteratorType":"LATEST","Timestamp":"x"}`, auth: testAuth}, status: 400,
			errType: "SerializationException", body: `{"__type":"SerializationException","Message":"class java.lang.String can not be converted to a Timestamp"}`},
		{name: "structure for a string", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":{}}`, auth: testAuth}, status: 400,
			errType: "SerializationException", body: `{"__type":"SerializationException","Message":"Start of structure or map found where not expected."}`},
		{name: "validation error", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"a b"}`, auth: testAuth}, status: 400,
			errType: "ValidationException",
			body:    `{"__type":"ValidationException","message":"1 validation error detected: Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"}`},
		{name: "empty body for an operation that needs input", req: reqSpec{target: "Kinesis_20131202.GetShardIterator", contentType: j, auth: testAuth}, status: 400,
			errType: "SerializationException"},
		{name: "empty body for an operation without input", req: reqSpec{target: "Kinesis_20131202.DescribeLimits", contentType: j, auth: testAuth}, status: 400,
			errType: "SerializationException", body: `{"__type":"SerializationException","Message":"The request body is empty."}`},
		{name: "empty object for an operation without input", req: reqSpec{target: "Kinesis_20131202.DescribeLimits", contentType: j, body: "{}", auth: testAuth}, status: 200,
			bodyPrefix: `{"OnDemandStreamCount":0`},
		{name: "unknown members are ignored", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j + "; charset=utf-8", body: `{"StreamName":"a","Bogus":[1,{}],"StreamId":"x"}`, auth: testAuth}, status: 200, body: ""},
		{name: "service error", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"missing"}`, auth: testAuth}, status: 400,
			errType: "ResourceNotFoundException", body: `{"__type":"ResourceNotFoundException","message":"Stream missing under account 000000000000 not found."}`},
		{name: "internal error hides details", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"boom"}`, auth: testAuth}, status: 500,
			errType: "InternalFailure", body: `{"__type":"InternalFailure","message":"An internal error occurred."}`},
		{name: "panic becomes internal failure", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"panic"}`, auth: testAuth}, status: 500,
			errType: "InternalFailure"},
		{name: "body too large", req: reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: j, body: `{"StreamName":"` + strings.Repeat("a", 2000) + `"}`, auth: testAuth}, status: 413,
			errType: "RequestEntityTooLargeException"},
		{name: "account from 12-digit key and region from scope", req: reqSpec{target: "Kinesis_20131202.GetShardIterator", contentType: j, body: `{"ShardId":"s","ShardIteratorType":"LATEST","Timestamp":1767323045.678}`,
			auth: strings.Replace(testAuth, "AKIAIOSFODNN7EXAMPLE", "123456789012", 1)}, status: 200,
			body: `{"ShardIterator":"123456789012/eu-west-1/LATEST/json/2026-01-02T03:04:05.678"}`},
		{name: "default account for other keys", req: reqSpec{target: "Kinesis_20131202.GetShardIterator", contentType: j, body: `{"ShardId":"s","ShardIteratorType":"LATEST"}`, auth: testAuth}, status: 200,
			body: `{"ShardIterator":"000000000000/eu-west-1/LATEST/json"}`},
	}
	r := newTestRouter(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(t, r, tt.req)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if w.Header().Get("x-amzn-RequestId") == "" || w.Header().Get("x-amz-id-2") == "" {
				t.Error("missing request id headers")
			}
			if got := w.Header().Get("X-Amzn-ErrorType"); tt.errType != "" && got != tt.errType {
				t.Errorf("X-Amzn-ErrorType = %q, want %q", got, tt.errType)
			}
			if tt.errType != "" && strings.HasPrefix(w.Body.String(), "{") {
				var m map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["__type"] != tt.errType {
					t.Errorf("body %s: __type != %s", w.Body, tt.errType)
				}
			}
			if tt.body != "" || (tt.status == 200 && tt.bodyPrefix == "") {
				if w.Body.String() != tt.body {
					t.Errorf("body = %q, want %q", w.Body, tt.body)
				}
			}
			if tt.bodyPrefix != "" && !strings.HasPrefix(w.Body.String(), tt.bodyPrefix) {
				t.Errorf("body = %q, want prefix %q", w.Body, tt.bodyPrefix)
			}
			if tt.status == 200 && w.Body.Len() == 0 && w.Header().Get("Content-Length") != "0" {
				t.Error("empty response without Content-Length: 0")
			}
		})
	}
}

func TestRouterCORS(t *testing.T) {
	r := newTestRouter(t)
	w := do(t, r, reqSpec{method: "OPTIONS", origin: "http://x", header: map[string]string{
		"Access-Control-Request-Headers": "x-amz-target,content-type", "Access-Control-Request-Method": "POST"}})
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
		w.Header().Get("Access-Control-Max-Age") != "172800" ||
		w.Header().Get("Access-Control-Allow-Headers") != "x-amz-target,content-type" ||
		w.Header().Get("Access-Control-Allow-Methods") != "POST" || w.Body.Len() != 0 {
		t.Errorf("preflight: %d %v %q", w.Code, w.Header(), w.Body)
	}
	w = do(t, r, reqSpec{origin: "http://x", target: "Kinesis_20131202.DeleteStream", contentType: "application/x-amz-json-1.1", body: `{"StreamName":"a"}`, auth: testAuth})
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("simple request: %d %v", w.Code, w.Header())
	}
}

func TestRouterCBOR(t *testing.T) {
	r := newTestRouter(t)
	const c = "application/x-amz-cbor-1.1"
	body, _ := hexBytes(t, getShardIteratorAtTimestampCBOR)
	w := do(t, r, reqSpec{target: "Kinesis_20131202.GetShardIterator", contentType: c, body: string(body), auth: testAuth})
	if w.Code != 200 || w.Header().Get("Content-Type") != c {
		t.Fatalf("status %d type %q body %x", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
	}
	var out map[string]string
	if err := cbor.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if want := "000000000000/eu-west-1/AT_TIMESTAMP/cbor/2026-01-02T03:04:05.678"; out["ShardIterator"] != want {
		t.Errorf("ShardIterator = %q, want %q", out["ShardIterator"], want)
	}

	// Errors are CBOR maps too.
	w = do(t, r, reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: c, body: string(mustCBOR(t, map[string]any{"StreamName": "missing"})), auth: testAuth})
	var e map[string]string
	if err := cbor.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 {
		t.Fatalf("status %d: %v", w.Code, err)
	}
	if e["__type"] != "ResourceNotFoundException" || e["message"] != "Stream missing under account 000000000000 not found." {
		t.Errorf("error body = %v", e)
	}
	// A byte string where a string belongs.
	w = do(t, r, reqSpec{target: "Kinesis_20131202.DeleteStream", contentType: c, body: string(mustCBOR(t, map[string]any{"StreamName": []byte("a")})), auth: testAuth})
	if err := cbor.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 || e["__type"] != "SerializationException" || e["Message"] == "" {
		t.Errorf("byte string for string: %d %v", w.Code, e)
	}
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRouterKeepsServingAfterPanic checks that a panicking handler does not
// take the server down.
func TestRouterKeepsServingAfterPanic(t *testing.T) {
	srv := httptest.NewServer(newTestRouter(t))
	defer srv.Close()
	for _, name := range []string{"panic", "ok"} {
		req, _ := http.NewRequest("POST", srv.URL, bytes.NewBufferString(`{"StreamName":"`+name+`"}`))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", testAuth)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := 200
		if name == "panic" {
			want = 500
		}
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, want)
		}
	}
}

package awsproto_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
)

const restAuth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd"

func newRESTRouter(t *testing.T) *awsproto.Router {
	t.Helper()
	r := awsproto.NewRouter(awsproto.RouterOptions{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes: 64,
	})
	r.Register("Kinesis_20131202", "1.1", map[string]awsproto.Handler{})
	r.RegisterREST("lambda", []awsproto.RESTRoute{
		{Operation: "GetThing", Method: http.MethodGet, Path: awsproto.RESTPath("/2015-03-31/things/{Name}?x=1"),
			Handler: func(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
				info := awsproto.Info(ctx)
				switch name := req.HTTP.PathValue("Name"); name {
				case "missing":
					return nil, awsproto.NewError("ResourceNotFoundException", "Thing not found: %s", name).WithStatus(http.StatusNotFound).WithCapitalMessage()
				case "boom":
					return nil, errors.New("disk on fire")
				case "panic":
					panic("handler bug")
				default:
					return awsproto.JSONResponse(http.StatusOK, map[string]string{
						"Name": name, "Op": info.Operation, "Service": info.Service, "Region": info.Region,
						"Account": info.AccountID, "Protocol": info.Protocol.String(), "Q": req.HTTP.URL.Query().Get("q")})
				}
			}},
		{Operation: "PutThing", Method: http.MethodPost, Path: "/2015-03-31/things", MaxBodyBytes: 128,
			Handler: func(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
				return &awsproto.RESTResponse{Status: http.StatusCreated, ContentType: "application/octet-stream", Body: req.Body}, nil
			}},
	})
	return r
}

func TestRESTRouting(t *testing.T) {
	r := newRESTRouter(t)
	do := func(method, path, body string, signed bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if signed {
			req.Header.Set("X-Amz-Date", "20260101T000000Z")
			req.Header.Set("Authorization", restAuth)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	decode := func(w *httptest.ResponseRecorder) map[string]string {
		t.Helper()
		var m map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
		return m
	}

	w := do(http.MethodGet, "/2015-03-31/things/t1?q=v", "", true)
	if w.Code != http.StatusOK || w.Header().Get("X-Amzn-Requestid") == "" {
		t.Fatalf("GET: %d %v %s", w.Code, w.Header(), w.Body)
	}
	got := decode(w)
	want := map[string]string{"Name": "t1", "Op": "GetThing", "Service": "lambda", "Region": "eu-west-1",
		"Account": "000000000000", "Protocol": "rest-json", "Q": "v"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	w = do(http.MethodGet, "/2015-03-31/things/missing", "", true)
	if w.Code != http.StatusNotFound || w.Header().Get("X-Amzn-Errortype") != "ResourceNotFoundException" {
		t.Fatalf("missing: %d %v", w.Code, w.Header())
	}
	if m := decode(w); m["Type"] != "User" || m["Message"] != "Thing not found: missing" {
		t.Errorf("missing body %v", m)
	}

	for _, name := range []string{"boom", "panic"} {
		w = do(http.MethodGet, "/2015-03-31/things/"+name, "", true)
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "disk") {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
		if m := decode(w); m["Type"] != "Service" {
			t.Errorf("%s: body %v", name, m)
		}
	}

	// No signature: the same authentication errors as the JSON services.
	w = do(http.MethodGet, "/2015-03-31/things/t1", "", false)
	if w.Code < 400 || !strings.Contains(w.Header().Get("X-Amzn-Errortype"), "Authentication") {
		t.Errorf("unsigned: %d %v %s", w.Code, w.Header(), w.Body)
	}

	// The route's own body limit (128) applies, not the router's (64).
	w = do(http.MethodPost, "/2015-03-31/things", strings.Repeat("x", 100), true)
	if w.Code != http.StatusCreated || w.Body.Len() != 100 {
		t.Errorf("POST 100 bytes: %d %d", w.Code, w.Body.Len())
	}
	w = do(http.MethodPost, "/2015-03-31/things", strings.Repeat("x", 200), true)
	if w.Code != http.StatusRequestEntityTooLarge || w.Header().Get("X-Amzn-Errortype") != "RequestEntityTooLargeException" {
		t.Errorf("POST 200 bytes: %d %v", w.Code, w.Header())
	}

	// A method the path does not serve, and an X-Amz-Target request,
	// are not REST requests.
	w = do(http.MethodDelete, "/2015-03-31/things/t1", "", true)
	if w.Code != http.StatusForbidden {
		t.Errorf("DELETE: %d %s", w.Code, w.Body)
	}
	req := httptest.NewRequest(http.MethodPost, "/2015-03-31/things", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	req.Header.Set("Content-Type", awsproto.ContentTypeJSON11)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "UnknownOperationException") {
		t.Errorf("X-Amz-Target request went elsewhere: %d %s", rec.Code, rec.Body)
	}
}

func TestRESTPath(t *testing.T) {
	for in, want := range map[string]string{
		"/2015-03-31/functions/{FunctionName}/invocations": "/2015-03-31/functions/{FunctionName}/invocations",
		"/2017-03-31/tags/{ARN}?x=y":                       "/2017-03-31/tags/{ARN}",
		"/{Bucket}/{Key+}":                                 "/{Bucket}/{Key...}",
	} {
		if got := awsproto.RESTPath(in); got != want {
			t.Errorf("RESTPath(%q) = %q, want %q", in, got, want)
		}
	}
}

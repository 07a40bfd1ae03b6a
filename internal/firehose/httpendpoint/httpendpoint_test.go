package httpendpoint

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/millrace/millrace/internal/firehose/sink"
)

func TestResponses(t *testing.T) {
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		ok        bool
		permanent bool
	}{
		{"200 with the request id", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"requestId":"` + r.Header.Get("X-Amz-Firehose-Request-Id") + `","timestamp":1}`))
		}, true, false},
		{"200 with another request id", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"requestId":"other","timestamp":1}`))
		}, false, false},
		{"200 not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`ok`)) }, false, false},
		{"201", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.Write([]byte(`{"requestId":"` + r.Header.Get("X-Amz-Firehose-Request-Id") + `","timestamp":1}`))
		}, false, false},
		{"413", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(413) }, false, true},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewTLSServer(tc.handler)
			defer ts.Close()
			d := New(Config{URL: ts.URL, Client: ts.Client()})
			_, err := d.Deliver(t.Context(), &sink.Batch{ID: "id-1", Records: []sink.Record{{Data: []byte("x")}}})
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if IsPermanent(err) != tc.permanent {
				t.Fatalf("err %v: permanent %v, want %v", err, IsPermanent(err), tc.permanent)
			}
			var ee *EndpointError
			if !tc.ok && !tc.permanent && !errors.As(err, &ee) {
				t.Fatalf("err %T %v is not an EndpointError", err, err)
			}
		})
	}
}

package opensearch

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

type cannedTransport struct {
	status int
	body   []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(bytes.NewReader(c.body)), Header: http.Header{}, Request: r}, nil
}

// FuzzBulkAnswer: whatever the cluster answers, Deliver never panics and
// rejects only records it sent.
func FuzzBulkAnswer(f *testing.F) {
	f.Add(200, []byte(`{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"x"}}}]}`))
	f.Add(200, []byte(`{"errors":false,"items":[{"create":{}}]}`))
	f.Add(500, []byte(`oops`))
	f.Add(200, []byte(`{"items":[{"index":{"status":429}},{"index":{"status":"x"}}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		d, err := New(Config{ClusterEndpoint: "http://cluster.test", IndexName: "i", Client: &http.Client{Transport: cannedTransport{status, body}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Deliver(context.Background(), batch(`{"a":1}`, `nope`, `{"b":2}`))
		if err != nil {
			return
		}
		for _, r := range res.Rejected {
			if r.Index < 0 || r.Index > 2 || r.Code == "" {
				t.Fatalf("rejection %+v", r)
			}
		}
	})
}

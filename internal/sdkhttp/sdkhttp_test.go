package sdkhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/sdkhttp"
)

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// writerToBody is a body like the SDK's: a ReadCloser with WriteTo.
type writerToBody struct{ *bytes.Reader }

func (writerToBody) Close() error { return nil }

func TestPlainBodies(t *testing.T) {
	var got []byte
	var offered bool
	c := sdkhttp.PlainBodies(doFunc(func(r *http.Request) (*http.Response, error) {
		_, offered = r.Body.(io.WriterTo)
		var err error
		got, err = io.ReadAll(r.Body)
		return nil, err
	}))
	body := writerToBody{bytes.NewReader([]byte(`{"Records":[]}`))}
	req, err := http.NewRequest(http.MethodPost, "http://localhost/", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	if offered {
		t.Error("the body handed on offers io.WriterTo")
	}
	if string(got) != `{"Records":[]}` {
		t.Errorf("body handed on %q, want the request's", got)
	}
	if req.Body != io.ReadCloser(body) {
		t.Error("the caller's request lost its body")
	}
	if sdkhttp.PlainBodies(http.DefaultClient) != sdkhttp.PlainBodies(sdkhttp.PlainBodies(http.DefaultClient)) {
		t.Error("a wrapped client is wrapped again")
	}
}

func TestPlainBodiesWithoutBody(t *testing.T) {
	var got io.ReadCloser
	c := sdkhttp.PlainBodies(doFunc(func(r *http.Request) (*http.Response, error) {
		got = r.Body
		return nil, nil
	}))
	req, err := http.NewRequest(http.MethodGet, "http://localhost/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = http.NoBody
	c.Do(req)
	if got != http.NoBody {
		t.Errorf("body %T handed on, want http.NoBody", got)
	}
}

// TestPlainBodiesOptions: the clients of the services' Options go through
// PlainBodies and back, a nil one staying nil.
func TestPlainBodiesOptions(t *testing.T) {
	var k kinesis.Options
	k.HTTPClient = sdkhttp.PlainBodies(k.HTTPClient)
	if k.HTTPClient != nil {
		t.Errorf("nil kinesis HTTPClient became %T", k.HTTPClient)
	}
	d := dynamodb.Options{HTTPClient: http.DefaultClient}
	d.HTTPClient = sdkhttp.PlainBodies(d.HTTPClient)
	if _, ok := d.HTTPClient.(*http.Client); ok || d.HTTPClient == nil {
		t.Errorf("dynamodb HTTPClient is %T, want it wrapped", d.HTTPClient)
	}
}

package producer

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// aws-sdk-go-v2 closes a request's body as soon as the response headers
// arrive, while net/http may still be finishing the request: it drains the
// body through io.WriterTo, which the SDK's closed body answers with
// io.EOF. net/http takes that for a failed write and closes the
// connection, a response body not yet read fails ("use of closed network
// connection"), and the SDK retries the call, which the stream had already
// taken: every record of it is written twice. Against a server that
// answers within microseconds this happens to a few PutRecords calls in a
// thousand. Hiding WriteTo makes net/http drain the body with Read, which
// ends with a plain io.EOF, so a PutRecords call is written once.
func plainRequestBodies(o *kinesis.Options) {
	if o.HTTPClient != nil {
		o.HTTPClient = readOnlyBodies{o.HTTPClient}
	}
}

// readOnlyBodies hands requests to an HTTP client with their bodies
// reduced to io.ReadCloser.
type readOnlyBodies struct{ c kinesis.HTTPClient }

func (r readOnlyBodies) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req = req.WithContext(req.Context()) // a shallow copy: the SDK closes the body it built
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return r.c.Do(req)
}

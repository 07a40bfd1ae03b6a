// Package httpendpoint is the HTTP endpoint destination of a Firehose
// delivery stream, speaking Firehose's HTTP endpoint delivery protocol
// 1.0: one POST per batch with a JSON body of base64 records, the request
// id stable across the retries of a batch, the access key and common
// attributes in headers, optional gzip content encoding; only a 200 whose
// body names the same request id is a success.
package httpendpoint

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Config is one HTTP endpoint destination.
type Config struct {
	URL       string
	AccessKey string
	// CommonAttributes go in X-Amz-Firehose-Common-Attributes.
	CommonAttributes map[string]string
	GZIP             bool
	// SourceARN is the delivery stream's ARN (X-Amz-Firehose-Source-Arn).
	SourceARN string
	Client    *http.Client // nil: a client with Firehose's 3-minute response limit
	Now       func() time.Time
}

// ResponseTimeout is how long an endpoint has to answer.
const ResponseTimeout = 3 * time.Minute

// maxResponseBytes bounds the response body an endpoint may send.
const maxResponseBytes = 1 << 20

// Destination posts batches to the endpoint.
type Destination struct {
	cfg Config
}

var _ sink.Destination = (*Destination)(nil)

// New returns the destination.
func New(cfg Config) *Destination {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: ResponseTimeout}
	}
	// Firehose does not follow redirects: a 3xx is a failed attempt.
	c := *cfg.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &c
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Destination{cfg: cfg}
}

// PermanentError is a failure that retrying cannot fix: the endpoint
// answered 413, and the batch is not sent to the error output either.
type PermanentError struct{ Status int }

func (e *PermanentError) Error() string {
	return fmt.Sprintf("the endpoint answered %d Request Entity Too Large", e.Status)
}

// EndpointError is a failed attempt, with what the endpoint answered.
type EndpointError struct {
	Status  int
	Message string // the response's errorMessage, or why the response was unusable
}

func (e *EndpointError) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	return fmt.Sprintf("the endpoint answered %d: %s", e.Status, e.Message)
}

type requestBody struct {
	RequestID string       `json:"requestId"`
	Timestamp int64        `json:"timestamp"`
	Records   []recordBody `json:"records"`
}

type recordBody struct {
	Data string `json:"data"`
}

type responseBody struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage"`
}

// Body is the JSON request body of a batch.
func Body(b *sink.Batch, now time.Time) ([]byte, error) {
	req := requestBody{RequestID: b.ID, Timestamp: now.UnixMilli(), Records: make([]recordBody, len(b.Records))}
	for i, r := range b.Records {
		req.Records[i].Data = base64.StdEncoding.EncodeToString(r.Data)
	}
	return json.Marshal(req)
}

// Deliver posts the batch once. The engine retries with the same batch
// (hence the same X-Amz-Firehose-Request-Id).
func (d *Destination) Deliver(ctx context.Context, b *sink.Batch) (sink.Result, error) {
	body, err := Body(b, d.cfg.Now())
	if err != nil {
		return sink.Result{}, err
	}
	if d.cfg.GZIP {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(body)
		if err := w.Close(); err != nil {
			return sink.Result{}, err
		}
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return sink.Result{}, &EndpointError{Message: err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-Amz-Firehose-Protocol-Version", "1.0")
	h.Set("X-Amz-Firehose-Request-Id", b.ID)
	h.Set("X-Amz-Firehose-Source-Arn", d.cfg.SourceARN)
	if d.cfg.AccessKey != "" {
		h.Set("X-Amz-Firehose-Access-Key", d.cfg.AccessKey)
	}
	if len(d.cfg.CommonAttributes) > 0 {
		attrs, _ := json.Marshal(map[string]any{"commonAttributes": d.cfg.CommonAttributes})
		h.Set("X-Amz-Firehose-Common-Attributes", string(attrs))
	}
	if d.cfg.GZIP {
		h.Set("Content-Encoding", "gzip")
	}
	req.ContentLength = int64(len(body))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return sink.Result{}, ctx.Err()
		}
		return sink.Result{}, &EndpointError{Message: "the request failed: " + err.Error()}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	var out responseBody
	// A response Firehose cannot read counts as a 500 with no body.
	malformed := rerr != nil || len(raw) > maxResponseBytes || json.Unmarshal(raw, &out) != nil
	switch {
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return sink.Result{}, &PermanentError{Status: resp.StatusCode}
	case resp.StatusCode != http.StatusOK:
		msg := out.ErrorMessage
		if malformed || msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return sink.Result{}, &EndpointError{Status: resp.StatusCode, Message: msg}
	case malformed:
		return sink.Result{}, &EndpointError{Status: http.StatusInternalServerError, Message: "the response is not the JSON object {requestId, timestamp}"}
	case out.RequestID != b.ID:
		return sink.Result{}, &EndpointError{Status: http.StatusInternalServerError,
			Message: "the response's requestId " + strconv.Quote(out.RequestID) + " is not the request's " + strconv.Quote(b.ID)}
	}
	return sink.Result{Location: d.cfg.URL}, nil
}

// Close closes idle connections.
func (d *Destination) Close() error {
	d.cfg.Client.CloseIdleConnections()
	return nil
}

// IsPermanent reports whether err is a failure retrying cannot fix.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Package splunk is the Splunk destination of a Firehose delivery stream:
// each batch is one request to the HTTP Event Collector (HEC), raw or
// event endpoint, with the token in "Authorization: Splunk <token>", and
// delivery counts only once the indexers acknowledge it (the HEC ack
// endpoint, polled until HECAcknowledgmentTimeoutInSeconds).
//
// No Splunk server can be installed where Millrace is built, so this
// package is tested against a server in its tests that follows the
// documented HEC contract, not against a real Splunk.
package splunk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Config is the part of SplunkDestinationConfiguration that reaches the
// HEC; the engine handles buffering, RetryOptions and S3BackupMode.
type Config struct {
	// HECEndpoint is the collector's base URL, e.g. https://splunk:8088.
	HECEndpoint string
	// HECEndpointType: Raw (records concatenated as they are) or Event
	// (each record one or more HEC event objects, {"event": ...}).
	HECEndpointType string
	HECToken        string
	// HECAcknowledgmentTimeoutInSeconds: how long to wait for the
	// indexers' acknowledgement (180..600, default 180).
	HECAcknowledgmentTimeoutInSeconds *int32
	// Client sends the requests (default: a client with a 60 s timeout).
	Client *http.Client

	// ackPoll is the pause between acknowledgement polls (default 1 s);
	// ackTimeout overrides the acknowledgement timeout (tests).
	ackPoll    time.Duration
	ackTimeout time.Duration
}

// ErrInvalidConfig is wrapped by every error New returns for a
// configuration Firehose would refuse.
var ErrInvalidConfig = errors.New("invalid Splunk destination configuration")

// Firehose's error codes for Splunk delivery, as its failed-events records
// carry them.
const (
	CodeInvalidEvent    = "Splunk.InvalidEvent"
	CodeInvalidToken    = "Splunk.InvalidToken"
	CodeDisabledToken   = "Splunk.DisabledToken"
	CodeIndexerBusy     = "Splunk.IndexerBusy"
	CodeServerError     = "Splunk.ServerError"
	CodeAckTimeout      = "Splunk.AckTimeout"
	CodeConnectionError = "Splunk.ConnectionTimeout"
	CodeInvalidIndex    = "Splunk.InvalidIndex"
	// ErrorOutputType is the error output prefix's
	// !{firehose:error-output-type} for events that failed.
	ErrorOutputType = "splunk-failed"
)

// Error is a failed delivery with Firehose's error code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "splunk: " + e.Code + ": " + e.Message }

// ErrorCode is the error code Firehose writes in the error output.
func (e *Error) ErrorCode() string { return e.Code }

// Destination sends batches to a HEC.
type Destination struct {
	postURL    string
	ackURL     string
	raw        bool
	token      string
	client     *http.Client
	ackPoll    time.Duration
	ackTimeout time.Duration
}

var _ sink.Destination = (*Destination)(nil)

// New checks the configuration.
func New(cfg Config) (*Destination, error) {
	u, err := url.Parse(cfg.HECEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: HECEndpoint %q is not an http(s) URL", ErrInvalidConfig, cfg.HECEndpoint)
	}
	d := &Destination{token: cfg.HECToken, client: cfg.Client, ackPoll: cfg.ackPoll, ackTimeout: cfg.ackTimeout}
	switch cfg.HECEndpointType {
	case "Raw":
		d.raw = true
	case "Event":
	default:
		return nil, fmt.Errorf("%w: HECEndpointType %q is not Raw or Event", ErrInvalidConfig, cfg.HECEndpointType)
	}
	if d.token == "" {
		return nil, fmt.Errorf("%w: HECToken is required", ErrInvalidConfig)
	}
	timeout := int32(180)
	if p := cfg.HECAcknowledgmentTimeoutInSeconds; p != nil {
		if *p < 180 || *p > 600 {
			return nil, fmt.Errorf("%w: HECAcknowledgmentTimeoutInSeconds %d is outside 180..600", ErrInvalidConfig, *p)
		}
		timeout = *p
	}
	if d.ackTimeout == 0 {
		d.ackTimeout = time.Duration(timeout) * time.Second
	}
	if d.ackPoll == 0 {
		d.ackPoll = time.Second
	}
	if d.client == nil {
		d.client = &http.Client{Timeout: 60 * time.Second}
	}
	base := strings.TrimSuffix(u.String(), "/")
	// A full collector path in HECEndpoint is kept as the base.
	base = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, "/raw"), "/event"), "/services/collector")
	if d.raw {
		d.postURL = base + "/services/collector/raw"
	} else {
		d.postURL = base + "/services/collector/event"
	}
	d.ackURL = base + "/services/collector/ack"
	return d, nil
}

// channel is the batch's HEC request channel: a GUID derived from the
// batch id, so a retry of the batch uses the same channel.
func channel(batchID string) string {
	var b [16]byte
	if batchID == "" {
		rand.Read(b[:])
	} else {
		sum := sha256.Sum256([]byte(batchID))
		copy(b[:], sum[:16])
	}
	b[6] = b[6]&0x0f | 0x40 // a version 4 layout, as HEC expects a GUID
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

type hecAnswer struct {
	Text               string `json:"text"`
	Code               int    `json:"code"`
	AckID              *int64 `json:"ackId"`
	InvalidEventNumber *int   `json:"invalid-event-number"`
}

// Deliver posts the batch and waits for its acknowledgement. On the event
// endpoint, records that are not HEC event objects are rejected before
// sending.
func (d *Destination) Deliver(ctx context.Context, b *sink.Batch) (sink.Result, error) {
	var body bytes.Buffer
	var res sink.Result
	events := 0
	for i, r := range b.Records {
		if d.raw {
			body.Write(r.Data)
			events++
			continue
		}
		n, err := checkEvents(r.Data)
		if err != nil {
			res.Rejected = append(res.Rejected, sink.Rejection{Index: i, Code: CodeInvalidEvent, Message: err.Error()})
			continue
		}
		body.Write(r.Data)
		events += n
	}
	if events == 0 {
		res.Location = "0 events"
		return res, nil
	}
	ch := channel(b.ID)
	ans, err := d.post(ctx, d.postURL, ch, body.Bytes())
	if err != nil {
		return sink.Result{}, err
	}
	if ans.AckID == nil {
		// The token has indexer acknowledgement off: HEC accepted the
		// events and says no more.
		res.Location = fmt.Sprintf("%d events (no acknowledgement)", events)
		return res, nil
	}
	if err := d.waitAck(ctx, ch, *ans.AckID); err != nil {
		return sink.Result{}, err
	}
	res.Location = fmt.Sprintf("%d events (ackId %d)", events, *ans.AckID)
	return res, nil
}

// checkEvents reads a record as HEC event objects, each with a non-empty
// "event", as the event endpoint requires; it returns their count.
func checkEvents(data []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var ev map[string]json.RawMessage
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return 0, errors.New("no event in the record")
			}
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("not HEC event JSON: %v", err)
		}
		e, ok := ev["event"]
		if !ok {
			return 0, errors.New(`event field is required (the event endpoint takes {"event": ...} objects)`)
		}
		if s := strings.TrimSpace(string(e)); s == `""` || s == "null" {
			return 0, errors.New("event field cannot be blank")
		}
		n++
	}
}

func (d *Destination) post(ctx context.Context, u, ch string, body []byte) (*hecAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Splunk "+d.token)
	req.Header.Set("X-Splunk-Request-Channel", ch)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, &Error{Code: CodeConnectionError, Message: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Code: CodeConnectionError, Message: err.Error()}
	}
	var ans hecAnswer
	jsonErr := json.Unmarshal(raw, &ans)
	if resp.StatusCode == http.StatusOK && jsonErr == nil && ans.Code == 0 {
		return &ans, nil
	}
	return nil, &Error{Code: codeOf(resp.StatusCode, ans.Code), Message: fmt.Sprintf("HEC answered %d: %s", resp.StatusCode, snippet(raw))}
}

// codeOf maps HEC's status codes (Splunk's documented "code" values) to
// Firehose's error codes.
func codeOf(status, code int) string {
	switch code {
	case 2, 3, 4:
		return CodeInvalidToken
	case 1:
		return CodeDisabledToken
	case 5, 6, 12, 13:
		return CodeInvalidEvent
	case 7:
		return CodeInvalidIndex
	case 9:
		return CodeIndexerBusy
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return CodeInvalidToken
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		return CodeIndexerBusy
	}
	return CodeServerError
}

// waitAck polls the ack endpoint until the indexers acknowledge ackID or
// the acknowledgement timeout passes (Splunk.AckTimeout).
func (d *Destination) waitAck(parent context.Context, ch string, ackID int64) error {
	ctx, cancel := context.WithTimeout(parent, d.ackTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string][]int64{"acks": {ackID}})
	key := strconv.FormatInt(ackID, 10)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.ackURL+"?channel="+url.QueryEscape(ch), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Splunk "+d.token)
		req.Header.Set("X-Splunk-Request-Channel", ch)
		req.Header.Set("Content-Type", "application/json")
		resp, err := d.client.Do(req)
		if err == nil {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				var ans hecAnswer
				_ = json.Unmarshal(raw, &ans)
				return &Error{Code: codeOf(resp.StatusCode, ans.Code), Message: fmt.Sprintf("ack endpoint answered %d: %s", resp.StatusCode, snippet(raw))}
			}
			var acks struct {
				Acks map[string]bool `json:"acks"`
			}
			if json.Unmarshal(raw, &acks) == nil && acks.Acks[key] {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return err
			}
			return &Error{Code: CodeAckTimeout, Message: fmt.Sprintf("no acknowledgement of ackId %d on channel %s within %s", ackID, ch, d.ackTimeout)}
		case <-time.After(d.ackPoll):
		}
	}
}

func snippet(b []byte) string {
	if len(b) > 512 {
		return string(b[:512]) + "..."
	}
	return string(b)
}

// Close has nothing to release.
func (d *Destination) Close() error { return nil }

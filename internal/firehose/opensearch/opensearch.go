// Package opensearch is the Amazon OpenSearch Service (and Elasticsearch)
// destination of a Firehose delivery stream: each batch is one _bulk
// request of index actions, with the index name rotated by the records'
// arrival time and a document id that stays the same across retries.
//
// No OpenSearch or Elasticsearch server can be installed where Millrace is
// built, so this package is tested against a server in its tests that
// follows the documented _bulk contract, not against a real one.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Config is the part of AmazonopensearchserviceDestinationConfiguration
// (and ElasticsearchDestinationConfiguration) that reaches the cluster;
// the engine handles buffering, RetryOptions and S3BackupMode.
type Config struct {
	// ClusterEndpoint is the cluster's URL, e.g. https://search.example:9200;
	// user:password in it are sent as HTTP basic authentication. DomainARN
	// cannot be resolved outside AWS, so a ClusterEndpoint is required.
	ClusterEndpoint string
	DomainARN       string
	// IndexName is the index (1..80 characters), and TypeName the
	// mapping type Elasticsearch 6 and older want (empty for OpenSearch).
	IndexName string
	TypeName  string
	// IndexRotationPeriod: NoRotation, OneHour, OneDay (default), OneWeek
	// or OneMonth.
	IndexRotationPeriod string
	DocumentIdOptions   *DocumentIdOptions
	// Client sends the requests (default: a client with a 60 s timeout).
	Client *http.Client
}

// DocumentIdOptions says how documents get their ids.
type DocumentIdOptions struct {
	// DefaultDocumentIdFormat: FIREHOSE_DEFAULT (an id derived from the
	// record, the same on every attempt, so a retry overwrites instead of
	// duplicating) or NO_DOCUMENT_ID (the cluster picks one).
	DefaultDocumentIdFormat string
}

// ErrInvalidConfig is wrapped by every error New returns for a
// configuration Firehose would refuse.
var ErrInvalidConfig = errors.New("invalid OpenSearch destination configuration")

// Codes of the records Deliver rejects; a document the cluster refuses
// carries the cluster's error type (e.g. mapper_parsing_exception).
const (
	CodeInvalidDocument = "OpenSearch.InvalidDocument"
	// ErrorOutputType is the error output prefix's
	// !{firehose:error-output-type} for rejected documents.
	ErrorOutputType = "AmazonOpenSearchService-failed"
)

// Destination sends batches to the _bulk API.
type Destination struct {
	bulkURL  string
	user     *url.Userinfo
	index    string
	typeName string
	rotation string
	ids      bool
	client   *http.Client
}

var _ sink.Destination = (*Destination)(nil)

// New checks the configuration.
func New(cfg Config) (*Destination, error) {
	if cfg.ClusterEndpoint == "" {
		if cfg.DomainARN != "" {
			return nil, fmt.Errorf("%w: DomainARN %s cannot be resolved outside AWS; give the cluster's ClusterEndpoint", ErrInvalidConfig, cfg.DomainARN)
		}
		return nil, fmt.Errorf("%w: ClusterEndpoint is required", ErrInvalidConfig)
	}
	u, err := url.Parse(cfg.ClusterEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: ClusterEndpoint %q is not an http(s) URL", ErrInvalidConfig, cfg.ClusterEndpoint)
	}
	if n := len(cfg.IndexName); n < 1 || n > 80 {
		return nil, fmt.Errorf("%w: IndexName must have 1 to 80 characters", ErrInvalidConfig)
	}
	if cfg.IndexName != strings.ToLower(cfg.IndexName) || strings.ContainsAny(cfg.IndexName, `\/*?"<>| ,#:`) || strings.HasPrefix(cfg.IndexName, "_") {
		return nil, fmt.Errorf("%w: IndexName %q is not a valid index name (lower case, none of \\/*?\"<>| ,#: and no leading _)", ErrInvalidConfig, cfg.IndexName)
	}
	d := &Destination{index: cfg.IndexName, typeName: cfg.TypeName, user: u.User, client: cfg.Client, ids: true}
	switch cfg.IndexRotationPeriod {
	case "":
		d.rotation = "OneDay"
	case "NoRotation", "OneHour", "OneDay", "OneWeek", "OneMonth":
		d.rotation = cfg.IndexRotationPeriod
	default:
		return nil, fmt.Errorf("%w: IndexRotationPeriod %q is not one of NoRotation, OneHour, OneDay, OneWeek, OneMonth", ErrInvalidConfig, cfg.IndexRotationPeriod)
	}
	if o := cfg.DocumentIdOptions; o != nil {
		switch o.DefaultDocumentIdFormat {
		case "FIREHOSE_DEFAULT":
		case "NO_DOCUMENT_ID":
			d.ids = false
		default:
			return nil, fmt.Errorf("%w: DocumentIdOptions.DefaultDocumentIdFormat %q is not FIREHOSE_DEFAULT or NO_DOCUMENT_ID", ErrInvalidConfig, o.DefaultDocumentIdFormat)
		}
	}
	u.User = nil
	u.Path = strings.TrimSuffix(u.Path, "/") + "/_bulk"
	u.RawQuery = ""
	d.bulkURL = u.String()
	if d.client == nil {
		d.client = &http.Client{Timeout: 60 * time.Second}
	}
	return d, nil
}

// IndexName is the index a record that arrived at t goes to: IndexName
// with the rotation's suffix of the UTC arrival time, as Firehose names
// them (myindex-2016-02-25-13, myindex-2016-02-25, myindex-2016-w08,
// myindex-2016-02).
func IndexName(index, rotation string, t time.Time) string {
	t = t.UTC()
	switch rotation {
	case "OneHour":
		return index + t.Format("-2006-01-02-15")
	case "OneDay", "":
		return index + t.Format("-2006-01-02")
	case "OneWeek":
		// Firehose's documented example, myindex-2016-w08 for
		// 2016-02-25, is the ISO 8601 week and its year.
		y, w := t.ISOWeek()
		return fmt.Sprintf("%s-%04d-w%02d", index, y, w)
	case "OneMonth":
		return index + t.Format("-2006-01")
	}
	return index
}

// DocumentID is the FIREHOSE_DEFAULT id of a record: its stream and
// record id, the same on every attempt.
func DocumentID(stream, recordID string) string {
	return stream + "-" + recordID
}

type action struct {
	Index actionMeta `json:"index"`
}

type actionMeta struct {
	Index string `json:"_index"`
	Type  string `json:"_type,omitempty"`
	ID    string `json:"_id,omitempty"`
}

type bulkResponse struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkItemResult `json:"items"`
}

type bulkItemResult struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

type bulkError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Error is a failed bulk request, with the code Firehose puts in the
// failed-documents record.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "opensearch: " + e.Code + ": " + e.Message }

// ErrorCode is the error code Firehose writes in the error output.
func (e *Error) ErrorCode() string { return e.Code }

// Deliver sends one _bulk request. Documents the cluster refuses for what
// they are (a 4xx item other than 429) come back as Rejected; an item the
// cluster could not take for now (429, 5xx) fails the batch so the engine
// retries it, which with FIREHOSE_DEFAULT ids overwrites what was indexed.
func (d *Destination) Deliver(ctx context.Context, b *sink.Batch) (sink.Result, error) {
	var body bytes.Buffer
	var res sink.Result
	var sent []int // record index of each bulk item
	enc := json.NewEncoder(&body)
	for i, r := range b.Records {
		doc := bytes.TrimSpace(r.Data)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
			msg := "the record is not one JSON object"
			if err != nil {
				msg += ": " + err.Error()
			}
			res.Rejected = append(res.Rejected, sink.Rejection{Index: i, Code: CodeInvalidDocument, Message: msg})
			continue
		}
		a := action{Index: actionMeta{Index: IndexName(d.index, d.rotation, r.Arrival), Type: d.typeName}}
		if d.ids {
			a.Index.ID = DocumentID(b.Stream, r.ID)
		}
		if err := enc.Encode(a); err != nil {
			return sink.Result{}, err
		}
		// Bulk bodies are one document per line: a record's own
		// newlines (between tokens) must go.
		var compact bytes.Buffer
		if err := json.Compact(&compact, doc); err != nil {
			return sink.Result{}, err
		}
		body.Write(compact.Bytes())
		body.WriteByte('\n')
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		res.Location = d.index + ": 0 documents"
		return res, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.bulkURL, &body)
	if err != nil {
		return sink.Result{}, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if d.user != nil {
		p, _ := d.user.Password()
		req.SetBasicAuth(d.user.Username(), p)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return sink.Result{}, &Error{Code: "OS.ConnectionFailed", Message: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return sink.Result{}, &Error{Code: "OS.ConnectionFailed", Message: err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return sink.Result{}, &Error{Code: fmt.Sprintf("OS.%d", resp.StatusCode), Message: snippet(raw)}
	}
	var br bulkResponse
	if err := json.Unmarshal(raw, &br); err != nil {
		return sink.Result{}, &Error{Code: "OS.InvalidResponse", Message: "the _bulk answer is not JSON: " + snippet(raw)}
	}
	if len(br.Items) != len(sent) {
		return sink.Result{}, &Error{Code: "OS.InvalidResponse", Message: fmt.Sprintf("the _bulk answer has %d items for %d actions", len(br.Items), len(sent))}
	}
	var retry []string
	for k, item := range br.Items {
		it, ok := item["index"]
		if !ok {
			return sink.Result{}, &Error{Code: "OS.InvalidResponse", Message: fmt.Sprintf("item %d is not an index result", k)}
		}
		if it.Status >= 200 && it.Status < 300 {
			continue
		}
		var e bulkError
		_ = json.Unmarshal(it.Error, &e)
		if e.Type == "" {
			e.Type = fmt.Sprintf("OS.%d", it.Status)
		}
		if it.Status == http.StatusTooManyRequests || it.Status >= 500 {
			retry = append(retry, fmt.Sprintf("%s (%d): %s", e.Type, it.Status, e.Reason))
			continue
		}
		res.Rejected = append(res.Rejected, sink.Rejection{Index: sent[k], Code: e.Type, Message: e.Reason})
	}
	if len(retry) > 0 {
		return sink.Result{}, &Error{Code: "OS.BulkItemsRetryable", Message: fmt.Sprintf("%d documents were not indexed for now; first: %s", len(retry), retry[0])}
	}
	res.Location = fmt.Sprintf("%s: %d documents", d.index, len(sent)-countRejectedSent(res.Rejected, sent))
	return res, nil
}

func countRejectedSent(rej []sink.Rejection, sent []int) int {
	in := map[int]bool{}
	for _, i := range sent {
		in[i] = true
	}
	n := 0
	for _, r := range rej {
		if in[r.Index] {
			n++
		}
	}
	return n
}

func snippet(b []byte) string {
	if len(b) > 512 {
		return string(b[:512]) + "..."
	}
	return string(b)
}

// Close has nothing to release: the HTTP client's connections are
// shared.
func (d *Destination) Close() error { return nil }

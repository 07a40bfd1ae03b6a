package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/segmentio/asm/base64"
)

// putOutcome is what one put call returned: codes[i] is "" for a record
// that was stored and its ErrorCode otherwise, and shards[i] the ShardId
// the response gave a stored record. err is set when the whole call failed
// (then no record counts as stored).
type putOutcome struct {
	codes  []string
	shards []string
	err    error
}

// dataClient is the measured part of a client: the data-plane calls.
type dataClient interface {
	// putRecords sends the batch; slots are the records to send, already
	// stamped.
	putRecords(ctx context.Context, w *workerState) putOutcome
	// putRecord sends slots[0] alone.
	putRecord(ctx context.Context, w *workerState) putOutcome
	// getRecords returns the records' data and the total length of their
	// partition keys. The data may live in scratch until the next call
	// with the same scratch.
	getRecords(ctx context.Context, iterator string, limit int, scratch *readScratch) (recs [][]byte, keyBytes int64, next string, behind int64, err error)
}

// readScratch is one read-back goroutine's memory, reused from call to
// call: the response body and the records' decoded data. Allocating
// (and zeroing) both afresh for every 14 MB response was most of the raw
// client's read-back cost.
type readScratch struct {
	resp []byte
	data []byte
	recs [][]byte
}

// httpClient is the tuned transport both client modes use: enough idle
// connections for every worker, no compression, large buffers.
func httpClient(workers int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * workers,
		MaxIdleConnsPerHost: 4 * workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}
}

// newSDKClient is an aws-sdk-go-v2 Kinesis client for the endpoint, without
// retries, so that every throttle and error is counted.
func newSDKClient(cfg *Config) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		BaseEndpoint:     aws.String(cfg.Endpoint),
		Region:           cfg.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       httpClient(cfg.Workers),
	})
}

// sdkClient measures the server through the AWS SDK, as applications use it.
type sdkClient struct {
	c      *kinesis.Client
	stream string
}

func (s *sdkClient) putRecords(ctx context.Context, w *workerState) putOutcome {
	entries := w.sdkEntries[:0]
	for i := range w.slots {
		entries = append(entries, types.PutRecordsRequestEntry{Data: w.slots[i].data, PartitionKey: aws.String(w.slots[i].pk)})
	}
	w.sdkEntries = entries
	out, err := s.c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries})
	if err != nil {
		return putOutcome{err: err}
	}
	codes, shards := w.codes[:0], w.shardIDs[:0]
	for _, r := range out.Records {
		codes = append(codes, aws.ToString(r.ErrorCode))
		shards = append(shards, aws.ToString(r.ShardId))
	}
	w.codes, w.shardIDs = codes, shards
	if len(codes) != len(entries) {
		return putOutcome{err: fmt.Errorf("PutRecords answered %d results for %d records", len(codes), len(entries))}
	}
	return putOutcome{codes: codes, shards: shards}
}

func (s *sdkClient) putRecord(ctx context.Context, w *workerState) putOutcome {
	sl := &w.slots[0]
	out, err := s.c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.stream), Data: sl.data, PartitionKey: aws.String(sl.pk)})
	if err != nil {
		return putOutcome{err: err}
	}
	w.codes, w.shardIDs = append(w.codes[:0], ""), append(w.shardIDs[:0], aws.ToString(out.ShardId))
	return putOutcome{codes: w.codes, shards: w.shardIDs}
}

func (s *sdkClient) getRecords(ctx context.Context, iterator string, limit int, _ *readScratch) ([][]byte, int64, string, int64, error) {
	out, err := s.c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iterator), Limit: aws.Int32(int32(limit))})
	if err != nil {
		return nil, 0, "", 0, err
	}
	recs := make([][]byte, len(out.Records))
	var keyBytes int64
	for i := range out.Records {
		recs[i] = out.Records[i].Data
		keyBytes += int64(len(aws.ToString(out.Records[i].PartitionKey)))
	}
	return recs, keyBytes, aws.ToString(out.NextShardIterator), aws.ToInt64(out.MillisBehindLatest), nil
}

// rawClient sends JSON bodies it builds by patching record headers into a
// pre-encoded template, signed once per worker and minute with an unsigned
// payload, over each worker's own connection (rawConn) for a plain-HTTP
// endpoint and the tuned transport otherwise: the client costs a few
// microseconds per call, so the server is what is measured.
type rawClient struct {
	http     *http.Client
	endpoint string
	// addr and host are set for a plain-HTTP endpoint: puts then go over
	// each worker's rawConn instead of http.
	addr, host string
	region     string
	creds      aws.Credentials
	signer     *v4.Signer
	stream     string
}

func newRawClient(cfg *Config, stream string) *rawClient {
	var addr, host string
	if u, err := url.Parse(cfg.Endpoint); err == nil && u.Scheme == "http" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
		host, addr = u.Host, u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	return &rawClient{
		addr:     addr,
		host:     host,
		http:     httpClient(cfg.Workers),
		endpoint: strings.TrimRight(cfg.Endpoint, "/") + "/",
		region:   cfg.Region,
		creds:    aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey},
		signer:   v4.NewSigner(),
		stream:   stream,
	}
}

// rawBody is a worker's pre-encoded request: the JSON text and, for each
// record, the offset of its Data's first base64 character.
type rawBody struct {
	json    []byte
	offsets []int
	headers http.Header
	signed  time.Time
}

// buildRawBody encodes the request for the worker's slots. The first 12
// bytes of a record (its header) are 16 base64 characters that encode on
// their own, so stamping a new header rewrites just those.
func buildRawBody(stream string, slots []slot, single bool) *rawBody {
	var b bytes.Buffer
	rb := &rawBody{}
	name, _ := json.Marshal(stream)
	b.WriteString(`{"StreamName":`)
	b.Write(name)
	writeRecord := func(s *slot) {
		b.WriteString(`"Data":"`)
		rb.offsets = append(rb.offsets, b.Len())
		enc := base64.StdEncoding.EncodeToString(s.data)
		b.WriteString(enc)
		b.WriteString(`","PartitionKey":"`)
		b.WriteString(s.pk) // hex digits: no escaping needed
		b.WriteByte('"')
	}
	if single {
		b.WriteByte(',')
		writeRecord(&slots[0])
		b.WriteByte('}')
	} else {
		b.WriteString(`,"Records":[`)
		for i := range slots {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			writeRecord(&slots[i])
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
	}
	rb.json = b.Bytes()
	return rb
}

// restamp rewrites each record's header characters in the body.
func (rb *rawBody) restamp(slots []slot) {
	for i, off := range rb.offsets {
		base64.StdEncoding.Encode(rb.json[off:off+16], slots[i].data[:headerLen])
	}
}

// sign returns the request headers, signing again once a minute.
func (r *rawClient) sign(ctx context.Context, rb *rawBody, target string) (http.Header, error) {
	now := time.Now()
	if rb.headers != nil && now.Sub(rb.signed) < time.Minute {
		return rb.headers, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+target)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := r.signer.SignHTTP(ctx, r.creds, req, "UNSIGNED-PAYLOAD", "kinesis", r.region, now); err != nil {
		return nil, err
	}
	rb.headers, rb.signed = req.Header, now
	return rb.headers, nil
}

// post sends body and returns the response body of a 200, or an error
// naming the AWS error code.
func (r *rawClient) post(ctx context.Context, headers http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = headers.Clone()
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, rawAPIError(resp, data)
	}
	return data, nil
}

// put sends a put call's body: over the worker's own connection for a
// plain-HTTP endpoint, through http otherwise. The returned body is valid
// until the worker's next call.
func (r *rawClient) put(ctx context.Context, w *workerState, headers http.Header, body []byte) ([]byte, error) {
	if r.addr == "" {
		return r.post(ctx, headers, body)
	}
	if w.conn == nil {
		w.conn = newRawConn(r.addr, r.host)
	}
	w.conn.buildHead(headers, w.raw.signed, len(body))
	status, errType, resp, err := w.conn.do(body)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, rawAPIError(&http.Response{StatusCode: status, Header: http.Header{"X-Amzn-Errortype": {errType}}}, resp)
	}
	return resp, nil
}

// apiError is an AWS error response seen by the raw client.
type apiError struct {
	code, message string
	status        int
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.code, e.status, e.message)
}

func rawAPIError(resp *http.Response, body []byte) error {
	var env struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(body, &env)
	code := env.Type
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = resp.Header.Get("X-Amzn-ErrorType")
		code, _, _ = strings.Cut(code, ":")
	}
	if code == "" {
		code = "HTTP" + strconv.Itoa(resp.StatusCode)
	}
	return &apiError{code: code, message: env.Message + env.MessageU, status: resp.StatusCode}
}

func (r *rawClient) putRecords(ctx context.Context, w *workerState) putOutcome {
	w.raw.restamp(w.slots)
	h, err := r.sign(ctx, w.raw, "PutRecords")
	if err != nil {
		return putOutcome{err: err}
	}
	resp, err := r.put(ctx, w, h, w.raw.json)
	if err != nil {
		return putOutcome{err: err}
	}
	codes := w.codes[:0]
	if bytes.Contains(resp, []byte(`"FailedRecordCount":0`)) {
		for range w.slots {
			codes = append(codes, "")
		}
		w.codes = codes
		shards, err := scanShardIDs(resp, w, len(w.slots))
		if err != nil {
			return putOutcome{err: err}
		}
		return putOutcome{codes: codes, shards: shards}
	}
	var out struct {
		Records []struct{ ErrorCode, ShardId string }
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return putOutcome{err: fmt.Errorf("decoding PutRecords response: %w", err)}
	}
	if len(out.Records) != len(w.slots) {
		return putOutcome{err: fmt.Errorf("PutRecords answered %d results for %d records", len(out.Records), len(w.slots))}
	}
	shards := w.shardIDs[:0]
	for _, rec := range out.Records {
		codes = append(codes, rec.ErrorCode)
		shards = append(shards, w.intern(rec.ShardId))
	}
	w.codes, w.shardIDs = codes, shards
	return putOutcome{codes: codes, shards: shards}
}

// scanShardIDs reads n ShardId members, in order, from a PutRecords or
// PutRecord response whose records all succeeded, without a JSON decoder
// (see scanGetRecords).
func scanShardIDs(resp []byte, w *workerState, n int) ([]string, error) {
	shards := w.shardIDs[:0]
	key := []byte(`"ShardId":"`)
	for rest := resp; len(shards) < n; {
		i := bytes.Index(rest, key)
		if i < 0 {
			return nil, fmt.Errorf("put response: %d ShardIds for %d records", len(shards), n)
		}
		rest = rest[i+len(key):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			return nil, errors.New("put response: unterminated ShardId")
		}
		shards = append(shards, w.intern(string(rest[:j])))
		rest = rest[j+1:]
	}
	w.shardIDs = shards
	return shards, nil
}

func (r *rawClient) putRecord(ctx context.Context, w *workerState) putOutcome {
	w.raw.restamp(w.slots[:1])
	h, err := r.sign(ctx, w.raw, "PutRecord")
	if err != nil {
		return putOutcome{err: err}
	}
	resp, err := r.put(ctx, w, h, w.raw.json)
	if err != nil {
		return putOutcome{err: err}
	}
	shards, err := scanShardIDs(resp, w, 1)
	if err != nil {
		return putOutcome{err: err}
	}
	w.codes = append(w.codes[:0], "")
	return putOutcome{codes: w.codes, shards: shards}
}

func (r *rawClient) getRecords(ctx context.Context, iterator string, limit int, scratch *readScratch) ([][]byte, int64, string, int64, error) {
	body, _ := json.Marshal(map[string]any{"ShardIterator": iterator, "Limit": limit})
	rb := &rawBody{}
	h, err := r.sign(ctx, rb, "GetRecords")
	if err != nil {
		return nil, 0, "", 0, err
	}
	resp, err := r.postInto(ctx, h, body, scratch.resp)
	if err != nil {
		return nil, 0, "", 0, err
	}
	scratch.resp = resp
	return scanGetRecordsInto(resp, scratch)
}

// postInto is post reading the response into buf (grown to the response's
// Content-Length when it is smaller).
func (r *rawClient) postInto(ctx context.Context, headers http.Header, body, buf []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = headers.Clone()
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if n := resp.ContentLength + bytes.MinRead; int64(cap(buf)) < n {
		// bytes.Buffer grows unless MinRead bytes are free for each read.
		buf = make([]byte, 0, n)
	}
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	data := b.Bytes()
	if resp.StatusCode != http.StatusOK {
		return nil, rawAPIError(resp, data)
	}
	return data, nil
}

// scanGetRecords reads the members the read-back needs from a GetRecords
// response without a generic JSON decoder, which would cost more than the
// server's encoding and make the client the bottleneck.
func scanGetRecords(resp []byte) ([][]byte, int64, string, int64, error) {
	return scanGetRecordsInto(resp, &readScratch{})
}

// scanGetRecordsInto is scanGetRecords decoding the records' data into
// scratch. It walks the Records array once, member by member, in any
// order: each string is found with one IndexByte for its closing quote,
// so a record's base64 text is read once to find its end and once to
// decode it (searching the whole response for every partition key, as
// this did before, read it a third time).
func scanGetRecordsInto(resp []byte, scratch *readScratch) ([][]byte, int64, string, int64, error) {
	bad := func(what string) ([][]byte, int64, string, int64, error) {
		return nil, 0, "", 0, fmt.Errorf("GetRecords response: %s", what)
	}
	var next string
	if i := bytes.Index(resp, []byte(`"NextShardIterator":`)); i >= 0 {
		s := jsonScan{b: resp, i: i + len(`"NextShardIterator":`)}
		if !s.peek('n') { // null: the shard is closed and read to its end
			v, ok := s.str()
			if !ok {
				return bad("bad NextShardIterator")
			}
			next = string(v)
		}
	}
	var behind int64
	if i := bytes.Index(resp, []byte(`"MillisBehindLatest":`)); i >= 0 {
		s := jsonScan{b: resp, i: i + len(`"MillisBehindLatest":`)}
		s.ws()
		v := resp[s.i:]
		j := 0
		for j < len(v) && (v[j] >= '0' && v[j] <= '9' || v[j] == '-') {
			j++
		}
		n, err := strconv.ParseInt(string(v[:j]), 10, 64)
		if err != nil {
			return bad("bad MillisBehindLatest")
		}
		behind = n
	}
	// Every record's data is decoded into one buffer, big enough for
	// all of them (base64 text is at most the whole response). Decoding
	// was half the client's CPU in read-back with encoding/base64;
	// segmentio/asm's vector code decodes the same text to the same bytes
	// (accepting and refusing what encoding/base64 does) several times
	// faster.
	if need := base64.StdEncoding.DecodedLen(len(resp)); cap(scratch.data) < need {
		scratch.data = make([]byte, 0, need)
	}
	data := scratch.data[:0]
	recs := scratch.recs[:0]
	var keyBytes int64
	i := bytes.Index(resp, []byte(`"Records":`))
	if i < 0 {
		scratch.recs = recs
		return recs, 0, next, behind, nil
	}
	s := jsonScan{b: resp, i: i + len(`"Records":`)}
	if s.peek('n') { // null
		scratch.recs = recs
		return recs, 0, next, behind, nil
	}
	if !s.next('[') {
		return bad("Records is not an array")
	}
	if !s.next(']') {
		for {
			if !s.next('{') {
				return bad("a record is not an object")
			}
			for !s.next('}') {
				name, ok := s.str()
				if !ok || !s.next(':') {
					return bad("malformed record")
				}
				s.ws()
				if s.i < len(s.b) && s.b[s.i] == '"' {
					v, ok := s.str()
					if !ok {
						return bad("unterminated string")
					}
					switch string(name) {
					case "Data":
						start := len(data)
						n, err := base64.StdEncoding.Decode(data[start:start+base64.StdEncoding.DecodedLen(len(v))], v)
						if err != nil {
							return bad("Data is not base64")
						}
						data = data[:start+n]
						recs = append(recs, data[start:start+n:start+n])
					case "PartitionKey":
						n := len(v)
						if bytes.IndexByte(v, '\\') >= 0 {
							var k string
							if err := json.Unmarshal(s.b[s.i-len(v)-2:s.i], &k); err != nil {
								return bad("bad PartitionKey")
							}
							n = len(k)
						}
						keyBytes += int64(n)
					}
				} else {
					// A number, true, false or null.
					for s.i < len(s.b) && s.b[s.i] != ',' && s.b[s.i] != '}' {
						s.i++
					}
				}
				if !s.next(',') && !s.peek('}') {
					return bad("malformed record")
				}
			}
			if s.next(',') {
				continue
			}
			if !s.next(']') {
				return bad("malformed Records")
			}
			break
		}
	}
	scratch.recs = recs
	return recs, keyBytes, next, behind, nil
}

// jsonScan reads the records of a GetRecords response.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// next skips white space and consumes c.
func (s *jsonScan) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips white space and reports whether c comes next.
func (s *jsonScan) peek(c byte) bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == c
}

// str reads a string and returns its raw text, escapes left as they are.
func (s *jsonScan) str() (v []byte, ok bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for {
		q := bytes.IndexByte(s.b[s.i:], '"')
		if q < 0 {
			return nil, false
		}
		j := s.i + q
		s.i = j + 1
		// The quote ends the string unless an odd number of backslashes
		// stands before it.
		k := j
		for k > start && s.b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return s.b[start:j], true
		}
	}
}

// errorCode names an error for the error table: the AWS error code, or the
// kind of transport failure.
func errorCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	var se smithy.APIError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "Canceled"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "Timeout"
		}
		return "NetworkError"
	}
	return "ClientError"
}

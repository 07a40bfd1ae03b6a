package sdk_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
)

const (
	jsonType = "application/x-amz-json-1.1"
	cborType = "application/x-amz-cbor-1.1"
)

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// authorization is a well-formed SigV4 Authorization header for akid.
func authorization(akid, region string) string {
	return "AWS4-HMAC-SHA256 Credential=" + akid + "/20260101/" + region + "/kinesis/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("0", 64)
}

// rawCall sends one request to the server. An empty target leaves the
// X-Amz-Target header out; edit adjusts the request before it is sent.
func rawCall(t *testing.T, url, method, target, contentType string, body []byte, edit func(*http.Request)) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", "Kinesis_20131202."+target)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", authorization("AKIAIOSFODNN7EXAMPLE", "us-east-1"))
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{resp.StatusCode, resp.Header, b}
}

func jsonCall(t *testing.T, url, target, body string) rawResponse {
	t.Helper()
	return rawCall(t, url, http.MethodPost, target, jsonType, []byte(body), nil)
}

// jsonError decodes an AWS JSON error body; AWS writes the text under
// "message" or, for serialization errors, "Message".
func jsonError(t *testing.T, r rawResponse) (code, msg string) {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	code, _ = e["__type"].(string)
	if i := strings.LastIndex(code, "#"); i >= 0 {
		code = code[i+1:]
	}
	msg, _ = e["message"].(string)
	if msg == "" {
		msg, _ = e["Message"].(string)
	}
	return code, msg
}

func wantJSONError(t *testing.T, what string, r rawResponse, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
	}
	got, msg := jsonError(t, r)
	if got != code {
		t.Errorf("%s: __type %q, want %q (message %q)", what, got, code, msg)
	}
	return msg
}

func TestTransportBadRequests(t *testing.T) {
	t.Parallel()
	s, c := start(t)
	createStream(t, c, "wire", 1)
	url := s.URL

	r := jsonCall(t, url, "CreateStream", `{"StreamName": "x", "ShardCount": `)
	wantJSONError(t, "truncated JSON", r, 400, "SerializationException")
	r = jsonCall(t, url, "ListStreams", `not json at all`)
	wantJSONError(t, "not JSON", r, 400, "SerializationException")
	r = jsonCall(t, url, "ListStreams", `[1,2]`)
	wantJSONError(t, "array body", r, 400, "SerializationException")
	r = jsonCall(t, url, "ListStreams", ``)
	wantJSONError(t, "empty body", r, 400, "SerializationException")

	r = jsonCall(t, url, "CreateStream", `{"StreamName": "typed", "ShardCount": "two"}`)
	wantJSONError(t, "string for integer", r, 400, "SerializationException")
	r = jsonCall(t, url, "DescribeStreamSummary", `{"StreamName": 5}`)
	wantJSONError(t, "number for string", r, 400, "SerializationException")
	r = jsonCall(t, url, "PutRecord", `{"StreamName": "wire", "PartitionKey": "k", "Data": "!!!not base64!!!"}`)
	wantJSONError(t, "bad base64", r, 400, "SerializationException")
	r = jsonCall(t, url, "ListStreams", `{"Limit": true}`)
	wantJSONError(t, "boolean for integer", r, 400, "SerializationException")

	r = jsonCall(t, url, "NoSuchOperation", `{}`)
	wantJSONError(t, "unknown operation", r, 400, "UnknownOperationException")
	r = rawCall(t, url, http.MethodPost, "", jsonType, []byte(`{}`), nil)
	wantJSONError(t, "missing target", r, 400, "UnknownOperationException")
	r = rawCall(t, url, http.MethodPost, "", jsonType, []byte(`{}`), func(req *http.Request) {
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	})
	if r.status < 400 {
		t.Errorf("foreign target prefix: status %d", r.status)
	}

	r = rawCall(t, url, http.MethodGet, "ListStreams", "", nil, nil)
	if r.status != http.StatusForbidden {
		t.Errorf("GET: status %d, want 403", r.status)
	}

	r = rawCall(t, url, http.MethodPost, "ListStreams", jsonType, []byte(`{}`), func(req *http.Request) { req.Header.Del("Authorization") })
	msg := wantJSONError(t, "no Authorization", r, 400, "MissingAuthenticationTokenException")
	if msg != "Missing Authentication Token" {
		t.Errorf("no Authorization: message %q", msg)
	}

	// The server kept serving, and none of the bad calls wrote anything.
	out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.StreamNames, []string{"wire"}) {
		t.Errorf("streams = %v, want [wire]", out.StreamNames)
	}
	if n := len(readShard(t, c, "wire", shardID(0))); n != 0 {
		t.Errorf("%d records written by rejected calls", n)
	}
}

func TestTransportResponses(t *testing.T) {
	t.Parallel()
	s, c := start(t)
	r := jsonCall(t, s.URL, "CreateStream", `{"StreamName": "hdr", "ShardCount": 1}`)
	if r.status != 200 {
		t.Fatalf("CreateStream: %d %s", r.status, r.body)
	}
	waitActive(t, c, "hdr")
	if len(r.body) != 0 {
		t.Errorf("CreateStream body %q, want empty", r.body)
	}
	if r.header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId on success")
	}

	r = jsonCall(t, s.URL, "ListStreams", `{}`)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), jsonType) {
		t.Errorf("ListStreams: %d %q", r.status, r.header.Get("Content-Type"))
	}
	var ls struct {
		StreamNames    []string
		HasMoreStreams *bool
	}
	if err := json.Unmarshal(r.body, &ls); err != nil || !slices.Equal(ls.StreamNames, []string{"hdr"}) || ls.HasMoreStreams == nil {
		t.Errorf("ListStreams body %s (%v)", r.body, err)
	}

	r = jsonCall(t, s.URL, "DescribeStreamSummary", `{"StreamName": "nope"}`)
	wantJSONError(t, "unknown stream", r, 400, "ResourceNotFoundException")
	if r.header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId on an error")
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), jsonType) {
		t.Errorf("error Content-Type %q", r.header.Get("Content-Type"))
	}

	// botocore sends whole-second timestamps, the Go SDK fractional ones;
	// both are epoch seconds.
	for _, ts := range []string{fmt.Sprint(time.Now().Unix() - 60), fmt.Sprintf("%.3f", float64(time.Now().UnixMilli()-60000)/1000)} {
		r = jsonCall(t, s.URL, "GetShardIterator", `{"StreamName":"hdr","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":`+ts+`}`)
		if r.status != 200 {
			t.Errorf("AT_TIMESTAMP %s: %d %s", ts, r.status, r.body)
		}
	}
}

func TestTransportOversizeBody(t *testing.T) {
	t.Parallel()
	s, c := start(t, func(cfg *config.Config) { cfg.MaxRequestBytes = 64 << 10 })
	createStream(t, c, "cap", 1)
	body := `{"StreamName":"cap","PartitionKey":"k","Data":"` + strings.Repeat("QUFB", 40<<10) + `"}`
	r := jsonCall(t, s.URL, "PutRecord", body)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("160 KiB body with a 64 KiB cap: status %d, want 413", r.status)
	}
	if n := len(readShard(t, c, "cap", shardID(0))); n != 0 {
		t.Errorf("oversize request wrote %d records", n)
	}
}

// A 12-digit access key id selects that account, and the credential
// scope's region selects the region; streams are scoped to both.
func TestTransportAccountAndRegion(t *testing.T) {
	t.Parallel()
	s, c := start(t)
	other := s.Kinesis(func(o *kinesis.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("111111111111", "secret", "")
	})
	_, err := other.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("mine"), ShardCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, other, "mine")
	sum, err := other.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("mine")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(sum.StreamDescriptionSummary.StreamARN), "arn:aws:kinesis:us-east-1:111111111111:stream/mine"; got != want {
		t.Errorf("ARN = %s, want %s", got, want)
	}
	out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 0 {
		t.Errorf("default account sees %v", out.StreamNames)
	}
	_, err = c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("mine")})
	wantErr[*types.ResourceNotFoundException](t, err)

	// The same name in the default account is a different stream.
	createStream(t, c, "mine", 2)
	if n := len(listShards(t, other, "mine")); n != 1 {
		t.Errorf("account 111111111111's stream has %d shards, want 1", n)
	}

	west := s.Kinesis(func(o *kinesis.Options) { o.Region = "eu-west-1" })
	out, err = west.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 0 {
		t.Errorf("eu-west-1 sees %v", out.StreamNames)
	}
	createStream(t, west, "w", 1)
	sum, err = west.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("w")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(sum.StreamDescriptionSummary.StreamARN), "arn:aws:kinesis:eu-west-1:"+defaultAccount+":stream/w"; got != want {
		t.Errorf("ARN = %s, want %s", got, want)
	}
}

package agent

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// trustTestTLS makes the certificate of httptest's TLS servers a trusted
// root of this process through SSL_CERT_FILE, as docs/firehose.md tells
// users of a private CA to do: the server's HTTP endpoint destinations
// use the system roots, and the model requires https:// URLs. It returns
// a function that removes the file.
func trustTestTLS() func() {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	cert := ts.Certificate()
	ts.Close()
	dir, err := os.MkdirTemp("", "agent-roots")
	if err != nil {
		panic(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if prev := os.Getenv("SSL_CERT_FILE"); prev != "" {
		if b, err := os.ReadFile(prev); err == nil {
			pemBytes = append(append(b, '\n'), pemBytes...)
		}
	}
	path := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", path)
	return func() { os.RemoveAll(dir) }
}

// httpEndpoint answers Firehose's HTTP endpoint delivery requests
// (protocol 1.0) and keeps the records of each distinct request id.
type httpEndpoint struct {
	mu       sync.Mutex
	requests int
	records  map[string][]string // by X-Amz-Firehose-Request-Id
	bad      []string
}

func (e *httpEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Amz-Firehose-Request-Id")
	fail := func(msg string) {
		e.mu.Lock()
		e.bad = append(e.bad, msg)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"requestId": id, "timestamp": time.Now().UnixMilli(), "errorMessage": msg})
	}
	if r.Method != http.MethodPost || id == "" || r.Header.Get("X-Amz-Firehose-Protocol-Version") != "1.0" ||
		r.Header.Get("X-Amz-Firehose-Access-Key") != "k3y" || r.Header.Get("Content-Type") != "application/json" {
		fail(fmt.Sprintf("%s with headers %v", r.Method, r.Header))
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			fail("the body is not gzip: " + err.Error())
			return
		}
		body = zr
	}
	var in struct {
		RequestID string `json:"requestId"`
		Timestamp int64  `json:"timestamp"`
		Records   []struct {
			Data string `json:"data"`
		} `json:"records"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil || in.RequestID != id || in.Timestamp == 0 {
		fail(fmt.Sprintf("body %+v: %v", in, err))
		return
	}
	recs := make([]string, len(in.Records))
	for i, rec := range in.Records {
		b, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			fail("a record is not base64: " + err.Error())
			return
		}
		recs[i] = string(b)
	}
	e.mu.Lock()
	e.requests++
	e.records[id] = recs
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"requestId": id, "timestamp": time.Now().UnixMilli()})
}

// TestFirehoseFlowToHTTPEndpointThroughRotation ships a log written to
// continuously and rotated by rename halfway through into a Direct PUT
// delivery stream of a Millrace server whose destination is an HTTP
// endpoint: every line must arrive as one record, exactly as written,
// once. (A request Firehose retries carries the same request id, so the
// endpoint keeps one copy per id, as the protocol asks of endpoints.)
func TestFirehoseFlowToHTTPEndpointThroughRotation(t *testing.T) {
	ep := &httpEndpoint{records: map[string][]string{}}
	ts := httptest.NewTLSServer(ep)
	defer ts.Close()
	srv := servertest.Start(t)
	ctx := t.Context()
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("to-http"),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		HttpEndpointDestinationConfiguration: &fhtypes.HttpEndpointDestinationConfiguration{
			EndpointConfiguration: &fhtypes.HttpEndpointConfiguration{Url: aws.String(ts.URL), Name: aws.String("test"), AccessKey: aws.String("k3y")},
			RequestConfiguration:  &fhtypes.HttpEndpointRequestConfiguration{ContentEncoding: fhtypes.ContentEncodingGzip},
			BufferingHints:        &fhtypes.HttpEndpointBufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
			S3Configuration: &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::backup"),
				RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose")},
		}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the delivery stream to be ACTIVE", func() bool {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("to-http")})
		if err != nil {
			t.Fatal(err)
		}
		return d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive
	})

	total, pad, a, stop := shipThroughRotation(t, srv, "to-http")

	count := make([]int, total)
	var requests int
	deadline := time.Now().Add(60 * time.Second)
	for {
		clear(count)
		seen := 0
		ep.mu.Lock()
		if len(ep.bad) > 0 {
			t.Fatalf("the endpoint refused a request: %s", ep.bad[0])
		}
		requests = ep.requests
		for id, recs := range ep.records {
			for _, rec := range recs {
				if !strings.HasSuffix(rec, "\n") || strings.Count(rec, "\n") != 1 {
					t.Fatalf("request %s holds the record %q, not one line", id, rec)
				}
				n := lineNumber(t, "request "+id, strings.TrimSuffix(rec, "\n"), total, pad)
				if count[n] == 0 {
					seen++
				}
				count[n]++
			}
		}
		ep.mu.Unlock()
		if seen == total || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	checkOnce(t, count, fmt.Sprintf("%d requests to the endpoint", requests), a)
}

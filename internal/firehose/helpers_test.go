package firehose_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose"
	kinesissvc "github.com/millrace/millrace/internal/kinesis"
	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/streams"
)

// memS3 is an S3 bucket store in memory, for tests of the engine.
type memS3 struct {
	mu      sync.Mutex
	objects map[string][]byte // bucket/key
	fail    int               // the next n writes fail
}

func (m *memS3) Put(ctx context.Context, bucket, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errors.New("injected S3 failure")
	}
	m.objects[bucket+"/"+key] = append([]byte(nil), body...)
	return nil
}

// keys lists the stored keys that start with prefix, sorted.
func (m *memS3) keys(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (m *memS3) get(key string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.objects[key]
}

type env struct {
	t       *testing.T
	engine  *pebble.Engine
	streams *streams.Streams
	s3      *memS3
	svc     *firehose.Service
	srv     *httptest.Server
	router  *awsproto.Router
	opts    firehose.Options
}

// newEnv starts the Firehose and Kinesis services on an in-memory engine.
func newEnv(t *testing.T, tune ...func(*firehose.Options)) *env {
	t.Helper()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := streams.New(t.Context(), streams.Options{Log: eng, Catalog: eng})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, engine: eng, streams: st, s3: &memS3{objects: map[string][]byte{}}}
	e.opts = firehose.Options{Catalog: eng, Log: eng, Streams: st, S3: e.s3, RetryBase: 10 * time.Millisecond, RetryCap: 50 * time.Millisecond}
	for _, f := range tune {
		f(&e.opts)
	}
	e.router = awsproto.NewRouter(awsproto.RouterOptions{DefaultRegion: "us-east-1", DefaultAccountID: "123456789012"})
	kinesissvc.New(st, nil).Register(e.router)
	e.svc = firehose.New(e.opts)
	e.svc.Register(e.router)
	if err := e.svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.router)
	t.Cleanup(func() {
		e.srv.Close()
		e.svc.Close()
		st.Close()
		eng.Close()
	})
	return e
}

// restart stops the service and starts a new one on the same storage, as
// a server restart does.
func (e *env) restart() {
	e.svc.Close()
	e.svc = firehose.New(e.opts)
	router := awsproto.NewRouter(awsproto.RouterOptions{DefaultRegion: "us-east-1", DefaultAccountID: "123456789012"})
	kinesissvc.New(e.streams, nil).Register(router)
	e.svc.Register(router)
	e.srv.Config.Handler = router
	if err := e.svc.Start(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) firehose() *fh.Client {
	return fh.New(fh.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
}

func (e *env) kinesis() *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
}

// waitActive waits until the delivery stream is ACTIVE.
func waitActive(t *testing.T, c *fh.Client, name string) *fhtypes.DeliveryStreamDescription {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := c.DescribeDeliveryStream(t.Context(), &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		d := out.DeliveryStreamDescription
		if d.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %s", name, d.DeliveryStreamStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond until it holds, failing after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apiError asserts err is an API error with the code, and returns its message.
func apiError(t *testing.T, err error, code string) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	return ae.ErrorMessage()
}

// s3Dest is an ExtendedS3 destination with zero buffering interval.
func s3Dest(bucket string, mod ...func(*fhtypes.ExtendedS3DestinationConfiguration)) *fhtypes.ExtendedS3DestinationConfiguration {
	c := &fhtypes.ExtendedS3DestinationConfiguration{
		BucketARN:      aws.String("arn:aws:s3:::" + bucket),
		RoleARN:        aws.String("arn:aws:iam::123456789012:role/firehose"),
		BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
	}
	for _, f := range mod {
		f(c)
	}
	return c
}

func createS3(t *testing.T, c *fh.Client, name string, dest *fhtypes.ExtendedS3DestinationConfiguration) {
	t.Helper()
	_, err := c.CreateDeliveryStream(t.Context(), &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(name), ExtendedS3DestinationConfiguration: dest})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, name)
}

var _ http.Handler = (*awsproto.Router)(nil)

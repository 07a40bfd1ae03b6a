package sdkhttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/sdkhttp"
	"github.com/millrace/millrace/internal/sdkhttp/sdkhttptest"
	"github.com/millrace/millrace/internal/server/servertest"
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

// TestSubscribeToShardKeepsItsConnection: when net/http checks a
// SubscribeToShard body for extra bytes after the initial response and the
// SDK has closed the body (sdkhttptest.LateCheck), the SDK's body makes
// net/http close the connection under the initial response or the event
// stream; a plain body keeps it, and the stream delivers its records.
func TestSubscribeToShardKeepsItsConnection(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("sub"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("sub")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("sub"), PartitionKey: aws.String("k"), Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	subscribe := func(name string, optFns ...func(*kinesis.Options)) (records int, err error) {
		reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: desc.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		for reg.Consumer.ConsumerStatus != types.ConsumerStatusActive {
			d, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
			if err != nil {
				t.Fatal(err)
			}
			reg.Consumer.ConsumerStatus = d.ConsumerDescription.ConsumerStatus
			time.Sleep(10 * time.Millisecond)
		}
		late := sdkhttptest.NewLateCheck(t, "SubscribeToShard", 1)
		sc := srv.Kinesis(func(o *kinesis.Options) { o.HTTPClient = late })
		out, err := sc.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
			ConsumerARN: reg.Consumer.ConsumerARN, ShardId: aws.String("shardId-000000000000"),
			StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
		}, optFns...)
		if late.Held() != 1 {
			t.Fatalf("%s: %d SubscribeToShard checks held, want 1", name, late.Held())
		}
		if err != nil {
			return 0, err
		}
		s := out.GetStream()
		defer s.Close()
		for ev := range s.Events() {
			if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok && len(e.Value.Records) > 0 {
				return len(e.Value.Records), nil
			}
		}
		return 0, s.Err()
	}
	if n, err := subscribe("sdk-body"); err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("subscription with the SDK's body: %d records, error %v, want the connection closed: the race is not reproduced", n, err)
	}
	if n, err := subscribe("plain-body", func(o *kinesis.Options) { o.HTTPClient = sdkhttp.PlainBodies(o.HTTPClient) }); n != 1 || err != nil {
		t.Fatalf("subscription with a plain body: %d records, error %v, want 1 record", n, err)
	}
}

package producer_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/sdkhttp/sdkhttptest"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/producer"
)

// bodyTypes records, for each PutRecords request, whether its body offers
// io.WriterTo.
type bodyTypes struct {
	c kinesis.HTTPClient

	mu             sync.Mutex
	puts, writerTo int
}

func (b *bodyTypes) Do(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".PutRecords") {
		_, ok := req.Body.(io.WriterTo)
		b.mu.Lock()
		b.puts++
		if ok {
			b.writerTo++
		}
		b.mu.Unlock()
	}
	return b.c.Do(req)
}

// TestPutRecordsBodiesWithoutWriterTo: the producer hands net/http its
// PutRecords bodies without io.WriterTo. The SDK's bodies offer it and
// answer it with io.EOF once the SDK has closed them, which it does when
// the response headers arrive; net/http, still draining the body, then
// closes the connection under the response and the SDK puts the records
// again.
func TestPutRecordsBodiesWithoutWriterTo(t *testing.T) {
	srv := servertest.Start(t)
	bt := &bodyTypes{c: srv.HTTPClient()}
	c := srv.Kinesis(func(o *kinesis.Options) { o.HTTPClient = bt })
	createStream(t, c, "bodies", 2)
	p, err := producer.New(c, "bodies", producer.Options{DisableAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	futs := putAll(t, p, 10, 20, 100)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkResults(t, futs, false)
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.puts == 0 || bt.writerTo != 0 {
		t.Fatalf("%d of %d PutRecords bodies offered io.WriterTo, want none", bt.writerTo, bt.puts)
	}
}

// TestPutRecordsWrittenOnce makes net/http check a PutRecords body for
// extra bytes only after the response has arrived and the SDK has closed
// the body (sdkhttptest.LateCheck). A PutRecords call with the SDK's body
// then loses its connection under the response and is sent again: its
// record is in the stream twice. The producer's records are written once.
func TestPutRecordsWrittenOnce(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	ctx := context.Background()

	createStream(t, c, "sdk-body", 1)
	sdkBody := sdkhttptest.NewLateCheck(t, "PutRecords", 1)
	raw := srv.Kinesis(func(o *kinesis.Options) { o.HTTPClient, o.RetryMaxAttempts = sdkBody, 3 })
	if _, err := raw.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("sdk-body"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("key-0"), Data: payload(0, 0, 100)},
	}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, recs := range readAll(t, c, "sdk-body") {
		n += len(recs)
	}
	if n != 2 || sdkBody.Held() != 1 || sdkBody.Failed() != 1 {
		t.Fatalf("PutRecords with the SDK's body: %d records in the stream (%d held, %d failed checks), want 2 after a failed check: the race is not reproduced", n, sdkBody.Held(), sdkBody.Failed())
	}

	createStream(t, c, "plain-body", 1)
	late := sdkhttptest.NewLateCheck(t, "PutRecords", 3)
	p, err := producer.New(srv.Kinesis(func(o *kinesis.Options) { o.HTTPClient, o.RetryMaxAttempts = late, 3 }),
		"plain-body", producer.Options{DisableAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	futs := putAll(t, p, 4, 25, 100)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkResults(t, futs, false)
	checkComplete(t, readAll(t, c, "plain-body"), 4, 25, true)
	if late.Held() == 0 || late.Failed() != 0 {
		t.Fatalf("producer: %d PutRecords held, %d failed checks, want some and none", late.Held(), late.Failed())
	}
}

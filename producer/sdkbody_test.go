package producer_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

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

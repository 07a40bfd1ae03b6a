package consumer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/sdkhttp"
	"github.com/millrace/millrace/internal/sdkhttp/sdkhttptest"
	"github.com/millrace/millrace/internal/server/servertest"
)

// bodyTypes records, per operation, how many request bodies there were
// and how many of them offered io.WriterTo.
type bodyTypes struct {
	c sdkhttp.Client

	mu              sync.Mutex
	calls, writerTo map[string]int
}

func newBodyTypes(c sdkhttp.Client) *bodyTypes {
	return &bodyTypes{c: c, calls: map[string]int{}, writerTo: map[string]int{}}
}

func (b *bodyTypes) Do(req *http.Request) (*http.Response, error) {
	target := req.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	_, ok := req.Body.(io.WriterTo)
	b.mu.Lock()
	b.calls[op]++
	if ok {
		b.writerTo[op]++
	}
	b.mu.Unlock()
	return b.c.Do(req)
}

// check fails t unless each of plain was called with no body offering
// io.WriterTo, and each of sdk (reads, which keep the SDK's body) with
// bodies that all did: the recording sees the SDK's bodies as they are.
func (b *bodyTypes) check(t *testing.T, plain, sdk []string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, op := range plain {
		if b.calls[op] == 0 || b.writerTo[op] != 0 {
			t.Errorf("%s: %d of %d bodies offered io.WriterTo, want none of at least one", op, b.writerTo[op], b.calls[op])
		}
	}
	for _, op := range sdk {
		if b.calls[op] == 0 || b.writerTo[op] != b.calls[op] {
			t.Errorf("%s: %d of %d bodies offered io.WriterTo, want all of at least one", op, b.writerTo[op], b.calls[op])
		}
	}
}

// TestLeaseWriteBodiesWithoutWriterTo: every write on the lease table
// hands net/http its body without io.WriterTo (see sdkhttp), so that
// aws-sdk-go-v2 over HTTP/1.1 does not send a conditional write again
// that the table had applied, which would fail its own condition.
func TestLeaseWriteBodiesWithoutWriterTo(t *testing.T) {
	s := servertest.Start(t)
	bt := newBodyTypes(s.HTTPClient())
	dc := dynamodb.New(dynamodb.Options{
		Region:       servertest.Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		HTTPClient:   bt,
	})
	ctx := context.Background()
	lt := &leaseTable{client: dc, name: "bodies-leases"}
	if err := lt.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	l := &Lease{Key: "shardId-000000000000", Checkpoint: ExtendedSequenceNumber{SequenceNumber: TrimHorizon}}
	if ok, err := lt.create(ctx, l); !ok || err != nil {
		t.Fatalf("create: %v, %v", ok, err)
	}
	steps := []struct {
		name string
		do   func(counter int64) error
	}{
		{"take", func(n int64) error { return lt.take(ctx, &Lease{Key: l.Key, Counter: n}, "w1") }},
		{"renew", func(n int64) error { return lt.renew(ctx, l.Key, n) }},
		{"pending", func(n int64) error {
			return lt.pending(ctx, l.Key, n, ExtendedSequenceNumber{SequenceNumber: "1"}, []byte("state"))
		}},
		{"checkpoint", func(n int64) error {
			return lt.checkpoint(ctx, l.Key, n, ExtendedSequenceNumber{SequenceNumber: ShardEnd}, nil, nil, nil)
		}},
		{"evict", func(n int64) error { return lt.evict(ctx, l.Key, "w1", n) }},
	}
	for i, st := range steps {
		if err := st.do(int64(i)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	if err := lt.remove(ctx, l.Key); err != nil {
		t.Fatal(err)
	}
	if got, err := lt.get(ctx, l.Key); err != nil || got != nil {
		t.Fatalf("lease after remove: %+v, %v", got, err)
	}
	bt.check(t, []string{"CreateTable", "PutItem", "UpdateItem", "DeleteItem"}, []string{"DescribeTable", "GetItem"})
}

// TestFanOutBodiesWithoutWriterTo: RegisterStreamConsumer and
// SubscribeToShard hand net/http their bodies without io.WriterTo; over
// HTTP/1.1 the check for extra body bytes would otherwise close the
// connection of a subscription just opened.
func TestFanOutBodiesWithoutWriterTo(t *testing.T) {
	e := newEnv(t)
	e.createStream("bodies", 1)
	keys := keysN(3)
	e.put("bodies", keys, 0, 3)
	bt := newBodyTypes(e.srv.HTTPClient())
	e.kc = e.srv.Kinesis(func(o *kinesis.Options) { o.HTTPClient = bt })
	s := newSink()
	cfg := fastConfig("bodies-app", "bodies")
	cfg.Retrieval = FanOut
	w := e.startWorker(cfg, "w1", s)
	e.eventually(60*time.Second, "records", func() bool { return len(s.missing(keys, 0, 3)) == 0 })
	shutdown(t, w)
	bt.check(t, []string{"RegisterStreamConsumer", "SubscribeToShard"}, []string{"ListShards"})
}

// sdkOptionsIgnored calls UpdateItem without the options of the call: as
// a lease table on the SDK's client alone would.
type sdkOptionsIgnored struct{ *dynamodb.Client }

func (c sdkOptionsIgnored) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return c.Client.UpdateItem(ctx, in)
}

// TestRenewalAppliedOnce makes net/http check a renewal's body for extra
// bytes only after the response has arrived and the SDK has closed the
// body (sdkhttptest.LateCheck). With the SDK's body the check fails, the
// connection is closed under the response, the SDK sends the renewal again
// and that one fails its condition: the worker would take the lease it
// just renewed for lost. With the lease table's plain body the renewal is
// applied once and succeeds.
func TestRenewalAppliedOnce(t *testing.T) {
	s := servertest.Start(t)
	newClient := func(c sdkhttp.Client) *dynamodb.Client {
		return dynamodb.New(dynamodb.Options{
			Region:           servertest.Region,
			BaseEndpoint:     aws.String(s.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
			RetryMaxAttempts: 3,
			HTTPClient:       c,
		})
	}
	ctx := context.Background()
	lt := &leaseTable{client: newClient(s.HTTPClient()), name: "once-leases"}
	if err := lt.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	const key = "shardId-000000000000"
	if ok, err := lt.create(ctx, &Lease{Key: key, Owner: "w1", Checkpoint: ExtendedSequenceNumber{SequenceNumber: TrimHorizon}}); !ok || err != nil {
		t.Fatalf("create: %v, %v", ok, err)
	}
	counter := func() int64 {
		t.Helper()
		l, err := lt.get(ctx, key)
		if err != nil || l == nil {
			t.Fatalf("reading the lease: %+v, %v", l, err)
		}
		return l.Counter
	}

	sdkBody := sdkhttptest.NewLateCheck(t, "UpdateItem", 1)
	raced := &leaseTable{client: sdkOptionsIgnored{newClient(sdkBody)}, name: lt.name}
	err := raced.renew(ctx, key, 0)
	if !errors.Is(err, ErrLeaseLost) || sdkBody.Held() != 1 || sdkBody.Failed() != 1 {
		t.Fatalf("renewal with the SDK's body: %v (%d held, %d failed checks), want the lease lost after a failed check: the race is not reproduced", err, sdkBody.Held(), sdkBody.Failed())
	}
	if got := counter(); got != 1 {
		t.Fatalf("lease counter %d after the SDK's renewal, want 1", got)
	}

	plain := sdkhttptest.NewLateCheck(t, "UpdateItem", 1)
	shielded := &leaseTable{client: newClient(plain), name: lt.name}
	if err := shielded.renew(ctx, key, 1); err != nil {
		t.Fatalf("renewal with a plain body: %v", err)
	}
	if plain.Held() != 1 || plain.Failed() != 0 {
		t.Fatalf("renewal with a plain body: %d held, %d failed checks, want 1 and 0", plain.Held(), plain.Failed())
	}
	if got := counter(); got != 2 {
		t.Fatalf("lease counter %d after the renewal, want 2", got)
	}
}

package sdk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// protoRecorder remembers the HTTP protocol of the SubscribeToShard
// responses it carried.
type protoRecorder struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	proto string
}

func (p *protoRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(r)
	if err == nil && r.Header.Get("X-Amz-Target") == "Kinesis_20131202.SubscribeToShard" {
		p.mu.Lock()
		p.proto = resp.Proto
		p.mu.Unlock()
	}
	return resp, err
}

func (p *protoRecorder) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proto
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost
// and returns its paths and a pool trusting it.
func writeCert(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certPath, keyPath, pool
}

// transports are the three ways a client reaches SubscribeToShard.
type transport struct {
	name  string
	proto string // the response protocol the client must see
	// client returns a client for the server over this transport.
	client func(t *testing.T, s *servertest.Server, pool *x509.CertPool) (*kinesis.Client, *protoRecorder)
}

func sdkClient(endpoint string, rt http.RoundTripper) (*kinesis.Client, *protoRecorder) {
	rec := &protoRecorder{rt: rt}
	return kinesis.New(kinesis.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: rec},
	}), rec
}

var transports = []transport{
	{"http1", "HTTP/1.1", func(t *testing.T, s *servertest.Server, _ *x509.CertPool) (*kinesis.Client, *protoRecorder) {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetHTTP1(true)
		t.Cleanup(tr.CloseIdleConnections)
		return sdkClient(s.URL, servertest.BufferedBodies{Transport: tr})
	}},
	{"h2c", "HTTP/2.0", func(t *testing.T, s *servertest.Server, _ *x509.CertPool) (*kinesis.Client, *protoRecorder) {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		t.Cleanup(tr.CloseIdleConnections)
		return sdkClient(s.URL, tr)
	}},
	{"tls-h2", "HTTP/2.0", func(t *testing.T, s *servertest.Server, pool *x509.CertPool) (*kinesis.Client, *protoRecorder) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return sdkClient(s.Server().TLSURL(), tr)
	}},
}

// startEFO starts a server with a TLS listener and short subscription
// timings.
func startEFO(t *testing.T, opts ...func(*config.Config)) (*servertest.Server, *kinesis.Client, *x509.CertPool) {
	t.Helper()
	certPath, keyPath, pool := writeCert(t)
	all := append([]func(*config.Config){func(c *config.Config) {
		c.TLSListen, c.TLSCert, c.TLSKey = "127.0.0.1:0", certPath, keyPath
		c.SubscriptionHeartbeat = 200 * time.Millisecond
	}}, opts...)
	s := servertest.Start(t, all...)
	c, _ := transports[0].client(t, s, pool)
	return s, c, pool
}

// ownClient returns a client with c's options and a protocol codec of its
// own. smithy-go shares one event-stream decode buffer among the open
// subscriptions of a client (a data race the race detector reports when two
// are open at once), so each subscription here gets its own client, as the
// consumer library's do.
func ownClient(c *kinesis.Client) *kinesis.Client { return kinesis.New(c.Options()) }

// subscription reads one SubscribeToShard event stream.
type subscription struct {
	t      *testing.T
	stream *kinesis.SubscribeToShardEventStream
}

func subscribe(t *testing.T, c *kinesis.Client, consumerARN, shard string, pos types.StartingPosition) *subscription {
	t.Helper()
	out, err := ownClient(c).SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{
		ConsumerARN: aws.String(consumerARN), ShardId: aws.String(shard), StartingPosition: &pos,
	})
	if err != nil {
		t.Fatalf("SubscribeToShard(%s, %s): %v", shard, pos.Type, err)
	}
	s := &subscription{t: t, stream: out.GetStream()}
	t.Cleanup(func() { s.stream.Close() })
	return s
}

// next returns the next event; ok is false when the stream ended.
func (s *subscription) next() (*types.SubscribeToShardEvent, bool) {
	s.t.Helper()
	select {
	case ev, ok := <-s.stream.Events():
		if !ok {
			return nil, false
		}
		e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			s.t.Fatalf("unexpected event %T", ev)
		}
		return &e.Value, true
	case <-time.After(20 * time.Second):
		s.t.Fatal("no event for 20 seconds")
	}
	return nil, false
}

// records reads until n records arrived and returns them with the last
// continuation sequence number.
func (s *subscription) records(n int) ([]types.Record, string) {
	s.t.Helper()
	var out []types.Record
	cont := ""
	for len(out) < n {
		ev, ok := s.next()
		if !ok {
			s.t.Fatalf("stream ended after %d of %d records: %v", len(out), n, s.stream.Err())
		}
		if ev.ContinuationSequenceNumber == nil {
			s.t.Fatalf("event without ContinuationSequenceNumber on an open shard")
		}
		out = append(out, ev.Records...)
		cont = aws.ToString(ev.ContinuationSequenceNumber)
	}
	if len(out) != n {
		s.t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out, cont
}

func putN(t *testing.T, c *kinesis.Client, stream string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		put(t, c, stream, "pk", []byte(fmt.Sprintf("r%03d", i)))
	}
}

func checkOrder(t *testing.T, recs []types.Record, from int) {
	t.Helper()
	for i, r := range recs {
		if want := fmt.Sprintf("r%03d", from+i); string(r.Data) != want {
			t.Fatalf("record %d is %q, want %q", i, r.Data, want)
		}
		if i > 0 && !seqLess(t, recs[i-1].SequenceNumber, r.SequenceNumber) {
			t.Fatalf("sequence numbers out of order at %d", i)
		}
	}
}

func TestSubscribeToShardTransports(t *testing.T) {
	t.Parallel()
	srv, c, pool := startEFO(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			stream := "push-" + tr.name
			createStream(t, c, stream, 1)
			putN(t, c, stream, 0, 20)
			arn := registerConsumer(t, c, stream, "app")
			client, rec := tr.client(t, srv, pool)
			sub := subscribe(t, client, arn, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
			if rec.last() != tr.proto {
				t.Fatalf("SubscribeToShard answered over %s, want %s", rec.last(), tr.proto)
			}
			recs, _ := sub.records(20)
			checkOrder(t, recs, 0)
			// Records written while subscribed are pushed.
			done := make(chan struct{})
			var live []types.Record
			var cont string
			go func() {
				defer close(done)
				live, cont = sub.records(5)
			}()
			for i := 0; i < 5; i++ {
				put(t, c, stream, "pk", []byte(fmt.Sprintf("%s-%d", tr.name, i)))
			}
			<-done
			for i, r := range live {
				if want := fmt.Sprintf("%s-%d", tr.name, i); string(r.Data) != want {
					t.Fatalf("live record %d is %q, want %q", i, r.Data, want)
				}
			}
			if cont != aws.ToString(live[4].SequenceNumber) {
				t.Fatalf("continuation %s, want the last record's %s", cont, aws.ToString(live[4].SequenceNumber))
			}
			// Idle: heartbeats keep the continuation.
			ev, ok := sub.next()
			if !ok || len(ev.Records) != 0 || aws.ToString(ev.ContinuationSequenceNumber) == "" {
				t.Fatalf("idle event %+v, %v", ev, ok)
			}
		})
	}
}

func TestSubscribeToShardResumeWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	_, c, _ := startEFO(t)
	createStream(t, c, "resume", 1)
	arn := registerConsumer(t, c, "resume", "a")
	putN(t, c, "resume", 0, 30)

	sub := subscribe(t, c, arn, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	first, cont := sub.records(30)
	checkOrder(t, first, 0)
	sub.stream.Close()
	putN(t, c, "resume", 30, 60)

	// A different consumer resumes after the continuation number (the same
	// consumer would be inside the 5-second protection window).
	arn2 := registerConsumer(t, c, "resume", "b")
	sub2 := subscribe(t, c, arn2, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(cont)})
	rest, _ := sub2.records(30)
	checkOrder(t, rest, 30)

	// AT_SEQUENCE_NUMBER, AT_TIMESTAMP and LATEST.
	arn3 := registerConsumer(t, c, "resume", "c")
	sub3 := subscribe(t, c, arn3, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: rest[10].SequenceNumber})
	at, _ := sub3.records(20)
	checkOrder(t, at, 40)
	arn4 := registerConsumer(t, c, "resume", "d")
	sub4 := subscribe(t, c, arn4, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(first[0].ApproximateArrivalTimestamp.Add(-time.Second))})
	all, _ := sub4.records(60)
	checkOrder(t, all, 0)
	arn5 := registerConsumer(t, c, "resume", "e")
	sub5 := subscribe(t, c, arn5, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	if ev, ok := sub5.next(); !ok || len(ev.Records) != 0 {
		t.Fatalf("LATEST starts with %+v", ev)
	}
	put(t, c, "resume", "pk", []byte("r060"))
	latest, _ := sub5.records(1)
	checkOrder(t, latest, 60)

	// Errors before the stream starts are ordinary API errors.
	_, err := ownClient(c).SubscribeToShard(t.Context(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn5), ShardId: aws.String(shardID(7)),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = ownClient(c).SubscribeToShard(t.Context(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(streamARN("resume") + "/consumer/zz:1"), ShardId: aws.String(shardID(0)),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestSubscribeToShardTakeover(t *testing.T) {
	t.Parallel()
	_, c, _ := startEFO(t)
	createStream(t, c, "take", 1)
	arn := registerConsumer(t, c, "take", "a")
	pos := types.StartingPosition{Type: types.ShardIteratorTypeLatest}
	old := subscribe(t, c, arn, shardID(0), pos)
	old.next()
	started := time.Now()

	_, err := ownClient(c).SubscribeToShard(t.Context(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shardID(0)), StartingPosition: &pos})
	if time.Since(started) < 4*time.Second {
		// Within the 5-second window (checked on the client's clock, which
		// can only be later than the server's start of the first call).
		wantCode(t, err, "ResourceInUseException")
	}
	time.Sleep(time.Until(started.Add(5*time.Second + 100*time.Millisecond)))
	sub := subscribe(t, c, arn, shardID(0), pos)
	sub.next()
	// The old subscription ends with ResourceInUseException.
	for {
		if _, ok := old.next(); !ok {
			break
		}
	}
	var inUse *types.ResourceInUseException
	if err := old.stream.Err(); !errors.As(err, &inUse) {
		t.Fatalf("old subscription ended with %v, want ResourceInUseException", err)
	}
	put(t, c, "take", "pk", []byte("r000"))
	recs, _ := sub.records(1)
	checkOrder(t, recs, 0)
}

func TestSubscribeToShardExpiryAndShutdown(t *testing.T) {
	t.Parallel()
	srv, c, _ := startEFO(t, func(c *config.Config) { c.SubscriptionLifetime = time.Second })
	createStream(t, c, "exp", 1)
	arn := registerConsumer(t, c, "exp", "a")
	sub := subscribe(t, c, arn, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	events := 0
	for {
		if _, ok := sub.next(); !ok {
			break
		}
		events++
	}
	if err := sub.stream.Err(); err != nil || events == 0 {
		t.Fatalf("expired subscription: %d events, err %v; want a clean end", events, err)
	}

	// A graceful stop ends open subscriptions cleanly and promptly.
	arn2 := registerConsumer(t, c, "exp", "b")
	sub2 := subscribe(t, c, arn2, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	sub2.next()
	stopped := time.Now()
	srv.Stop(t)
	for {
		if _, ok := sub2.next(); !ok {
			break
		}
	}
	if err := sub2.stream.Err(); err != nil {
		t.Fatalf("subscription at shutdown ended with %v", err)
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Logf("stop took %s", d) // informative only: the machine may be loaded
	}
}

func TestSubscribeToShardEndAfterSplit(t *testing.T) {
	t.Parallel()
	_, c, _ := startEFO(t)
	createStream(t, c, "split", 1)
	arn := registerConsumer(t, c, "split", "a")
	putN(t, c, "split", 0, 3)
	sub := subscribe(t, c, arn, shardID(0), types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	recs, _ := sub.records(3)
	checkOrder(t, recs, 0)
	mid := new(big.Int).Rsh(maxHashKey, 1)
	if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String("split"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := sub.next()
		if !ok {
			t.Fatalf("stream ended before the shard end: %v", sub.stream.Err())
		}
		if len(ev.Records) != 0 {
			t.Fatalf("records after the split: %v", ev.Records)
		}
		if ev.ContinuationSequenceNumber == nil {
			if len(ev.ChildShards) != 2 || ev.ChildShards[0].ParentShards[0] != shardID(0) {
				t.Fatalf("shard end with children %+v", ev.ChildShards)
			}
			break
		}
	}
	if _, ok := sub.next(); ok {
		t.Fatal("events after the shard end")
	}
	if err := sub.stream.Err(); err != nil {
		t.Fatalf("after the shard end: %v", err)
	}
}

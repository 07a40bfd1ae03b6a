package sdk_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// secTransport records the protocol of the last response and adds
// headers a proxy would, after signing (they are not signed).
type secTransport struct {
	rt    http.RoundTripper
	extra http.Header
	mu    sync.Mutex
	proto string
}

func (s *secTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	for k, v := range s.extra {
		r.Header[k] = v
	}
	resp, err := s.rt.RoundTrip(r)
	if resp != nil {
		s.mu.Lock()
		s.proto = resp.Proto
		s.mu.Unlock()
	}
	return resp, err
}

func (s *secTransport) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proto
}

// secWay is one way of reaching the server.
type secWay struct {
	name, proto string
	secure      bool
}

var secWays = []secWay{
	{"http1", "HTTP/1.1", false},
	{"h2c", "HTTP/2.0", false},
	{"tls-http1", "HTTP/1.1", true},
	{"tls-h2", "HTTP/2.0", true},
}

// secClient returns a client signing with key/secret that reaches s the
// way w says.
func secClient(t *testing.T, s *servertest.Server, pool *x509.CertPool, w secWay, key, secret string, extra http.Header) (*kinesis.Client, *secTransport) {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: &tls.Config{RootCAs: pool}}
	endpoint := s.URL
	switch w.name {
	case "http1", "tls-http1":
		tr.Protocols.SetHTTP1(true)
	case "h2c":
		tr.Protocols.SetUnencryptedHTTP2(true)
	case "tls-h2":
		tr.Protocols.SetHTTP2(true)
	}
	if w.secure {
		endpoint = s.Server().TLSURL()
	}
	t.Cleanup(tr.CloseIdleConnections)
	rec := &secTransport{rt: tr, extra: extra}
	return kinesis.New(kinesis.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: rec},
	}), rec
}

const (
	secAccount = "444455556666"
	secRootKey = "AKIASECROOT000000001"
	secRootSec = "sec-root-secret"
)

// secUser declares a user whose single access key is AKIA<NAME...> with
// secret "<name>-secret" and one policy.
func secUser(name, key, policy string) config.User {
	return config.User{Name: name, AccessKeys: []config.AccessKey{{ID: key, Secret: name + "-secret"}},
		Policies: []config.PolicyConfig{{Name: name, Document: policy}}}
}

// secServer starts a server with auth on, a TLS listener, the audit log
// (with data events) at auditPath and users.
func secServer(t *testing.T, auditPath string, users ...config.User) (*servertest.Server, *x509.CertPool) {
	t.Helper()
	certPath, keyPath, pool := writeCert(t)
	s := servertest.Start(t, func(c *config.Config) {
		c.TLSListen, c.TLSCert, c.TLSKey = "127.0.0.1:0", certPath, keyPath
		c.Auth, c.AccountID = config.AuthOn, secAccount
		c.AuditLog, c.AuditDataEvents = auditPath, true
		c.SubscriptionHeartbeat = 200 * time.Millisecond
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: secAccount, AccessKeys: []config.AccessKey{{ID: secRootKey, Secret: secRootSec}}}},
			Users:    users,
		}
	})
	return s, pool
}

// readAudit stops s (which flushes the audit log) and returns its events.
func readAudit(t *testing.T, s *servertest.Server, path string) []map[string]any {
	t.Helper()
	s.Stop(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	return events
}

func TestSecureTransportPolicy(t *testing.T) {
	t.Parallel()
	// tlsonly may do anything except over plain HTTP.
	s, pool := secServer(t, filepath.Join(t.TempDir(), "audit.jsonl"),
		secUser("tlsonly", "AKIATLSONLY000000001", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"kinesis:*","Resource":"*"},
			{"Sid":"RequireTLS","Effect":"Deny","Action":"kinesis:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`),
		// plainonly is allowed only when the request is NOT over TLS: the
		// key must be false on the plain listener, not merely absent.
		secUser("plainonly", "AKIAPLAINONLY0000001", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`),
	)
	for _, w := range secWays {
		tlsOnly, rec := secClient(t, s, pool, w, "AKIATLSONLY000000001", "tlsonly-secret", nil)
		_, err := tlsOnly.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
		if got := rec.last(); got != w.proto {
			t.Errorf("%s: answered over %s, want %s", w.name, got, w.proto)
		}
		if w.secure {
			if err != nil {
				t.Errorf("%s: tlsonly ListStreams over TLS: %v", w.name, err)
			}
		} else {
			wantCode(t, err, "AccessDeniedException")
			wantMessage(t, err, "User: arn:aws:iam::444455556666:user/tlsonly is not authorized to perform: kinesis:ListStreams on resource: * with an explicit deny in an identity-based policy")
		}

		plainOnly, _ := secClient(t, s, pool, w, "AKIAPLAINONLY0000001", "plainonly-secret", nil)
		_, err = plainOnly.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
		if w.secure {
			wantCode(t, err, "AccessDeniedException")
			wantMessage(t, err, "because no identity-based policy allows the kinesis:ListStreams action")
		} else if err != nil {
			t.Errorf("%s: plainonly ListStreams over plain HTTP: %v", w.name, err)
		}
	}
}

func TestSourceIPIsTheConnectionsPeer(t *testing.T) {
	t.Parallel()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	s, pool := secServer(t, auditPath,
		secUser("local", "AKIALOCAL00000000001", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.1/32","::1/128"]}}}]}`),
		secUser("office", "AKIAOFFICE0000000001", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}`),
	)
	// Headers a proxy would set, claiming the office network: ignored.
	spoof := http.Header{
		"X-Forwarded-For": {"203.0.113.7"},
		"X-Real-Ip":       {"203.0.113.7"},
		"Forwarded":       {"for=203.0.113.7"},
	}
	for _, w := range []secWay{secWays[0], secWays[3]} {
		local, _ := secClient(t, s, pool, w, "AKIALOCAL00000000001", "local-secret", spoof)
		if _, err := local.ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err != nil {
			t.Errorf("%s: local user from 127.0.0.1: %v", w.name, err)
		}
		office, _ := secClient(t, s, pool, w, "AKIAOFFICE0000000001", "office-secret", spoof)
		_, err := office.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
		wantCode(t, err, "AccessDeniedException")
	}
	events := readAudit(t, s, auditPath)
	if len(events) != 4 {
		t.Fatalf("audit: %d events, want 4", len(events))
	}
	for _, ev := range events {
		if ev["sourceIPAddress"] != "127.0.0.1" {
			t.Errorf("audit sourceIPAddress %v, want the peer 127.0.0.1", ev["sourceIPAddress"])
		}
	}
}

func TestSubscribeToShardIsAuthenticatedAuthorizedAndAudited(t *testing.T) {
	t.Parallel()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	s, pool := secServer(t, auditPath,
		secUser("reader", "AKIAREADER0000000001", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["kinesis:SubscribeToShard","kinesis:DescribeStreamConsumer"],"Resource":"arn:aws:kinesis:*:444455556666:stream/events/consumer/*"}]}`),
		secUser("nosub", "AKIANOSUB00000000001", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"kinesis:*","Resource":"*"},
			{"Effect":"Deny","Action":"kinesis:SubscribeToShard","Resource":"*"}]}`),
	)
	tlsH2 := secWays[3]
	root, _ := secClient(t, s, pool, tlsH2, secRootKey, secRootSec, nil)
	ctx := t.Context()
	if _, err := root.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("events"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, root, "events")
	reg, err := root.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:444455556666:stream/events"), ConsumerName: aws.String("app"),
	})
	if err != nil {
		t.Fatal(err)
	}
	consumerARN := aws.ToString(reg.Consumer.ConsumerARN)
	for deadline := time.Now().Add(15 * time.Second); ; {
		d, err := root.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
		if err != nil {
			t.Fatal(err)
		}
		if d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer still %s", d.ConsumerDescription.ConsumerStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	in := func() *kinesis.SubscribeToShardInput {
		return &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(consumerARN), ShardId: aws.String("shardId-000000000000"),
			StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}}
	}

	for _, w := range []secWay{secWays[1], tlsH2} {
		// Authentication: a wrong secret and an unknown key.
		bad, _ := secClient(t, s, pool, w, "AKIAREADER0000000001", "wrong", nil)
		_, err = bad.SubscribeToShard(ctx, in())
		wantCode(t, err, "InvalidSignatureException")
		unknown, _ := secClient(t, s, pool, w, "AKIANOBODY0000000001", "x", nil)
		_, err = unknown.SubscribeToShard(ctx, in())
		wantCode(t, err, "UnrecognizedClientException")

		// Authorization: an explicit deny.
		nosub, _ := secClient(t, s, pool, w, "AKIANOSUB00000000001", "nosub-secret", nil)
		_, err = nosub.SubscribeToShard(ctx, in())
		wantCode(t, err, "AccessDeniedException")
		wantMessage(t, err, "User: arn:aws:iam::444455556666:user/nosub is not authorized to perform: kinesis:SubscribeToShard on resource: "+consumerARN+" with an explicit deny in an identity-based policy")
	}

	// The allowed reader gets the records.
	if _, err := root.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), PartitionKey: aws.String("pk-secret"), Data: []byte("payload-secret")}); err != nil {
		t.Fatal(err)
	}
	reader, _ := secClient(t, s, pool, tlsH2, "AKIAREADER0000000001", "reader-secret", nil)
	out, err := reader.SubscribeToShard(ctx, in())
	if err != nil {
		t.Fatalf("reader SubscribeToShard: %v", err)
	}
	stream := out.GetStream()
	got := 0
	for got == 0 {
		select {
		case ev, ok := <-stream.Events():
			if !ok {
				t.Fatalf("subscription ended without the record: %v", stream.Err())
			}
			if e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); isEvent {
				for _, r := range e.Value.Records {
					if string(r.Data) != "payload-secret" {
						t.Fatalf("record %q", r.Data)
					}
					got++
				}
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no record for 20 seconds")
		}
	}
	stream.Close()

	events := readAudit(t, s, auditPath)
	count := map[string]int{}
	for _, ev := range events {
		if ev["eventName"] != "SubscribeToShard" {
			continue
		}
		id, _ := ev["userIdentity"].(map[string]any)
		code, _ := ev["errorCode"].(string)
		count[code+" "+strings.TrimPrefix(id["accessKeyId"].(string), "AKIA")]++
		if ev["eventCategory"] != "Data" || ev["readOnly"] != true {
			t.Errorf("SubscribeToShard event: %v", ev)
		}
		if rp, _ := ev["requestParameters"].(map[string]any); rp["consumerARN"] != consumerARN {
			t.Errorf("SubscribeToShard requestParameters: %v", ev["requestParameters"])
		}
		if code == "" && ev["tlsDetails"] == nil {
			t.Errorf("SubscribeToShard over TLS without tlsDetails: %v", ev)
		}
	}
	want := map[string]int{
		"InvalidSignatureException READER0000000001":   2,
		"UnrecognizedClientException NOBODY0000000001": 2,
		"AccessDeniedException NOSUB00000000001":       2,
		" READER0000000001":                            1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("audit: %d SubscribeToShard events %q, want %d (all: %v)", count[k], k, n, count)
		}
	}
	raw, _ := os.ReadFile(auditPath)
	if bytes.Contains(raw, []byte("payload-secret")) || bytes.Contains(raw, []byte("pk-secret")) {
		t.Error("the audit log holds record data or a partition key")
	}
}

package sdk_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

const (
	authAccount = "111122223333"
	rootKey     = "AKIAROOTEXAMPLE00001"
	aliceKey    = "AKIAALICEEXAMPLE0001"
	bobKey      = "AKIABOBEXAMPLE000001"
	tempKey     = "ASIATEMPEXAMPLE00001"
	secret      = "alice/secret/EXAMPLEKEY"
)

// authConfig declares an account root, alice (writes to streams named
// orders*, describes everything, denied DeleteStream explicitly), bob
// (reads only, through the readers group) and a temporary key with a
// session token.
func authConfig(audit string) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth = config.AuthOn
		c.AccountID = authAccount
		c.AuditLog = audit
		c.AuditDataEvents = true
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: authAccount, AccessKeys: []config.AccessKey{{ID: rootKey, Secret: "root-secret"}}}},
			Groups: []config.Group{{Name: "readers", Policies: []config.PolicyConfig{{Name: "read", Document: `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":["kinesis:Get*","kinesis:Describe*","kinesis:List*"],"Resource":"*"}]}`}}}},
			Users: []config.User{
				{Name: "alice", AccessKeys: []config.AccessKey{{ID: aliceKey, Secret: secret}},
					Policies: []config.PolicyConfig{{Name: "write", Document: map[string]any{
						"Version": "2012-10-17",
						"Statement": []any{
							map[string]any{"Sid": "Write", "Effect": "Allow", "Action": []any{"kinesis:PutRecord", "kinesis:PutRecords"}, "Resource": "arn:aws:kinesis:*:111122223333:stream/orders*"},
							map[string]any{"Effect": "Allow", "Action": "kinesis:Describe*", "Resource": "*"},
							map[string]any{"Sid": "NoDelete", "Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*"},
							map[string]any{"Effect": "Allow", "Action": "kinesis:DeleteStream", "Resource": "*"},
						},
					}}}},
				{Name: "bob", Groups: []string{"readers"}, AccessKeys: []config.AccessKey{{ID: bobKey, Secret: "bob-secret"}}},
				{Name: "temp", AccessKeys: []config.AccessKey{{ID: tempKey, Secret: "temp-secret", SessionToken: "session-token-1"}},
					Policies: []config.PolicyConfig{{Name: "all", Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}`}}},
			},
		}
	}
}

func clientAs(s *servertest.Server, key, sec, token string) *kinesis.Client {
	return s.Kinesis(func(o *kinesis.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(key, sec, token)
	})
}

func TestAuthTwoUsersThroughTheSDK(t *testing.T) {
	t.Parallel()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	s := servertest.Start(t, authConfig(auditPath))
	root := clientAs(s, rootKey, "root-secret", "")
	alice := clientAs(s, aliceKey, secret, "")
	bob := clientAs(s, bobKey, "bob-secret", "")
	ctx := t.Context()
	orders := "arn:aws:kinesis:us-east-1:111122223333:stream/orders"

	for _, name := range []string{"orders", "secret"} {
		if _, err := root.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatalf("root CreateStream %s: %v", name, err)
		}
	}
	// alice writes to orders, not to secret, and may not create streams.
	put, err := alice.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("pk-alice"), Data: []byte("payload-alice")})
	if err != nil {
		t.Fatalf("alice PutRecord orders: %v", err)
	}
	_, err = alice.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("secret"), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	wantMessage(t, err, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:111122223333:stream/secret because no identity-based policy allows the kinesis:PutRecord action")
	_, err = alice.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders2"), ShardCount: aws.Int32(1)})
	wantCode(t, err, "AccessDeniedException")
	_, err = alice.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")})
	wantCode(t, err, "AccessDeniedException")
	wantMessage(t, err, "with an explicit deny in an identity-based policy")
	if _, err := alice.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("secret")}); err != nil {
		t.Fatalf("alice Describe: %v", err)
	}

	// bob reads (GetRecords is authorized on the iterator's stream) but
	// cannot write.
	it, err := bob.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("bob GetShardIterator: %v", err)
	}
	recs, err := bob.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(recs.Records) != 1 || aws.ToString(recs.Records[0].SequenceNumber) != aws.ToString(put.SequenceNumber) {
		t.Fatalf("bob GetRecords: %v %+v", err, recs)
	}
	_, err = bob.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	wantMessage(t, err, "user/bob is not authorized to perform: kinesis:PutRecord on resource: "+orders)

	// A resource policy naming bob lets him write to orders.
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kinesis:PutRecord","Resource":"` + orders + `"}]}`
	if _, err := root.PutResourcePolicy(ctx, &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(orders), Policy: aws.String(pol)}); err != nil {
		t.Fatalf("PutResourcePolicy: %v", err)
	}
	if _, err := bob.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("x")}); err != nil {
		t.Fatalf("bob PutRecord with resource policy: %v", err)
	}
	_, err = root.PutResourcePolicy(ctx, &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(orders), Policy: aws.String(`{"Statement":{"Effect":"Allow","Action":"*"}}`)})
	wantCode(t, err, "InvalidArgumentException")
	wantMessage(t, err, "Principal")

	// Session tokens: required with the key they belong to.
	if _, err := clientAs(s, tempKey, "temp-secret", "session-token-1").ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("temporary key with its token: %v", err)
	}
	_, err = clientAs(s, tempKey, "temp-secret", "").ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantCode(t, err, "UnrecognizedClientException")

	// Wrong secret, unknown key.
	_, err = clientAs(s, aliceKey, "wrong", "").ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantCode(t, err, "InvalidSignatureException")
	wantMessage(t, err, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	_, err = clientAs(s, "AKIANOBODY0000000000", "x", "").ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantCode(t, err, "UnrecognizedClientException")
	wantMessage(t, err, "The security token included in the request is invalid.")
	// The dev-mode convention of a 12-digit key id selecting an account
	// does not apply.
	_, err = clientAs(s, "123456789012", "x", "").ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantCode(t, err, "UnrecognizedClientException")

	// The audit log: written on Close, one event per call, no record data.
	s.Stop(t)
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("payload-alice")) || bytes.Contains(raw, []byte("pk-alice")) || bytes.Contains(raw, []byte("cGF5bG9hZC1hbGljZQ")) {
		t.Fatalf("audit log holds record data or partition keys:\n%s", raw)
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
	count := func(name, arn, code string) int {
		n := 0
		for _, ev := range events {
			id, _ := ev["userIdentity"].(map[string]any)
			if ev["eventName"] == name && id["arn"] == arn && (ev["errorCode"] == nil && code == "" || ev["errorCode"] == code) {
				n++
			}
		}
		return n
	}
	rootARN := "arn:aws:iam::111122223333:root"
	aliceARN := "arn:aws:iam::111122223333:user/alice"
	for _, c := range []struct {
		name, arn, code string
		want            int
	}{
		{"CreateStream", rootARN, "", 2},
		{"CreateStream", aliceARN, "AccessDeniedException", 1},
		{"DeleteStream", aliceARN, "AccessDeniedException", 1},
		{"PutRecord", aliceARN, "", 1},
		{"PutRecord", aliceARN, "AccessDeniedException", 1},
		{"PutResourcePolicy", rootARN, "", 1},
		{"PutResourcePolicy", rootARN, "InvalidArgumentException", 1},
		{"DescribeStreamSummary", aliceARN, "", 1},
	} {
		if got := count(c.name, c.arn, c.code); got != c.want {
			t.Errorf("audit: %d %s events by %s with error %q, want %d", got, c.name, c.arn, c.code, c.want)
		}
	}
	for _, ev := range events {
		if ev["eventName"] == "CreateStream" && ev["errorCode"] == nil {
			id := ev["userIdentity"].(map[string]any)
			if id["type"] != "Root" || id["accountId"] != authAccount || id["accessKeyId"] != rootKey ||
				ev["eventSource"] != "kinesis.amazonaws.com" || ev["eventType"] != "AwsApiCall" || ev["awsRegion"] != "us-east-1" ||
				ev["managementEvent"] != true || ev["readOnly"] != false || ev["recipientAccountId"] != authAccount {
				t.Errorf("CreateStream event fields: %v", ev)
			}
			rp := ev["requestParameters"].(map[string]any)
			if rp["streamName"] == nil || rp["shardCount"] == nil {
				t.Errorf("CreateStream requestParameters: %v", rp)
			}
		}
		if ev["eventName"] == "PutRecord" && ev["errorCode"] == nil {
			if ev["eventCategory"] != "Data" || ev["managementEvent"] != false {
				t.Errorf("PutRecord event: %v", ev)
			}
			res, _ := ev["resources"].([]any)
			if len(res) != 1 || res[0].(map[string]any)["ARN"] != orders {
				t.Errorf("PutRecord resources: %v", ev["resources"])
			}
		}
		if ev["eventName"] == "ListStreams" && ev["errorCode"] == "UnrecognizedClientException" {
			continue
		}
	}
}

// signedRequest builds a ListStreams request signed for the server at
// signTime, optionally presigned, with the body it will send.
func signedRequest(t *testing.T, s *servertest.Server, key, sec string, signTime time.Time, presign bool, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: sec}
	signer := v4.NewSigner()
	if presign {
		u, hdr, err := signer.PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", signTime,
			func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
		if err != nil {
			t.Fatal(err)
		}
		preq, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
		for k, v := range hdr {
			if !strings.EqualFold(k, "host") {
				preq.Header[k] = v
			}
		}
		return preq
	}
	if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", signTime); err != nil {
		t.Fatal(err)
	}
	return req
}

func send(t *testing.T, req *http.Request) (int, map[string]string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]string
	json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]string{"raw": string(b)}
	}
	return resp.StatusCode, m
}

func TestAuthSignatureEdgeCases(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, authConfig(""))
	now := time.Now()

	if code, body := send(t, signedRequest(t, s, bobKey, "bob-secret", now, false, "{}")); code != 200 {
		t.Fatalf("signed request: %d %v", code, body)
	}
	// Clock skew: 20 minutes behind and ahead.
	code, body := send(t, signedRequest(t, s, bobKey, "bob-secret", now.Add(-20*time.Minute), false, "{}"))
	if code != 400 || body["__type"] != "InvalidSignatureException" || !strings.HasPrefix(body["message"], "Signature expired: ") || !strings.HasSuffix(body["message"], " - 15 min.)") {
		t.Errorf("old signature: %d %v", code, body)
	}
	code, body = send(t, signedRequest(t, s, bobKey, "bob-secret", now.Add(20*time.Minute), false, "{}"))
	if code != 400 || body["__type"] != "InvalidSignatureException" || !strings.HasPrefix(body["message"], "Signature not yet current: ") {
		t.Errorf("future signature: %d %v", code, body)
	}
	// 10 minutes of skew is tolerated.
	if code, body := send(t, signedRequest(t, s, bobKey, "bob-secret", now.Add(-10*time.Minute), false, "{}")); code != 200 {
		t.Errorf("10 minutes of skew: %d %v", code, body)
	}
	// A tampered body no longer matches the signature.
	req := signedRequest(t, s, bobKey, "bob-secret", now, false, `{"Limit":1}`)
	req.Body = io.NopCloser(strings.NewReader(`{"Limit":2}`))
	if code, body := send(t, req); code != 400 || body["__type"] != "InvalidSignatureException" {
		t.Errorf("tampered body: %d %v", code, body)
	}
	// A tampered signed header too.
	req = signedRequest(t, s, bobKey, "bob-secret", now, false, "{}")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.DescribeLimits")
	if code, body := send(t, req); code != 400 || body["__type"] != "InvalidSignatureException" {
		t.Errorf("tampered target: %d %v", code, body)
	}
	// Presigned URLs.
	if code, body := send(t, signedRequest(t, s, bobKey, "bob-secret", now, true, "{}")); code != 200 {
		t.Errorf("presigned: %d %v", code, body)
	}
	if code, body := send(t, signedRequest(t, s, bobKey, "wrong", now, true, "{}")); code != 400 || body["__type"] != "InvalidSignatureException" {
		t.Errorf("presigned with a wrong secret: %d %v", code, body)
	}
	// Missing signature.
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	if code, body := send(t, req); code != 400 || body["__type"] != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned: %d %v", code, body)
	}
	// A credential scoped to another service.
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	sum := sha256.Sum256([]byte("{}"))
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: bobKey, SecretAccessKey: "bob-secret"}, req, hex.EncodeToString(sum[:]), "dynamodb", "us-east-1", now)
	if code, body := send(t, req); code != 400 || body["__type"] != "InvalidSignatureException" || body["message"] != "Credential should be scoped to correct service: 'kinesis'. " {
		t.Errorf("wrong service: %d %v", code, body)
	}
}

func TestAuthAllowCIDRs(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, func(c *config.Config) { c.AllowCIDRs = "10.0.0.0/8" })
	_, err := s.Kinesis().ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	wantCode(t, err, "AccessDeniedException")
	s2 := servertest.Start(t, func(c *config.Config) { c.AllowCIDRs = "127.0.0.0/8, ::1" })
	if _, err := s2.Kinesis().ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("allowed client: %v", err)
	}
}

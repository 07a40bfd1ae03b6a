package awsproto

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

type testKeys map[string]*SigningKey

func (k testKeys) SigningKey(id string) (*SigningKey, bool) { s, ok := k[id]; return s, ok }

func authRouter(now time.Time) *Router {
	r := NewRouter(RouterOptions{
		Keys: testKeys{"AKIDTEST": {SecretAccessKey: "secret", Principal: Principal{Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/t", AccountID: "123456789012"}}},
		Now:  func() time.Time { return now },
	})
	r.Register("Kinesis_20131202", "1.1", map[string]Handler{
		"ListStreams": func(ctx context.Context, body []byte) (any, error) {
			return map[string]string{"Account": Info(ctx).AccountID}, nil
		},
	})
	return r
}

func signed(t testing.TB, secret string, at time.Time, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://kinesis.local/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestAuthenticate(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	r := authRouter(now)
	for _, c := range []struct {
		name string
		req  *http.Request
		want string
	}{
		{"valid", signed(t, "secret", now, "{}"), `{"Account":"123456789012"}`},
		{"wrong secret", signed(t, "nope", now, "{}"), "The request signature we calculated does not match"},
		{"expired", signed(t, "secret", now.Add(-16*time.Minute), "{}"), "Signature expired: 20250601T114400Z is now earlier than 20250601T114500Z (20250601T120000Z - 15 min.)"},
		{"future", signed(t, "secret", now.Add(16*time.Minute), "{}"), "Signature not yet current: 20250601T121600Z is still later than 20250601T121500Z (20250601T120000Z + 15 min.)"},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, c.req)
		if !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s, want %q", c.name, w.Code, w.Body.String(), c.want)
		}
	}
}

func TestSigningName(t *testing.T) {
	for in, want := range map[string]string{"Kinesis_20131202": "kinesis", "DynamoDB_20120810": "dynamodb", "DynamoDBStreams_20120810": "dynamodb", "GraniteServiceVersion20100801": "monitoring"} {
		if got := signingName(in); got != want {
			t.Errorf("signingName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzAuthenticate sends arbitrary Authorization and X-Amz-Date headers
// through parsing and verification: the router must answer, never panic,
// and never accept them.
func FuzzAuthenticate(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDTEST/20250601/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20250601T120000Z")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDTEST/20250601/us-east-1/dynamodb/x, SignedHeaders=, Signature=zz", "Sun, 01 Jun 2025 12:00:00 GMT")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature=", "garbage")
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	r := authRouter(now)
	f.Fuzz(func(t *testing.T, auth, date string) {
		req := httptest.NewRequest(http.MethodPost, "http://kinesis.local/", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Amz-Date", date)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			t.Fatalf("accepted a forged signature: %q %q", auth, date)
		}
	})
}

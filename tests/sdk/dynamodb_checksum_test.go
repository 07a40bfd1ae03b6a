package sdk_test

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// wireCheck is an HTTP transport that reads every response body as it
// arrived (gzipped or not), checks its X-Amz-Crc32 against the CRC-32 of
// those bytes, and hands the SDK the same bytes.
type wireCheck struct {
	next http.RoundTripper

	mu       sync.Mutex
	seen     int
	gzipped  map[int]int // responses with Content-Encoding: gzip, by status class (2, 4)
	problems []string
}

func (c *wireCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen++
	op := r.Header.Get("X-Amz-Target")
	want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
	if got, ok := resp.Header["X-Amz-Crc32"]; !ok || len(got) != 1 || got[0] != want {
		c.problems = append(c.problems, fmt.Sprintf("%s (HTTP %d): X-Amz-Crc32 %q, want [%s]", op, resp.StatusCode, got, want))
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		c.gzipped[resp.StatusCode/100]++
	}
	return resp, nil
}

// warnings collects what the SDK logs at Warn level (smithy-go logs a
// failed response body Close there, which is how a bad checksum shows).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) logger() logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if c == logging.Warn {
			w.mu.Lock()
			w.msgs = append(w.msgs, fmt.Sprintf(format, v...))
			w.mu.Unlock()
		}
	})
}

func (w *warnings) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		t.Errorf("SDK warning: %s", m)
	}
}

// checkedDDBClient is ddbClient with a wireCheck transport and a logger
// that collects warnings; gzip turns on the SDK's EnableAcceptEncodingGzip.
func checkedDDBClient(s *servertest.Server, key, secret string, gzip bool) (*dynamodb.Client, *wireCheck, *warnings) {
	wc := &wireCheck{next: s.HTTPClient().Transport, gzipped: map[int]int{}}
	warn := &warnings{}
	c := dynamodb.New(dynamodb.Options{
		Region:                   servertest.Region,
		BaseEndpoint:             aws.String(s.URL),
		Credentials:              credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts:         1,
		HTTPClient:               &http.Client{Transport: wc},
		Logger:                   warn.logger(),
		EnableAcceptEncodingGzip: gzip,
	})
	return c, wc, warn
}

// TestDynamoDBResponseChecksums: every DynamoDB response, success or error,
// gzipped or not, carries the CRC-32 of the bytes sent, and aws-sdk-go-v2
// (which validates it when it closes each body) logs no warning.
func TestDynamoDBResponseChecksums(t *testing.T) {
	for _, gzip := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gzip), func(t *testing.T) {
			t.Parallel()
			s := servertest.Start(t)
			c, wc, warn := checkedDDBClient(s, servertest.AccessKeyID, servertest.SecretAccessKey, gzip)
			ctx := t.Context()
			createLeaseTable(t, c, "crc")

			// An item large enough for a gzipped response.
			blob := strings.Repeat("checkpoint-", 800)
			item := map[string]types.AttributeValue{"leaseKey": sv("shard-0"), "blob": sv(blob), "counter": nv("1")}
			if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("crc"), Item: item}); err != nil {
				t.Fatalf("PutItem: %v", err)
			}
			got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("crc"), Key: map[string]types.AttributeValue{"leaseKey": sv("shard-0")}, ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatalf("GetItem: %v", err)
			}
			if b, ok := got.Item["blob"].(*types.AttributeValueMemberS); !ok || b.Value != blob {
				t.Fatalf("GetItem returned %d attributes, not the item put", len(got.Item))
			}
			scan, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("crc")})
			if err != nil || len(scan.Items) != 1 {
				t.Fatalf("Scan: %v items, %v", len(scan.Items), err)
			}

			// A large error: the failed condition returns the item.
			_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("crc"), Item: item,
				ConditionExpression:                 aws.String("attribute_not_exists(leaseKey)"),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
			ccf := wantErr[*types.ConditionalCheckFailedException](t, err)
			if b, ok := ccf.Item["blob"].(*types.AttributeValueMemberS); !ok || b.Value != blob {
				t.Errorf("ConditionalCheckFailedException carries %d attributes, not the item", len(ccf.Item))
			}
			// Small errors.
			_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("missing"), Key: map[string]types.AttributeValue{"leaseKey": sv("x")}})
			wantErr[*types.ResourceNotFoundException](t, err)
			_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("crc"), Key: map[string]types.AttributeValue{"leaseKey": sv("shard-0")},
				UpdateExpression: aws.String("SET counter = counter +")})
			wantAPIError(t, err, "ValidationException", "")

			wc.mu.Lock()
			defer wc.mu.Unlock()
			for _, p := range wc.problems {
				t.Error(p)
			}
			if wc.seen < 7 {
				t.Errorf("the transport saw %d responses, want at least 7", wc.seen)
			}
			if gzip && (wc.gzipped[2] == 0 || wc.gzipped[4] == 0) {
				t.Errorf("gzipped responses by status class: %v, want successes and errors", wc.gzipped)
			}
			if !gzip && len(wc.gzipped) != 0 {
				t.Errorf("gzipped responses %v though the client did not ask", wc.gzipped)
			}
			warn.check(t)
		})
	}
}

// TestDynamoDBChecksumsOnRefusals: the errors the server answers before an
// operation runs (a bad signature, a client outside the allow-list) carry
// the checksum too.
func TestDynamoDBChecksumsOnRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  func(*config.Config)
		key  string
		code string
	}{
		{"bad signature", authConfig(""), rootKey, "InvalidSignatureException"},
		{"unknown key", authConfig(""), "AKIANOSUCHKEY0000001", "UnrecognizedClientException"},
		{"client not allowed", func(c *config.Config) { c.AllowCIDRs = "10.0.0.0/8" }, servertest.AccessKeyID, "AccessDeniedException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := servertest.Start(t, tt.cfg)
			c, wc, warn := checkedDDBClient(s, tt.key, "not-the-secret", false)
			_, err := c.ListTables(t.Context(), &dynamodb.ListTablesInput{})
			if code, msg := apiCode(t, err); code != tt.code && !(tt.code == "InvalidSignatureException" && code == "SignatureDoesNotMatch") {
				t.Fatalf("ListTables: %s: %s, want %s", code, msg, tt.code)
			}
			wc.mu.Lock()
			for _, p := range wc.problems {
				t.Error(p)
			}
			if wc.seen == 0 {
				t.Error("the transport saw no response")
			}
			wc.mu.Unlock()
			warn.check(t)
		})
	}
}

// TestDynamoDBChecksumsOnProtocolErrors: what the protocol layer answers for
// the DynamoDB target prefix (an unknown operation, a body that is not
// JSON, no signature) carries the checksum, and Kinesis answers do not.
func TestDynamoDBChecksumsOnProtocolErrors(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	const auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd"
	for _, tt := range []struct {
		name, target, contentType, body string
		signed                          bool
		code                            string
		crc                             bool
	}{
		{"unknown operation", "DynamoDB_20120810.NoSuchOperation", "application/x-amz-json-1.0", `{}`, true, "UnknownOperationException", true},
		{"not JSON", "DynamoDB_20120810.GetItem", "application/x-amz-json-1.0", `{"TableName":`, true, "SerializationException", true},
		{"no signature", "DynamoDB_20120810.ListTables", "application/x-amz-json-1.0", `{}`, false, "MissingAuthenticationTokenException", true},
		{"Kinesis error", "Kinesis_20131202.NoSuchOperation", "application/x-amz-json-1.1", `{}`, true, "UnknownOperationException", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", tt.contentType)
			if tt.signed {
				req.Header.Set("Authorization", auth)
				req.Header.Set("X-Amz-Date", "20260101T000000Z")
			}
			resp, err := s.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resp.Header.Get("X-Amzn-ErrorType")+string(raw), tt.code) {
				t.Fatalf("HTTP %d %s: want %s", resp.StatusCode, raw, tt.code)
			}
			got, ok := resp.Header["X-Amz-Crc32"]
			want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
			switch {
			case tt.crc && (!ok || got[0] != want):
				t.Errorf("X-Amz-Crc32 %q, want %s", got, want)
			case !tt.crc && ok:
				t.Errorf("X-Amz-Crc32 %q on a Kinesis response", got)
			}
		})
	}
}

package consumer

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// kclPolicy is the policy docs/security.md gives a KCL application's
// user: the json block under its "A KCL application's policy" heading.
func kclPolicy(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### A KCL application's policy\n")
	if !ok {
		t.Fatal(`docs/security.md has no "A KCL application's policy" section`)
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	policy, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/security.md: no json block in the KCL policy section")
	}
	return policy
}

// TestWorkerUnderDocumentedPolicy runs a worker of the application my-app
// on the stream orders with --auth on, as a user holding only the
// documented KCL policy: it creates its lease table, takes the lease and
// checkpoints what it processed. The same user is refused other tables.
func TestWorkerUnderDocumentedPolicy(t *testing.T) {
	const (
		account = "111122223333"
		rootKey = "AKIAKCLROOT000000001"
		kclKey  = "AKIAKCLAPP0000000001"
	)
	srv := servertest.Start(t, func(c *config.Config) {
		c.Auth = config.AuthOn
		c.AccountID = account
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: rootKey, Secret: "root-secret"}}}},
			Users: []config.User{{Name: "my-app", AccessKeys: []config.AccessKey{{ID: kclKey, Secret: "kcl-secret"}},
				Policies: []config.PolicyConfig{{Name: "kcl", Document: kclPolicy(t)}}}},
		}
	})
	clients := func(key, secret string) (*kinesis.Client, *dynamodb.Client) {
		creds := credentials.NewStaticCredentialsProvider(key, secret, "")
		kc := srv.Kinesis(func(o *kinesis.Options) { o.Credentials = creds; o.RetryMaxAttempts = 3 })
		dc := dynamodb.New(dynamodb.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL),
			Credentials: creds, RetryMaxAttempts: 3, HTTPClient: srv.HTTPClient()})
		return kc, dc
	}
	rootKC, rootDC := clients(rootKey, "root-secret")
	kc, dc := clients(kclKey, "kcl-secret")

	// The root sets up the stream and its records.
	e := &env{t: t, srv: srv, kc: rootKC, dc: rootDC}
	e.createStream("orders", 1)
	keys := keysN(4)
	e.put("orders", keys, 0, 5)

	s := newSink()
	cfg := fastConfig("my-app", "orders")
	cfg.WorkerID = "w1"
	w, err := New(cfg, kc, dc, func() RecordProcessor { return &testProcessor{s: s, worker: "w1"} })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("worker start as the KCL user: %v", err)
	}
	t.Cleanup(w.abort)
	e.eventually(60*time.Second, "every record processed", func() bool { return len(s.missing(keys, 0, 5)) == 0 })
	e.eventually(30*time.Second, "a checkpoint on the lease", func() bool {
		leases, err := w.Leases(context.Background())
		return err == nil && len(leases) == 1 && leases[0].Owner == "w1" && !leases[0].Checkpoint.IsSentinel()
	})
	shutdown(t, w)

	// The lease table is the application's; the user may not touch others.
	_, err = dc.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("other-app"),
		Item: map[string]ddb.AttributeValue{"leaseKey": &ddb.AttributeValueMemberS{Value: "x"}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" ||
		!strings.Contains(ae.ErrorMessage(), "dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:111122223333:table/other-app") {
		t.Fatalf("PutItem on another table as the KCL user: %v", err)
	}
	if _, err := rootDC.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("my-app")}); err != nil {
		t.Fatalf("the lease table: %v", err)
	}
}

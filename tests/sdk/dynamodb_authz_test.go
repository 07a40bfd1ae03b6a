package sdk_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

const (
	ddbWriterKey = "AKIADDBWRITER0000001"
	ddbTxnKey    = "AKIADDBTXN0000000001"
)

// ddbAuthConfig declares the account root and two users: writer
// (PutItem/GetItem on table a, Query on a's index byOwner only) and txn
// (PutItem and UpdateItem on table a, ConditionCheckItem on table b).
func ddbAuthConfig(audit string) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth = config.AuthOn
		c.AccountID = authAccount
		c.AuditLog = audit
		c.AuditDataEvents = true
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: authAccount, AccessKeys: []config.AccessKey{{ID: rootKey, Secret: "root-secret"}}}},
			Users: []config.User{
				{Name: "writer", AccessKeys: []config.AccessKey{{ID: ddbWriterKey, Secret: "writer-secret"}},
					Policies: []config.PolicyConfig{{Name: "a", Document: `{"Version":"2012-10-17","Statement":[
						{"Effect":"Allow","Action":["dynamodb:PutItem","dynamodb:GetItem"],"Resource":"arn:aws:dynamodb:us-east-1:111122223333:table/a"},
						{"Effect":"Allow","Action":"dynamodb:Query","Resource":"arn:aws:dynamodb:*:*:table/a/index/byOwner"}]}`}}},
				{Name: "txn", AccessKeys: []config.AccessKey{{ID: ddbTxnKey, Secret: "txn-secret"}},
					Policies: []config.PolicyConfig{{Name: "t", Document: `{"Version":"2012-10-17","Statement":[
						{"Effect":"Allow","Action":["dynamodb:PutItem","dynamodb:UpdateItem"],"Resource":"arn:aws:dynamodb:*:*:table/a"},
						{"Effect":"Allow","Action":"dynamodb:ConditionCheckItem","Resource":"arn:aws:dynamodb:*:*:table/b"}]}`}}},
			},
		}
	}
}

func ddbClientAs(s *servertest.Server, key, sec string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(key, sec, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       s.HTTPClient(),
	})
}

func TestDynamoDBAuthorization(t *testing.T) {
	t.Parallel()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	s := servertest.Start(t, ddbAuthConfig(auditPath))
	root := ddbClientAs(s, rootKey, "root-secret")
	writer := ddbClientAs(s, ddbWriterKey, "writer-secret")
	txn := ddbClientAs(s, ddbTxnKey, "txn-secret")
	ctx := t.Context()
	const (
		writerARN = "arn:aws:iam::111122223333:user/writer"
		tableA    = "arn:aws:dynamodb:us-east-1:111122223333:table/a"
		tableB    = "arn:aws:dynamodb:us-east-1:111122223333:table/b"
	)
	denied := func(err error, user, action, resource string) {
		t.Helper()
		wantCode(t, err, "AccessDeniedException")
		want := "User: arn:aws:iam::111122223333:user/" + user + " is not authorized to perform: " + action +
			" on resource: " + resource + " because no identity-based policy allows the " + action + " action"
		if _, msg := apiCode(t, err); msg != want {
			t.Errorf("message\n %q\nwant\n %q", msg, want)
		}
	}

	// The root creates both tables, a with a GSI byOwner.
	for _, name := range []string{"a", "b"} {
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(name),
			BillingMode: types.BillingModePayPerRequest,
			KeySchema:   []types.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeHash}},
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String("leaseOwner"), AttributeType: types.ScalarAttributeTypeS},
			},
		}
		if name == "a" {
			in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
				IndexName:  aws.String("byOwner"),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("leaseOwner"), KeyType: types.KeyTypeHash}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}}
		} else {
			in.AttributeDefinitions = in.AttributeDefinitions[:1]
		}
		if _, err := root.CreateTable(ctx, in); err != nil {
			t.Fatalf("root CreateTable %s: %v", name, err)
		}
	}
	item := map[string]types.AttributeValue{"leaseKey": sv("shard-0"), "leaseOwner": sv("w1")}
	key := map[string]types.AttributeValue{"leaseKey": sv("shard-0")}

	// writer: PutItem and GetItem on a; nothing on b; no DeleteItem.
	if _, err := writer.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("a"), Item: item}); err != nil {
		t.Fatalf("writer PutItem a: %v", err)
	}
	got, err := writer.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tableA), Key: key})
	if err != nil || got.Item["leaseOwner"].(*types.AttributeValueMemberS).Value != "w1" {
		t.Fatalf("writer GetItem a by ARN: %v %v", got, err)
	}
	_, err = writer.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("b"), Item: item})
	denied(err, "writer", "dynamodb:PutItem", tableB)
	_, err = writer.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("b"), Key: key})
	denied(err, "writer", "dynamodb:GetItem", tableB)
	_, err = writer.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("a"), Key: key})
	denied(err, "writer", "dynamodb:DeleteItem", tableA)
	// Authorization comes before the table lookup: a missing table the
	// caller may not use is denied, not reported missing.
	_, err = writer.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nope"), Key: key})
	denied(err, "writer", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:111122223333:table/nope")

	// Query on the index needs the index ARN; on the table, the table's.
	q, err := writer.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("a"), IndexName: aws.String("byOwner"),
		KeyConditionExpression: aws.String("leaseOwner = :o"), ExpressionAttributeValues: map[string]types.AttributeValue{":o": sv("w1")}})
	if err != nil || q.Count != 1 {
		t.Fatalf("writer Query byOwner: %v %v", q, err)
	}
	_, err = writer.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("a"),
		KeyConditionExpression: aws.String("leaseKey = :k"), ExpressionAttributeValues: map[string]types.AttributeValue{":k": sv("shard-0")}})
	denied(err, "writer", "dynamodb:Query", tableA)
	_, err = writer.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("a"), IndexName: aws.String("byOwner")})
	denied(err, "writer", "dynamodb:Scan", tableA+"/index/byOwner")

	// ListTables acts on "*": the writer may not, the root may.
	_, err = writer.ListTables(ctx, &dynamodb.ListTablesInput{})
	denied(err, "writer", "dynamodb:ListTables", "*")
	if lt, err := root.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil || len(lt.TableNames) != 2 {
		t.Fatalf("root ListTables: %v %v", lt, err)
	}
	_, err = writer.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("a")})
	denied(err, "writer", "dynamodb:DescribeTable", tableA)

	// TransactWriteItems: each item's action on its table. txn may
	// update a and condition-check b, but not delete from b.
	cond := &types.ConditionCheck{TableName: aws.String("b"), Key: key, ConditionExpression: aws.String("attribute_not_exists(leaseKey)")}
	upd := &types.Update{TableName: aws.String("a"), Key: key, UpdateExpression: aws.String("SET leaseCounter = :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": nv("1")}}
	if _, err := txn.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: upd}, {ConditionCheck: cond},
	}}); err != nil {
		t.Fatalf("txn TransactWriteItems over a and b: %v", err)
	}
	_, err = txn.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: upd}, {Delete: &types.Delete{TableName: aws.String("b"), Key: key}},
	}})
	denied(err, "txn", "dynamodb:DeleteItem", tableB)
	// The writer holds PutItem on a but nothing on b: the transaction is
	// refused whole, and a is untouched.
	_, err = writer.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("a"), Item: map[string]types.AttributeValue{"leaseKey": sv("shard-1")}}},
		{ConditionCheck: cond},
	}})
	denied(err, "writer", "dynamodb:ConditionCheckItem", tableB)
	if got, err := root.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("a"), Key: map[string]types.AttributeValue{"leaseKey": sv("shard-1")}}); err != nil || got.Item != nil {
		t.Fatalf("a refused transaction wrote: %v %v", got, err)
	}

	// The audit log names the caller, the action's table and the denials.
	s.Stop(t)
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		EventName, EventSource, ErrorCode, EventCategory string
		UserIdentity                                     struct{ ARN string }
		Resources                                        []struct{ ARN string }
	}
	var events []event
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	find := func(name, code, resource string) bool {
		for _, ev := range events {
			if ev.EventName == name && ev.ErrorCode == code && ev.UserIdentity.ARN == writerARN && ev.EventSource == "dynamodb.amazonaws.com" &&
				len(ev.Resources) > 0 && ev.Resources[len(ev.Resources)-1].ARN == resource {
				return true
			}
		}
		return false
	}
	// Item operations are data events, table operations management
	// events, as in CloudTrail.
	for _, ev := range events {
		want := "Management"
		switch ev.EventName {
		case "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "TransactWriteItems":
			want = "Data"
		}
		if ev.EventCategory != want {
			t.Errorf("audit: %s is a %q event, want %q", ev.EventName, ev.EventCategory, want)
		}
	}
	for _, c := range []struct{ name, code, resource string }{
		{"PutItem", "", tableA},
		{"PutItem", "AccessDeniedException", tableB},
		{"DeleteItem", "AccessDeniedException", tableA},
		{"Query", "", tableA + "/index/byOwner"},
	} {
		if !find(c.name, c.code, c.resource) {
			t.Errorf("audit: no %s by writer on %s with error %q", c.name, c.resource, c.code)
		}
	}
}

// In dev mode nothing is checked: any key reads and writes any table.
func TestDynamoDBDevModeUnchecked(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	c := ddbClientAs(s, "AKIAANYKEY0000000001", "any")
	createLeaseTable(t, c, "dev")
	if _, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("dev"), Item: map[string]types.AttributeValue{"leaseKey": sv("k")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String("dev"), Key: map[string]types.AttributeValue{"leaseKey": sv("k")}}); err != nil {
		t.Fatal(err)
	}
}

// CreateTable refuses a resource policy (tables carry none), in every
// mode, rather than dropping it.
func TestDynamoDBCreateTableResourcePolicy(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	_, err := ddbClient(s).CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String("withpolicy"),
		BillingMode:          types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		ResourcePolicy:       aws.String(`{"Version":"2012-10-17","Statement":[]}`),
	})
	wantAPIError(t, err, "ValidationException", "resource-based policies")
}

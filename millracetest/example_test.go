package millracetest_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/millracetest"
)

// publishOrder is the code under test: it writes an order to a Kinesis
// stream and remembers the sequence number in a DynamoDB table.
func publishOrder(ctx context.Context, streams *kinesis.Client, table *dynamodb.Client, orderID string, order []byte) error {
	out, err := streams.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName:   aws.String("orders"),
		PartitionKey: aws.String(orderID),
		Data:         order,
	})
	if err != nil {
		return err
	}
	_, err = table.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String("published"),
		Item: map[string]ddbtypes.AttributeValue{
			"orderId":  &ddbtypes.AttributeValueMemberS{Value: orderID},
			"sequence": &ddbtypes.AttributeValueMemberS{Value: aws.ToString(out.SequenceNumber)},
		},
	})
	return err
}

// testPublishOrder is a test of publishOrder. In a _test.go file of your
// own it is simply
//
//	func TestPublishOrder(t *testing.T) { ... }
//
// with this body.
func testPublishOrder(t *testing.T) {
	srv := millracetest.New(t) // stopped when the test ends
	ctx := t.Context()
	streams := kinesis.NewFromConfig(srv.AWSConfig())
	table := dynamodb.NewFromConfig(srv.AWSConfig())

	// The stream is ACTIVE as soon as CreateStream returns: there are no
	// state delays unless millracetest.WithStateDelay asks for them.
	if _, err := streams.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String("orders"), ShardCount: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := table.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("published"),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("orderId"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("orderId"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
	}); err != nil {
		t.Fatal(err)
	}

	if err := publishOrder(ctx, streams, table, "order-1", []byte(`{"total":42}`)); err != nil {
		t.Fatalf("publishOrder: %v", err)
	}

	// The record is in the stream...
	it, err := streams.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String("orders"),
		ShardId:           aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := streams.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 1 || string(got.Records[0].Data) != `{"total":42}` {
		t.Fatalf("the stream holds %d records, want the order", len(got.Records))
	}
	// ...and its sequence number is in the table.
	item, err := table.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String("published"),
		Key:       map[string]ddbtypes.AttributeValue{"orderId": &ddbtypes.AttributeValueMemberS{Value: "order-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := item.Item["sequence"].(*ddbtypes.AttributeValueMemberS)
	if seq == nil || seq.Value != aws.ToString(got.Records[0].SequenceNumber) {
		t.Fatalf("the table holds %v, want sequence number %s", item.Item, aws.ToString(got.Records[0].SequenceNumber))
	}
}

// Example is a complete test file: the code under test (publishOrder) and
// a test of it (testPublishOrder) that starts a server with
// millracetest.New and uses it through aws-sdk-go-v2 Kinesis and DynamoDB
// clients built from srv.AWSConfig(). An example function cannot take a
// *testing.T, so go test runs the test body from TestExampleFile in this
// package's tests instead.
func Example() {
	// In your own _test.go file:
	//
	//	func TestPublishOrder(t *testing.T) {
	//		srv := millracetest.New(t)
	//		streams := kinesis.NewFromConfig(srv.AWSConfig())
	//		...
	//	}
	_ = testPublishOrder
}

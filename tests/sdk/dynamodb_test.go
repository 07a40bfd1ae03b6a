package sdk_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
	"github.com/millrace/millrace/internal/server/servertest"
)

// ddbClient returns an aws-sdk-go-v2 DynamoDB client for the server, with
// the same credentials and region as servertest's Kinesis client and no
// retries. Connections are not kept alive, so a restarted server is
// reached afresh.
func ddbClient(s *servertest.Server) *dynamodb.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return dynamodb.New(dynamodb.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: servertest.BufferedBodies{Transport: tr}},
	})
}

func sv(s string) types.AttributeValue     { return &types.AttributeValueMemberS{Value: s} }
func nv(n string) types.AttributeValue     { return &types.AttributeValueMemberN{Value: n} }
func ssv(s ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: s} }

// apiCode returns the AWS error code of err, or fails the test.
func apiCode(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func wantAPIError(t *testing.T, err error, code, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	c, m := apiCode(t, err)
	if c != code || !strings.Contains(m, msgPart) {
		t.Fatalf("want %s containing %q, got %s: %s", code, msgPart, c, m)
	}
}

// createLeaseTable creates a table shaped like the KCL 3.x lease table.
func createLeaseTable(t *testing.T, c *dynamodb.Client, name string) {
	t.Helper()
	_, err := c.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	w := dynamodb.NewTableExistsWaiter(c)
	if err := w.Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 10*time.Second,
		func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 10 * time.Millisecond
			o.MaxDelay = 50 * time.Millisecond
		}); err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
}

func TestDynamoDBTableLifecycle(t *testing.T) {
	s := servertest.Start(t)
	c := ddbClient(s)
	ctx := t.Context()

	out, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("orders"),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("owner"), AttributeType: types.ScalarAttributeTypeS},
		},
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(7)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:             aws.String("byOwner"),
			KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("owner"), KeyType: types.KeyTypeHash}},
			Projection:            &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(1)},
		}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	d := out.TableDescription
	if d.TableStatus != types.TableStatusCreating || aws.ToString(d.TableArn) != "arn:aws:dynamodb:us-east-1:000000000000:table/orders" {
		t.Fatalf("CreateTable description: status %s arn %s", d.TableStatus, aws.ToString(d.TableArn))
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("orders"),
		BillingMode:          types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
	})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("second CreateTable: want ResourceInUseException, got %v", err)
	}

	desc, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	td := desc.Table
	if td.TableStatus != types.TableStatusActive || len(td.KeySchema) != 2 || len(td.AttributeDefinitions) != 3 ||
		aws.ToInt64(td.ItemCount) != 0 || td.BillingModeSummary == nil || td.BillingModeSummary.BillingMode != types.BillingModeProvisioned ||
		aws.ToInt64(td.ProvisionedThroughput.WriteCapacityUnits) != 7 {
		t.Fatalf("DescribeTable: %+v", td)
	}
	if len(td.GlobalSecondaryIndexes) != 1 || td.GlobalSecondaryIndexes[0].IndexStatus != types.IndexStatusActive {
		t.Fatalf("GSIs: %+v", td.GlobalSecondaryIndexes)
	}

	_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nope")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("DescribeTable(nope): want ResourceNotFoundException, got %v", err)
	}

	// UpdateTable adds a GSI, as KCL 3.x does for LeaseOwnerToLeaseKeyIndex.
	up, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName: aws.String("orders"),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("region"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
			IndexName: aws.String("byRegion"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("region"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
			},
			Projection:            &types.Projection{ProjectionType: types.ProjectionTypeAll},
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(1)},
		}}},
	})
	if err != nil {
		t.Fatalf("UpdateTable: %v", err)
	}
	if n := len(up.TableDescription.GlobalSecondaryIndexes); n != 2 {
		t.Fatalf("UpdateTable: %d GSIs", n)
	}

	// Point-in-time recovery settings are stored.
	cb, err := c.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
		TableName:                        aws.String("orders"),
		PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatalf("UpdateContinuousBackups: %v", err)
	}
	if cb.ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
		t.Fatalf("PITR: %+v", cb.ContinuousBackupsDescription.PointInTimeRecoveryDescription)
	}
	dcb, err := c.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String("orders")})
	if err != nil || dcb.ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
		t.Fatalf("DescribeContinuousBackups: %v %+v", err, dcb)
	}

	for _, n := range []string{"b-table", "a-table"} {
		createLeaseTable(t, c, n)
	}
	lt, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lt.TableNames, ",") != "a-table,b-table" || aws.ToString(lt.LastEvaluatedTableName) != "b-table" {
		t.Fatalf("ListTables page 1: %v %v", lt.TableNames, aws.ToString(lt.LastEvaluatedTableName))
	}
	lt, err = c.ListTables(ctx, &dynamodb.ListTablesInput{ExclusiveStartTableName: lt.LastEvaluatedTableName})
	if err != nil || strings.Join(lt.TableNames, ",") != "orders" || lt.LastEvaluatedTableName != nil {
		t.Fatalf("ListTables page 2: %v %v", err, lt.TableNames)
	}

	del, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("a-table")})
	if err != nil || del.TableDescription.TableStatus != types.TableStatusDeleting {
		t.Fatalf("DeleteTable: %v", err)
	}
	if err := dynamodb.NewTableNotExistsWaiter(c).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("a-table")}, 5*time.Second,
		func(o *dynamodb.TableNotExistsWaiterOptions) {
			o.MinDelay = 10 * time.Millisecond
			o.MaxDelay = 50 * time.Millisecond
		}); err != nil {
		t.Fatalf("table still there: %v", err)
	}
	_, err = c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("a-table")})
	if !errors.As(err, &notFound) {
		t.Fatalf("DeleteTable again: want ResourceNotFoundException, got %v", err)
	}
}

// TestDynamoDBKCLLeaseProtocol replays the KCL's lease-table access
// patterns (legacy Expected/AttributeUpdates, as the KCL sends them, and
// their expression forms), checking every conditional outcome.
func TestDynamoDBKCLLeaseProtocol(t *testing.T) {
	s := servertest.Start(t)
	c := ddbClient(s)
	ctx := t.Context()
	const table = "kcl-app"
	createLeaseTable(t, c, table)

	// KCL 3.x adds the owner index.
	_, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("leaseOwner"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS},
		},
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
			IndexName: aws.String("LeaseOwnerToLeaseKeyIndex"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("leaseOwner"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}}},
	})
	if err != nil {
		t.Fatalf("UpdateTable (GSI): %v", err)
	}

	// Create leases: PutItem if leaseKey does not exist.
	createLease := func(shard string) error {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table),
			Item: map[string]types.AttributeValue{
				"leaseKey":                     sv(shard),
				"leaseCounter":                 nv("0"),
				"checkpoint":                   sv("TRIM_HORIZON"),
				"checkpointSubSequenceNumber":  nv("0"),
				"ownerSwitchesSinceCheckpoint": nv("0"),
				"parentShardId":                ssv("shardId-000000000000"),
				"startingHashKey":              sv("0"),
				"endingHashKey":                sv("340282366920938463463374607431768211455"),
			},
			Expected: map[string]types.ExpectedAttributeValue{"leaseKey": {Exists: aws.Bool(false)}},
		})
		return err
	}
	for i := 1; i <= 4; i++ {
		if err := createLease("shardId-00000000000" + strconv.Itoa(i)); err != nil {
			t.Fatalf("create lease %d: %v", i, err)
		}
	}
	var ccf *types.ConditionalCheckFailedException
	if err := createLease("shardId-000000000001"); !errors.As(err, &ccf) {
		t.Fatalf("creating an existing lease: want ConditionalCheckFailedException, got %v", err)
	} else if ccf.ErrorMessage() != "The conditional request failed" {
		t.Fatalf("message %q", ccf.ErrorMessage())
	}
	// The expression form that newer KCL code paths use.
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(table),
		Item:                                map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000001")},
		ConditionExpression:                 aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames:            map[string]string{"#k": "leaseKey"},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if !errors.As(err, &ccf) {
		t.Fatalf("attribute_not_exists on an existing lease: want ConditionalCheckFailedException, got %v", err)
	}
	if k, ok := ccf.Item["leaseKey"].(*types.AttributeValueMemberS); !ok || k.Value != "shardId-000000000001" {
		t.Errorf("ReturnValuesOnConditionCheckFailure ALL_OLD: item %v", ccf.Item)
	}

	// Take: leaseCounter == seen; set owner, counter+1, ADD ownerSwitches, DELETE checkpointOwner.
	take := func(shard, owner string, seen int) error {
		_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table),
			Key:       map[string]types.AttributeValue{"leaseKey": sv(shard)},
			Expected:  map[string]types.ExpectedAttributeValue{"leaseCounter": {Value: nv(strconv.Itoa(seen)), ComparisonOperator: ""}},
			AttributeUpdates: map[string]types.AttributeValueUpdate{
				"leaseOwner":                   {Value: sv(owner), Action: types.AttributeActionPut},
				"leaseCounter":                 {Value: nv(strconv.Itoa(seen + 1)), Action: types.AttributeActionPut},
				"ownerSwitchesSinceCheckpoint": {Value: nv("1"), Action: types.AttributeActionAdd},
				"checkpointOwner":              {Action: types.AttributeActionDelete},
			},
		})
		return err
	}
	for i := 1; i <= 4; i++ {
		owner := "worker-a"
		if i%2 == 0 {
			owner = "worker-b"
		}
		if err := take("shardId-00000000000"+strconv.Itoa(i), owner, 0); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	// A second taker with the same stale counter loses.
	if err := take("shardId-000000000001", "worker-c", 0); !errors.As(err, &ccf) {
		t.Fatalf("stale take: want ConditionalCheckFailedException, got %v", err)
	}

	// Renew: counter == seen, and checkpointOwner must not exist.
	renew := func(shard string, seen int) error {
		_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table),
			Key:       map[string]types.AttributeValue{"leaseKey": sv(shard)},
			Expected: map[string]types.ExpectedAttributeValue{
				"leaseCounter":    {Value: nv(strconv.Itoa(seen))},
				"checkpointOwner": {Exists: aws.Bool(false)},
			},
			AttributeUpdates: map[string]types.AttributeValueUpdate{
				"leaseCounter":   {Value: nv(strconv.Itoa(seen + 1)), Action: types.AttributeActionPut},
				"throughputKBps": {Value: nv("12.5"), Action: types.AttributeActionPut},
			},
		})
		return err
	}
	if err := renew("shardId-000000000001", 1); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := renew("shardId-000000000001", 1); !errors.As(err, &ccf) {
		t.Fatalf("renew with a stale counter: want ConditionalCheckFailedException, got %v", err)
	}

	// Checkpoint (updateLease) in the expression form, with ReturnValues.
	upd, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000001")},
		ConditionExpression: aws.String("leaseCounter = :seen AND leaseOwner = :me"),
		UpdateExpression:    aws.String("SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero, leaseCounter = leaseCounter + :one REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":seen": nv("2"), ":me": sv("worker-a"), ":cp": sv("49590338271490256608559692538361571095921575989136588898"),
			":sub": nv("0"), ":zero": nv("0"), ":one": nv("1"),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if got := upd.Attributes["leaseCounter"].(*types.AttributeValueMemberN).Value; got != "3" {
		t.Fatalf("leaseCounter after checkpoint = %s, want 3", got)
	}
	if got := upd.Attributes["ownerSwitchesSinceCheckpoint"].(*types.AttributeValueMemberN).Value; got != "0" {
		t.Fatalf("ownerSwitchesSinceCheckpoint = %s", got)
	}

	// Evict: remove the owner, counter ADD 1, only if still owned by worker-b.
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000002")},
		Expected:  map[string]types.ExpectedAttributeValue{"leaseOwner": {Value: sv("worker-b")}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"leaseOwner":   {Action: types.AttributeActionDelete},
			"leaseCounter": {Value: nv("1"), Action: types.AttributeActionAdd},
		},
	})
	if err != nil {
		t.Fatalf("evict: %v", err)
	}

	// Whole-table Scan, sequential and as a parallel scan.
	all, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 4 || all.Count != 4 {
		t.Fatalf("scan: %d items", len(all.Items))
	}
	counters := map[string]string{}
	for _, it := range all.Items {
		counters[it["leaseKey"].(*types.AttributeValueMemberS).Value] = it["leaseCounter"].(*types.AttributeValueMemberN).Value
	}
	want := map[string]string{"shardId-000000000001": "3", "shardId-000000000002": "2", "shardId-000000000003": "1", "shardId-000000000004": "1"}
	for k, v := range want {
		if counters[k] != v {
			t.Errorf("lease %s counter %s, want %s", k, counters[k], v)
		}
	}
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for seg := int32(0); seg < 3; seg++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Segment: aws.Int32(seg), TotalSegments: aws.Int32(3)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, it := range out.Items {
				seen[it["leaseKey"].(*types.AttributeValueMemberS).Value]++
			}
		}()
	}
	wg.Wait()
	if len(seen) != 4 {
		t.Fatalf("parallel scan saw %v", seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("parallel scan returned %s %d times", k, n)
		}
	}

	// Lease discovery by owner through the GSI (KEYS_ONLY projection).
	q, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String("LeaseOwnerToLeaseKeyIndex"),
		KeyConditionExpression:    aws.String("#o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": "leaseOwner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": sv("worker-a")},
	})
	if err != nil {
		t.Fatalf("Query GSI: %v", err)
	}
	var keys []string
	for _, it := range q.Items {
		keys = append(keys, it["leaseKey"].(*types.AttributeValueMemberS).Value)
		if _, ok := it["checkpoint"]; ok {
			t.Errorf("KEYS_ONLY index returned checkpoint")
		}
	}
	if strings.Join(keys, ",") != "shardId-000000000001,shardId-000000000003" {
		t.Fatalf("worker-a leases: %v", keys)
	}
	_, err = c.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(table), IndexName: aws.String("LeaseOwnerToLeaseKeyIndex"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("leaseOwner = :o"), ExpressionAttributeValues: map[string]types.AttributeValue{":o": sv("x")},
	})
	wantAPIError(t, err, "ValidationException", "Consistent reads are not supported on global secondary indexes")

	// Lease cleanup: delete only if the lease is at SHARD_END.
	_, err = c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000003")},
		Expected:  map[string]types.ExpectedAttributeValue{"checkpoint": {Value: sv("SHARD_END")}},
	})
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional delete: want ConditionalCheckFailedException, got %v", err)
	}
	dOut, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    aws.String(table),
		Key:          map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000003")},
		Expected:     map[string]types.ExpectedAttributeValue{"checkpoint": {Value: sv("TRIM_HORIZON")}},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil || dOut.Attributes["leaseKey"] == nil {
		t.Fatalf("delete lease: %v %v", err, dOut)
	}
	g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000003")}, ConsistentRead: aws.Bool(true)})
	if err != nil || g.Item != nil {
		t.Fatalf("deleted lease still there: %v %v", err, g.Item)
	}

	// Concurrent takers of one lease: exactly one wins.
	var wins int
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := take("shardId-000000000004", "racer-"+strconv.Itoa(i), 1)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.As(err, new(*types.ConditionalCheckFailedException)) {
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent takers won, want 1", wins)
	}
}

func TestDynamoDBExpressions(t *testing.T) {
	s := servertest.Start(t)
	c := ddbClient(s)
	ctx := t.Context()
	createLeaseTable(t, c, "docs")
	key := map[string]types.AttributeValue{"leaseKey": sv("k")}
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("docs"), Item: map[string]types.AttributeValue{
		"leaseKey": sv("k"),
		"n":        nv("1.50"),
		"tags":     ssv("a", "b"),
		"doc": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"lst":  &types.AttributeValueMemberL{Value: []types.AttributeValue{nv("1"), sv("two"), &types.AttributeValueMemberBOOL{Value: true}}},
			"null": &types.AttributeValueMemberNULL{Value: true},
		}},
		"bin": &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"bs":  &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"ns":  &types.AttributeValueMemberNS{Value: []string{"1", "2.0"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("docs"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Item["n"].(*types.AttributeValueMemberN).Value; v != "1.5" {
		t.Errorf("number stored as %q, want 1.5", v)
	}
	if b := got.Item["bin"].(*types.AttributeValueMemberB).Value; string(b) != "\x00\x01\x02" {
		t.Errorf("binary %v", b)
	}

	update := func(expr string, values map[string]types.AttributeValue, names map[string]string, cond string) (*dynamodb.UpdateItemOutput, error) {
		in := &dynamodb.UpdateItemInput{TableName: aws.String("docs"), Key: key, UpdateExpression: aws.String(expr),
			ExpressionAttributeValues: values, ExpressionAttributeNames: names, ReturnValues: types.ReturnValueUpdatedNew}
		if cond != "" {
			in.ConditionExpression = aws.String(cond)
		}
		return c.UpdateItem(ctx, in)
	}
	out, err := update("SET n = n + :big, doc.lst[1] = :s, doc.#new = if_not_exists(doc.#new, :zero), doc.lst = list_append(doc.lst, :l) ADD tags :t DELETE ns :one REMOVE bin",
		map[string]types.AttributeValue{
			":big": nv("12345678901234567890123456789012345.5"), ":s": sv("deux"), ":zero": nv("0"),
			":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{sv("end")}}, ":t": ssv("c"), ":one": &types.AttributeValueMemberNS{Value: []string{"1"}},
		}, map[string]string{"#new": "added"}, "size(tags) = :two AND begins_with(leaseKey, :k) AND attribute_type(doc, :m) AND contains(tags, :a) AND n BETWEEN :lo AND :hi AND NOT attribute_exists(absent) AND leaseKey IN (:k, :x)")
	if err == nil {
		t.Fatal("update with paths overlapping (doc.lst[1] and doc.lst) succeeded")
	}
	wantAPIError(t, err, "ValidationException", "Two document paths overlap with each other")

	out, err = update("SET n = n + :big, doc.lst[1] = :s, doc.#new = if_not_exists(doc.#new, :zero) ADD tags :t DELETE ns :one REMOVE bin",
		map[string]types.AttributeValue{
			":big": nv("12345678901234567890123456789012345.5"), ":s": sv("deux"), ":zero": nv("0"),
			":t": ssv("c"), ":one": &types.AttributeValueMemberNS{Value: []string{"1"}},
			":two": nv("2"), ":k": sv("k"), ":m": sv("M"), ":a": sv("a"), ":lo": nv("1"), ":hi": nv("2"), ":x": sv("x"),
		}, map[string]string{"#new": "added"}, "size(tags) = :two AND begins_with(leaseKey, :k) AND attribute_type(doc, :m) AND contains(tags, :a) AND n BETWEEN :lo AND :hi AND NOT attribute_exists(absent) AND leaseKey IN (:k, :x)")
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if v := out.Attributes["n"].(*types.AttributeValueMemberN).Value; v != "12345678901234567890123456789012347" {
		t.Errorf("n = %s", v)
	}
	if _, ok := out.Attributes["bin"]; ok {
		t.Errorf("UPDATED_NEW includes removed bin")
	}
	tags := out.Attributes["tags"].(*types.AttributeValueMemberSS).Value
	sort.Strings(tags)
	if strings.Join(tags, ",") != "a,b,c" {
		t.Errorf("tags %v", tags)
	}
	doc := out.Attributes["doc"].(*types.AttributeValueMemberM).Value
	if doc["added"].(*types.AttributeValueMemberN).Value != "0" {
		t.Errorf("doc.added %v", doc["added"])
	}
	got, _ = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("docs"), Key: key, ProjectionExpression: aws.String("doc.lst[1], ns")})
	if l := got.Item["doc"].(*types.AttributeValueMemberM).Value["lst"].(*types.AttributeValueMemberL).Value; len(l) != 1 || l[0].(*types.AttributeValueMemberS).Value != "deux" {
		t.Errorf("projected doc.lst[1] = %v", l)
	}
	if ns := got.Item["ns"].(*types.AttributeValueMemberNS).Value; len(ns) != 1 || ns[0] != "2" {
		t.Errorf("ns %v", ns)
	}

	// A failing condition changes nothing.
	_, err = update("SET n = :zero", map[string]types.AttributeValue{":zero": nv("0"), ":v": nv("7")}, nil, "n = :v")
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("want ConditionalCheckFailedException, got %v", err)
	}

	// Errors, worded as DynamoDB words them.
	cases := []struct {
		expr, cond string
		values     map[string]types.AttributeValue
		names      map[string]string
		msg        string
	}{
		{"SET a = :v", "", map[string]types.AttributeValue{":v": nv("1"), ":u": nv("2")}, nil, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:u}"},
		{"SET a = :v", "", nil, nil, "An expression attribute value used in expression is not defined; attribute value: :v"},
		{"SET #a = :v", "", map[string]types.AttributeValue{":v": nv("1")}, nil, "An expression attribute name used in the document path is not defined; attribute name: #a"},
		{"SET a = :v", "", map[string]types.AttributeValue{":v": nv("1")}, map[string]string{"#b": "b"}, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"},
		{"SET a :v", "", map[string]types.AttributeValue{":v": nv("1")}, nil, `Invalid UpdateExpression: Syntax error; token: ":v", near: "a :v"`},
		{"SET status = :v", "", map[string]types.AttributeValue{":v": nv("1")}, nil, "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"},
		{"SET leaseKey = :v", "", map[string]types.AttributeValue{":v": sv("1")}, nil, "Cannot update attribute leaseKey. This attribute is part of the key"},
		{"SET a = tags + :v", "", map[string]types.AttributeValue{":v": nv("1")}, nil, "An operand in the update expression has an incorrect data type"},
		{"SET a = nothing + :v", "", map[string]types.AttributeValue{":v": nv("1")}, nil, "The provided expression refers to an attribute that does not exist in the item"},
		{"ADD a :v", "", map[string]types.AttributeValue{":v": sv("x")}, nil, "Incorrect operand type for operator or function; operator: ADD, operand type: STRING"},
		{"SET a = :v", "n = ", map[string]types.AttributeValue{":v": nv("1")}, nil, `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "`},
		{"SET a = :v", "foo(n)", map[string]types.AttributeValue{":v": nv("1")}, nil, "Invalid ConditionExpression: Invalid function name; function: foo"},
		{"SET a = :v SET b = :v", "", map[string]types.AttributeValue{":v": nv("1")}, nil, `The "SET" section can only be used once in an update expression;`},
		{"SET a = :v", "", map[string]types.AttributeValue{":v": nv("1e126")}, nil, "Number overflow"},
		{"SET a = :v", "", map[string]types.AttributeValue{":v": nv("123456789012345678901234567890123456789")}, nil, "Attempting to store more than 38 significant digits in a Number"},
	}
	for _, tc := range cases {
		_, err := update(tc.expr, tc.values, tc.names, tc.cond)
		if err == nil {
			t.Errorf("%q / %q: want ValidationException %q, got success", tc.expr, tc.cond, tc.msg)
			continue
		}
		code, msg := apiCode(t, err)
		if code != "ValidationException" || !strings.Contains(msg, tc.msg) {
			t.Errorf("%q / %q: got %s: %s; want %q", tc.expr, tc.cond, code, msg, tc.msg)
		}
	}
	// Mixing legacy and expression parameters.
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("docs"), Key: key,
		UpdateExpression: aws.String("SET a = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": nv("1")},
		Expected: map[string]types.ExpectedAttributeValue{"a": {Exists: aws.Bool(false)}}})
	wantAPIError(t, err, "ValidationException", "Can not use both expression and non-expression parameters in the same request")
	// Wrong key shape.
	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("docs"), Key: map[string]types.AttributeValue{"leaseKey": nv("1")}})
	wantAPIError(t, err, "ValidationException", "The provided key element does not match the schema")
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("docs"), Item: map[string]types.AttributeValue{"other": sv("x")}})
	wantAPIError(t, err, "ValidationException", "Missing the key leaseKey in the item")
	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("missing"), Key: key})
	wantAPIError(t, err, "ResourceNotFoundException", "Requested resource not found")
}

func TestDynamoDBQueryOrderAndPaging(t *testing.T) {
	s := servertest.Start(t)
	c := ddbClient(s)
	ctx := t.Context()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String("series"),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("ts"), KeyType: types.KeyTypeRange},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("ts"), AttributeType: types.ScalarAttributeTypeN},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	nums := []string{"-10", "-2.5", "-2", "0", "0.001", "1", "1.5", "9", "10", "100", "1e20"}
	for i, j := range []int{5, 2, 9, 0, 7, 3, 10, 1, 8, 4, 6} {
		_ = i
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("series"),
			Item: map[string]types.AttributeValue{"id": sv("s"), "ts": nv(nums[j])}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("series"),
		Item: map[string]types.AttributeValue{"id": sv("other"), "ts": nv("3")}}); err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"-10", "-2.5", "-2", "0", "0.001", "1", "1.5", "9", "10", "100", "100000000000000000000"}
	// Page through with Limit 3 and ExclusiveStartKey.
	var got []string
	var start map[string]types.AttributeValue
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("too many pages")
		}
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("series"), KeyConditionExpression: aws.String("id = :s"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": sv("s")}, Limit: aws.Int32(3), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			got = append(got, it["ts"].(*types.AttributeValueMemberN).Value)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	if strings.Join(got, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("query order %v, want %v", got, wantOrder)
	}
	// Backwards, with a range condition.
	out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("series"),
		KeyConditionExpression:    aws.String("id = :s AND ts BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": sv("s"), ":lo": nv("-2.5"), ":hi": nv("1")},
		ScanIndexForward:          aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, it := range out.Items {
		got = append(got, it["ts"].(*types.AttributeValueMemberN).Value)
	}
	if strings.Join(got, " ") != "1 0.001 0 -2 -2.5" {
		t.Fatalf("backward BETWEEN: %v", got)
	}
	// Legacy KeyConditions.
	out, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("series"), KeyConditions: map[string]types.Condition{
		"id": {ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{sv("s")}},
		"ts": {ComparisonOperator: types.ComparisonOperatorGt, AttributeValueList: []types.AttributeValue{nv("9")}},
	}, Select: types.SelectCount})
	if err != nil || out.Count != 3 || out.Items != nil {
		t.Fatalf("KeyConditions count: %v %v", err, out)
	}
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("series"), KeyConditionExpression: aws.String("ts = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": nv("1")}})
	wantAPIError(t, err, "ValidationException", "Query condition missed key schema element: id")

	// Scan with a filter: ScannedCount counts before the filter.
	sc, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("series"), FilterExpression: aws.String("ts > :z"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":z": nv("0")}})
	if err != nil || sc.ScannedCount != 12 || sc.Count != 8 {
		t.Fatalf("filtered scan: %v count %d scanned %d", err, sc.Count, sc.ScannedCount)
	}
}

func TestDynamoDBTransactWriteItems(t *testing.T) {
	s := servertest.Start(t)
	c := ddbClient(s)
	ctx := t.Context()
	createLeaseTable(t, c, "coord")
	createLeaseTable(t, c, "leases")
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("coord"), Item: map[string]types.AttributeValue{"leaseKey": sv("lock"), "owner": sv("a")}}); err != nil {
		t.Fatal(err)
	}
	txn := func(owner string) error {
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String("coord"), Key: map[string]types.AttributeValue{"leaseKey": sv("lock")},
				ConditionExpression: aws.String("#o = :o"), ExpressionAttributeNames: map[string]string{"#o": "owner"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":o": sv(owner)}}},
			{Put: &types.Put{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"leaseKey": sv("l1"), "leaseOwner": sv(owner)},
				ConditionExpression: aws.String("attribute_not_exists(leaseKey)")}},
			{Update: &types.Update{TableName: aws.String("coord"), Key: map[string]types.AttributeValue{"leaseKey": sv("counter")},
				UpdateExpression: aws.String("ADD n :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": nv("1")}}},
		}})
		return err
	}
	err := txn("b")
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || !strings.Contains(tce.ErrorMessage(), "[ConditionalCheckFailed, None, None]") {
		t.Fatalf("want TransactionCanceledException [ConditionalCheckFailed, None, None], got %v", err)
	}
	var codes []string
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	if strings.Join(codes, ",") != "ConditionalCheckFailed,None,None" {
		t.Errorf("CancellationReasons codes = %v", codes)
	}
	for _, k := range []struct{ table, key string }{{"leases", "l1"}, {"coord", "counter"}} {
		g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(k.table), Key: map[string]types.AttributeValue{"leaseKey": sv(k.key)}})
		if err != nil || g.Item != nil {
			t.Fatalf("cancelled transaction wrote %s/%s: %v %v", k.table, k.key, err, g.Item)
		}
	}
	if err := txn("a"); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("coord"), Key: map[string]types.AttributeValue{"leaseKey": sv("counter")}})
	if err != nil || g.Item["n"].(*types.AttributeValueMemberN).Value != "1" {
		t.Fatalf("counter after transaction: %v %v", err, g.Item)
	}
	err = txn("a") // the Put's condition now fails
	if !errors.As(err, &tce) || !strings.Contains(tce.ErrorMessage(), "[None, ConditionalCheckFailed, None]") {
		t.Fatalf("second transaction: %v", err)
	}
	_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: aws.String("leases"), Key: map[string]types.AttributeValue{"leaseKey": sv("l1")}}},
		{Delete: &types.Delete{TableName: aws.String("leases"), Key: map[string]types.AttributeValue{"leaseKey": sv("l1")}}},
	}})
	wantAPIError(t, err, "ValidationException", "Transaction request cannot include multiple operations on one item")
}

func TestDynamoDBDurableAcrossRestart(t *testing.T) {
	s := servertest.Start(t)
	c := ddbClient(s)
	ctx := t.Context()
	createLeaseTable(t, c, "durable")
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("durable"), Item: map[string]types.AttributeValue{
		"leaseKey": sv("shardId-000000000000"), "leaseCounter": nv("41"), "pendingCheckpointState": &types.AttributeValueMemberB{Value: []byte("state")}}}); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	c = ddbClient(s)
	out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("durable"),
		Key:              map[string]types.AttributeValue{"leaseKey": sv("shardId-000000000000")},
		Expected:         map[string]types.ExpectedAttributeValue{"leaseCounter": {Value: nv("41")}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{"leaseCounter": {Value: nv("1"), Action: types.AttributeActionAdd}},
		ReturnValues:     types.ReturnValueAllNew})
	if err != nil {
		t.Fatalf("update after restart: %v", err)
	}
	if out.Attributes["leaseCounter"].(*types.AttributeValueMemberN).Value != "42" ||
		string(out.Attributes["pendingCheckpointState"].(*types.AttributeValueMemberB).Value) != "state" {
		t.Fatalf("item after restart: %v", out.Attributes)
	}
}

// TestDynamoDBCoverageDocument checks the DynamoDB rows of
// docs/api-coverage.md ("| DynamoDB | Operation | state | notes |")
// against the server: every operation of the model is listed, and each
// answers as its listed state says.
func TestDynamoDBCoverageDocument(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "api-coverage.md"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.TrimSpace(cells[1]) != "DynamoDB" {
			continue
		}
		states[strings.TrimSpace(cells[2])] = strings.TrimSpace(cells[3])
	}
	s := servertest.Start(t)
	client := &http.Client{}
	var ops []string
	for _, op := range dynamodbapi.Operations {
		ops = append(ops, op.Name)
	}
	if len(ops) < 50 {
		t.Fatalf("only %d DynamoDB operations known", len(ops))
	}
	for _, op := range ops {
		state, ok := states[op]
		if !ok {
			t.Errorf("docs/api-coverage.md does not list DynamoDB %s", op)
			continue
		}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "+
			"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case state == "implemented" && (resp.StatusCode == http.StatusNotImplemented || resp.StatusCode == http.StatusNotFound):
			t.Errorf("%s is listed as implemented but answers %d", op, resp.StatusCode)
		case state == "not yet" && resp.StatusCode != http.StatusNotImplemented:
			t.Errorf("%s is listed as not yet implemented but answers %d", op, resp.StatusCode)
		case state != "implemented" && state != "not yet":
			t.Errorf("%s: unknown state %q", op, state)
		}
	}
}

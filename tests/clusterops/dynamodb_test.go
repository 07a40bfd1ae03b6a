package clusterops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

// TestTransactionsThroughEveryNode issues TransactWriteItems through the
// three nodes at once on overlapping items. Transfers between five
// balances conserve their total and never take a balance below zero,
// however the transactions interleave or fail; of the claims of one item
// made at once through three nodes (a conditional Put and a counter's
// increment in one transaction) exactly one succeeds, and the counter
// equals the claims that did.
func TestTransactionsThroughEveryNode(t *testing.T) {
	nodes := startNodes(t)
	ctx := context.Background()
	clients := []*dynamodb.Client{ddbClient(nodes[0]), ddbClient(nodes[1]), ddbClient(nodes[2])}
	table := aws.String("ledger")
	if _, err := clients[0].CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            table,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	const accounts, start = 5, 100
	for i := range accounts {
		if _, err := clients[i%3].PutItem(ctx, &dynamodb.PutItemInput{TableName: table,
			Item: map[string]types.AttributeValue{"id": s(fmt.Sprintf("acct-%d", i)), "balance": n(start)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clients[0].PutItem(ctx, &dynamodb.PutItemInput{TableName: table,
		Item: map[string]types.AttributeValue{"id": s("claims"), "count": n(0)}}); err != nil {
		t.Fatal(err)
	}

	// Transfers: six writers, two through each node.
	var mu sync.Mutex
	committed, refused := 0, 0
	var wg sync.WaitGroup
	for w := range 6 {
		c := clients[w%3]
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				from, to := rng.IntN(accounts), rng.IntN(accounts-1)
				if to >= from {
					to++
				}
				amount := 1 + rng.IntN(60)
				_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Update: &types.Update{TableName: table, Key: map[string]types.AttributeValue{"id": s(fmt.Sprintf("acct-%d", from))},
						UpdateExpression:          aws.String("SET balance = balance - :a"),
						ConditionExpression:       aws.String("balance >= :a"),
						ExpressionAttributeValues: map[string]types.AttributeValue{":a": n(amount)}}},
					{Update: &types.Update{TableName: table, Key: map[string]types.AttributeValue{"id": s(fmt.Sprintf("acct-%d", to))},
						UpdateExpression:          aws.String("SET balance = balance + :a"),
						ExpressionAttributeValues: map[string]types.AttributeValue{":a": n(amount)}}},
				}})
				mu.Lock()
				if err == nil {
					committed++
				} else {
					refused++
					var ae smithy.APIError
					if !errors.As(err, &ae) || (ae.ErrorCode() != "TransactionCanceledException" && ae.ErrorCode() != "TransactionConflictException") {
						t.Errorf("transfer %d -> %d: %v", from, to, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("transfers: %d committed, %d refused", committed, refused)
	if committed == 0 {
		t.Fatal("no transfer committed")
	}
	for i, c := range clients {
		total := 0
		for a := range accounts {
			out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"id": s(fmt.Sprintf("acct-%d", a))}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := strconv.Atoi(out.Item["balance"].(*types.AttributeValueMemberN).Value)
			if b < 0 {
				t.Errorf("through node%d: acct-%d has %d", i+1, a, b)
			}
			total += b
		}
		if total != accounts*start {
			t.Fatalf("through node%d: the balances add up to %d, want %d", i+1, total, accounts*start)
		}
	}

	// Claims: for each item, one claim through each node at once.
	const items = 8
	wins := make([][]int, items)
	for k := range items {
		var cw sync.WaitGroup
		for i, c := range clients {
			cw.Add(1)
			go func() {
				defer cw.Done()
				_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Put: &types.Put{TableName: table, ConditionExpression: aws.String("attribute_not_exists(id)"),
						Item: map[string]types.AttributeValue{"id": s(fmt.Sprintf("claim-%d", k)), "owner": n(i)}}},
					{Update: &types.Update{TableName: table, Key: map[string]types.AttributeValue{"id": s("claims")},
						UpdateExpression:          aws.String("SET #c = #c + :one"),
						ExpressionAttributeNames:  map[string]string{"#c": "count"},
						ExpressionAttributeValues: map[string]types.AttributeValue{":one": n(1)}}},
				}})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins[k] = append(wins[k], i)
					return
				}
				var ae smithy.APIError
				if !errors.As(err, &ae) || (ae.ErrorCode() != "TransactionCanceledException" && ae.ErrorCode() != "TransactionConflictException") {
					t.Errorf("claim %d through node%d: %v", k, i+1, err)
				}
			}()
		}
		cw.Wait()
	}
	won := 0
	for k, w := range wins {
		out, err := clients[k%3].GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"id": s(fmt.Sprintf("claim-%d", k))}})
		if err != nil {
			t.Fatal(err)
		}
		if len(w) > 1 {
			t.Errorf("claim-%d: %d claims succeeded (nodes %v)", k, len(w), w)
		}
		if len(w) == 1 {
			won++
			if got := out.Item["owner"].(*types.AttributeValueMemberN).Value; got != strconv.Itoa(w[0]) {
				t.Errorf("claim-%d: owner %s, but node%d's claim succeeded", k, got, w[0]+1)
			}
		} else if out.Item != nil && len(w) == 0 {
			t.Errorf("claim-%d: stored, but no claim succeeded", k)
		}
	}
	out, err := clients[1].GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": s("claims")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Item["count"].(*types.AttributeValueMemberN).Value; got != strconv.Itoa(won) {
		t.Fatalf("claims counter %s, but %d claims succeeded", got, won)
	}
	if won == 0 {
		t.Fatal("no claim succeeded")
	}
}

package dynamodb

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

// TestEveryOperationIsAuthorized lists, for every operation the service
// serves, the action and resources it is authorized on. An operation
// served without an entry here fails the test.
func TestEveryOperationIsAuthorized(t *testing.T) {
	const tbl = "arn:aws:dynamodb:eu-west-1:111122223333:table/"
	p := awsproto.Ptr[string]
	cases := map[string]struct {
		in   any
		want []string // action resource
	}{
		"CreateTable":               {&dynamodbapi.CreateTableInput{TableName: p("leases")}, []string{"dynamodb:CreateTable " + tbl + "leases"}},
		"DescribeTable":             {&dynamodbapi.DescribeTableInput{TableName: p("leases")}, []string{"dynamodb:DescribeTable " + tbl + "leases"}},
		"DeleteTable":               {&dynamodbapi.DeleteTableInput{TableName: p(tbl + "leases")}, []string{"dynamodb:DeleteTable " + tbl + "leases"}},
		"ListTables":                {&dynamodbapi.ListTablesInput{}, []string{"dynamodb:ListTables *"}},
		"UpdateTable":               {&dynamodbapi.UpdateTableInput{TableName: p("leases")}, []string{"dynamodb:UpdateTable " + tbl + "leases"}},
		"UpdateContinuousBackups":   {&dynamodbapi.UpdateContinuousBackupsInput{TableName: p("leases")}, []string{"dynamodb:UpdateContinuousBackups " + tbl + "leases"}},
		"DescribeContinuousBackups": {&dynamodbapi.DescribeContinuousBackupsInput{TableName: p("leases")}, []string{"dynamodb:DescribeContinuousBackups " + tbl + "leases"}},
		"GetItem":                   {&dynamodbapi.GetItemInput{TableName: p("leases")}, []string{"dynamodb:GetItem " + tbl + "leases"}},
		"PutItem":                   {&dynamodbapi.PutItemInput{TableName: p("leases")}, []string{"dynamodb:PutItem " + tbl + "leases"}},
		"UpdateItem":                {&dynamodbapi.UpdateItemInput{TableName: p("leases")}, []string{"dynamodb:UpdateItem " + tbl + "leases"}},
		"DeleteItem":                {&dynamodbapi.DeleteItemInput{TableName: p("leases")}, []string{"dynamodb:DeleteItem " + tbl + "leases"}},
		"Scan":                      {&dynamodbapi.ScanInput{TableName: p("leases")}, []string{"dynamodb:Scan " + tbl + "leases"}},
		"Query":                     {&dynamodbapi.QueryInput{TableName: p("leases"), IndexName: p("byOwner")}, []string{"dynamodb:Query " + tbl + "leases/index/byOwner"}},
		"TransactWriteItems": {&dynamodbapi.TransactWriteItemsInput{TransactItems: []dynamodbapi.TransactWriteItem{
			{Put: &dynamodbapi.Put{TableName: p("a")}},
			{ConditionCheck: &dynamodbapi.ConditionCheck{TableName: p("b")}},
			{Update: &dynamodbapi.Update{TableName: p("a")}},
			{Put: &dynamodbapi.Put{TableName: p(tbl + "a")}},
			{Delete: &dynamodbapi.Delete{TableName: p("b")}},
		}}, []string{"dynamodb:PutItem " + tbl + "a", "dynamodb:ConditionCheckItem " + tbl + "b", "dynamodb:UpdateItem " + tbl + "a", "dynamodb:DeleteItem " + tbl + "b"}},
		"DescribeEndpoints": {&dynamodbapi.DescribeEndpointsRequest{}, []string{"dynamodb:DescribeEndpoints *"}},
	}

	// The served operations are those that decode their body: an empty
	// one is a SerializationException, where the others answer
	// NotImplemented without reading it.
	var served []string
	for name, h := range (&Service{}).handlers() {
		_, err := h(context.Background(), nil)
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: %v", name, err)
		}
		if ae.Code != "NotImplemented" {
			served = append(served, name)
		}
	}
	sort.Strings(served)
	if len(served) != len(cases) {
		t.Errorf("served operations %v; the test knows %d", served, len(cases))
	}
	for _, op := range served {
		c, ok := cases[op]
		if !ok {
			t.Errorf("%s is served but has no authorization case", op)
			continue
		}
		ctx := awsproto.WithInfo(context.Background(), &awsproto.RequestInfo{Operation: op, AccountID: "111122223333", Region: "eu-west-1"})
		var got []string
		for _, ch := range authzChecks(ctx, c.in) {
			got = append(got, ch.action+" "+ch.resource)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s authorizes %q, want %q", op, got, c.want)
		}
		// authorize records the first action and the resources for the
		// audit log (no Authorizer: dev mode).
		info := awsproto.Info(ctx)
		if err := authorize(ctx, c.in); err != nil {
			t.Fatalf("%s in dev mode: %v", op, err)
		}
		if wantAction, _, _ := strings.Cut(c.want[0], " "); info.Action != wantAction {
			t.Errorf("%s recorded action %q, want %q", op, info.Action, wantAction)
		}
	}
}

func TestCreateTableTagsAreRequestTags(t *testing.T) {
	ctx := awsproto.WithInfo(context.Background(), &awsproto.RequestInfo{AccountID: "111122223333", Region: "us-east-1"})
	cs := authzChecks(ctx, &dynamodbapi.CreateTableInput{TableName: awsproto.Ptr("t"), Tags: []dynamodbapi.Tag{{Key: awsproto.Ptr("team"), Value: awsproto.Ptr("data")}}})
	if len(cs) != 1 || !reflect.DeepEqual(cs[0].requestTags, map[string]string{"team": "data"}) {
		t.Fatalf("checks %+v", cs)
	}
}

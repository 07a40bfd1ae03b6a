package dynamodb

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

// Authorization, as DynamoDB does it: every operation is the IAM action
// dynamodb:<Operation> on the table it names,
// arn:aws:dynamodb:<region>:<account>:table/<name>, in the caller's
// account and region (a table ARN given as TableName names the table the
// request acts on). Query and Scan with IndexName are authorized on the
// index, .../table/<name>/index/<index>. ListTables and DescribeEndpoints
// act on no table ("*"). TransactWriteItems has no action of its own:
// each of its items is the action it performs (dynamodb:ConditionCheckItem,
// PutItem, UpdateItem or DeleteItem) on its table, and every one must be
// allowed. CreateTable's Tags are aws:RequestTag/<key> and aws:TagKeys.
// Tables carry no resource policy.

// authzCheck is one action on one resource a request needs.
type authzCheck struct {
	action, resource string
	requestTags      map[string]string
}

// authzChecks lists what a decoded request needs, in the order AWS
// reports a denial (a transaction's items in order).
func authzChecks(ctx context.Context, in any) []authzCheck {
	account, region := caller(ctx)
	table := func(name *string) string {
		return tableARN(region, account, tableName(awsproto.Value(name)))
	}
	index := func(name, index *string) string {
		arn := table(name)
		if i := awsproto.Value(index); i != "" {
			arn += "/index/" + i
		}
		return arn
	}
	one := func(action, resource string) []authzCheck {
		return []authzCheck{{action: "dynamodb:" + action, resource: resource}}
	}
	switch in := in.(type) {
	case *dynamodbapi.ListTablesInput:
		return one("ListTables", "*")
	case *dynamodbapi.DescribeEndpointsRequest:
		return one("DescribeEndpoints", "*")
	case *dynamodbapi.CreateTableInput:
		c := one("CreateTable", table(in.TableName))
		if len(in.Tags) > 0 {
			c[0].requestTags = map[string]string{}
			for _, t := range in.Tags {
				c[0].requestTags[awsproto.Value(t.Key)] = awsproto.Value(t.Value)
			}
		}
		return c
	case *dynamodbapi.DescribeTableInput:
		return one("DescribeTable", table(in.TableName))
	case *dynamodbapi.DeleteTableInput:
		return one("DeleteTable", table(in.TableName))
	case *dynamodbapi.UpdateTableInput:
		return one("UpdateTable", table(in.TableName))
	case *dynamodbapi.UpdateContinuousBackupsInput:
		return one("UpdateContinuousBackups", table(in.TableName))
	case *dynamodbapi.DescribeContinuousBackupsInput:
		return one("DescribeContinuousBackups", table(in.TableName))
	case *dynamodbapi.GetItemInput:
		return one("GetItem", table(in.TableName))
	case *dynamodbapi.PutItemInput:
		return one("PutItem", table(in.TableName))
	case *dynamodbapi.UpdateItemInput:
		return one("UpdateItem", table(in.TableName))
	case *dynamodbapi.DeleteItemInput:
		return one("DeleteItem", table(in.TableName))
	case *dynamodbapi.QueryInput:
		return one("Query", index(in.TableName, in.IndexName))
	case *dynamodbapi.ScanInput:
		return one("Scan", index(in.TableName, in.IndexName))
	case *dynamodbapi.TransactWriteItemsInput:
		var cs []authzCheck
		seen := map[[2]string]bool{}
		add := func(action string, name *string) {
			c := authzCheck{action: "dynamodb:" + action, resource: table(name)}
			if k := [2]string{c.action, c.resource}; !seen[k] {
				seen[k] = true
				cs = append(cs, c)
			}
		}
		for _, ti := range in.TransactItems {
			if ti.ConditionCheck != nil {
				add("ConditionCheckItem", ti.ConditionCheck.TableName)
			}
			if ti.Put != nil {
				add("PutItem", ti.Put.TableName)
			}
			if ti.Update != nil {
				add("UpdateItem", ti.Update.TableName)
			}
			if ti.Delete != nil {
				add("DeleteItem", ti.Delete.TableName)
			}
		}
		return cs
	}
	// TestEveryOperationIsAuthorized keeps the cases above complete; an
	// operation missing from them is authorized on "*", so that only a
	// policy allowing it on every resource lets it through.
	return []authzCheck{{action: "dynamodb:" + awsproto.Info(ctx).Operation, resource: "*"}}
}

// authorize has every check of a decoded request authorized (in dev mode
// they are only recorded for the audit log); the first denial is the
// answer.
func authorize(ctx context.Context, in any) error {
	for _, c := range authzChecks(ctx, in) {
		if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: c.action, Resource: c.resource, RequestTags: c.requestTags}); err != nil {
			return err
		}
	}
	return nil
}

func tableARN(region, account, name string) string {
	return "arn:aws:dynamodb:" + region + ":" + account + ":table/" + name
}

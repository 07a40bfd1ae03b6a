package lambda_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// The EventInvokeConfig operations: put replaces, update merges, get,
// list and delete, with Lambda's errors; the config goes with its
// function.
func TestEventInvokeConfigOperations(t *testing.T) {
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	fn := createFunction(t, c, "cfg")
	wantCode := func(what string, err error, code, msgPart string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error, want %s", what, code)
		}
		got, msg := apiError(t, err)
		if got != code || !strings.Contains(msg, msgPart) {
			t.Fatalf("%s: %s %q, want %s containing %q", what, got, msg, code, msgPart)
		}
	}

	_, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")})
	wantCode("Get before Put", err, "ResourceNotFoundException",
		"The function "+aws.ToString(fn.FunctionArn)+":$LATEST doesn't have an EventInvokeConfig")
	_, err = c.UpdateFunctionEventInvokeConfig(ctx, &lambda.UpdateFunctionEventInvokeConfigInput{
		FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(1)})
	wantCode("Update before Put", err, "ResourceNotFoundException", "doesn't have an EventInvokeConfig")
	_, err = c.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")})
	wantCode("Delete before Put", err, "ResourceNotFoundException", "doesn't have an EventInvokeConfig")
	list, err := c.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("cfg")})
	if err != nil || len(list.FunctionEventInvokeConfigs) != 0 {
		t.Fatalf("List before Put: %v, %+v", err, list)
	}

	for _, tc := range []struct {
		name string
		in   lambda.PutFunctionEventInvokeConfigInput
		code string
		msg  string
	}{
		{"missing function", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("nope"), MaximumRetryAttempts: aws.Int32(1)},
			"ResourceNotFoundException", "Function not found"},
		{"retries above 2", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(3)},
			"ValidationException", "maximumRetryAttempts"},
		{"age below 60", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"), MaximumEventAgeInSeconds: aws.Int32(59)},
			"ValidationException", "maximumEventAgeInSeconds"},
		{"age above 21600", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"), MaximumEventAgeInSeconds: aws.Int32(21601)},
			"ValidationException", "maximumEventAgeInSeconds"},
		{"a published version", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"), Qualifier: aws.String("1"), MaximumRetryAttempts: aws.Int32(1)},
			"ResourceNotFoundException", "Function not found"},
		{"an on-failure destination", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"),
			DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: fn.FunctionArn}}},
			"InvalidParameterValueException", "does not support destinations"},
		{"an on-success destination", lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg"),
			DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: fn.FunctionArn}}},
			"InvalidParameterValueException", "does not support destinations"},
	} {
		_, err := c.PutFunctionEventInvokeConfig(ctx, &tc.in)
		wantCode("Put with "+tc.name, err, tc.code, tc.msg)
	}

	put, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(1), MaximumEventAgeInSeconds: aws.Int32(600)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.FunctionArn) != aws.ToString(fn.FunctionArn)+":$LATEST" || aws.ToInt32(put.MaximumRetryAttempts) != 1 ||
		aws.ToInt32(put.MaximumEventAgeInSeconds) != 600 || put.LastModified == nil ||
		put.DestinationConfig == nil || put.DestinationConfig.OnFailure == nil || put.DestinationConfig.OnFailure.Destination != nil {
		t.Fatalf("Put: %+v", put)
	}
	// Update changes only the members it names.
	up, err := c.UpdateFunctionEventInvokeConfig(ctx, &lambda.UpdateFunctionEventInvokeConfigInput{
		FunctionName: fn.FunctionArn, MaximumRetryAttempts: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(up.MaximumRetryAttempts) != 0 || up.MaximumRetryAttempts == nil || aws.ToInt32(up.MaximumEventAgeInSeconds) != 600 {
		t.Fatalf("Update: %+v", up)
	}
	got, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")})
	if err != nil {
		t.Fatal(err)
	}
	if got.MaximumRetryAttempts == nil || *got.MaximumRetryAttempts != 0 || aws.ToInt32(got.MaximumEventAgeInSeconds) != 600 {
		t.Fatalf("Get: %+v", got)
	}
	// Put replaces the whole config: the age it leaves out is unset.
	if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	list, err = c.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("cfg")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.FunctionEventInvokeConfigs) != 1 || aws.ToInt32(list.FunctionEventInvokeConfigs[0].MaximumRetryAttempts) != 2 ||
		list.FunctionEventInvokeConfigs[0].MaximumEventAgeInSeconds != nil {
		t.Fatalf("List: %+v", list.FunctionEventInvokeConfigs)
	}
	_, err = c.ListFunctionEventInvokeConfigs(ctx, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("nope")})
	wantCode("List of a missing function", err, "ResourceNotFoundException", "Function not found")

	// The config survives a restart, and an update of the function.
	s.Restart(t)
	c = client(s)
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("cfg"), Description: aws.String("changed")}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")}); err != nil ||
		aws.ToInt32(got.MaximumRetryAttempts) != 2 {
		t.Fatalf("Get after a restart: %v, %+v", err, got)
	}

	if _, err := c.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")})
	wantCode("Get after Delete", err, "ResourceNotFoundException", "doesn't have an EventInvokeConfig")

	// Deleting the function deletes its config: a new function of the
	// same name has none.
	if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("cfg"), MaximumRetryAttempts: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("cfg")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")})
	wantCode("Get of a deleted function", err, "ResourceNotFoundException", "Function not found")
	createFunction(t, c, "cfg")
	_, err = c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("cfg")})
	wantCode("Get of a new function of the name", err, "ResourceNotFoundException", "doesn't have an EventInvokeConfig")
}

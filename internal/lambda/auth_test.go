package lambda_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestAuthAndPolicies: with authentication on, Lambda requests are
// verified under the signing name lambda, authorized by IAM policies on
// function ARNs, and audited.
func TestAuthAndPolicies(t *testing.T) {
	noLeaks(t)
	const account = "111122223333"
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	s := servertest.Start(t, func(c *config.Config) {
		c.Auth = config.AuthOn
		c.AccountID = account
		c.AuditLog = audit
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: "AKIAROOTEXAMPLE00001", Secret: "root-secret"}}}},
			Users: []config.User{{Name: "invoker", AccessKeys: []config.AccessKey{{ID: "AKIAINVOKEREXAMPLE01", Secret: "invoker-secret"}},
				Policies: []config.PolicyConfig{{Name: "invoke", Document: `{"Version":"2012-10-17","Statement":[
					{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:111122223333:function:open-*"}]}`}}}},
		}
	})
	as := func(key, secret string) *lambda.Client {
		return lambda.New(lambda.Options{
			Region: servertest.Region, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1, HTTPClient: s.HTTPClient(),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		})
	}
	root := as("AKIAROOTEXAMPLE00001", "root-secret")
	invoker := as("AKIAINVOKEREXAMPLE01", "invoker-secret")
	ctx := context.Background()

	out := createFunction(t, root, "open-fn")
	if aws.ToString(out.FunctionArn) != "arn:aws:lambda:us-east-1:111122223333:function:open-fn" {
		t.Errorf("FunctionArn %s", aws.ToString(out.FunctionArn))
	}
	createFunction(t, root, "closed-fn")

	if _, err := as("AKIAROOTEXAMPLE00001", "wrong").ListFunctions(ctx, &lambda.ListFunctionsInput{}); err == nil {
		t.Error("a wrong secret was accepted")
	} else if code, _ := apiError(t, err); code != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", err)
	}
	if res := invoke(t, invoker, "open-fn", map[string]string{"action": "echo", "message": "allowed"}); !strings.Contains(string(res.Payload), "allowed") {
		t.Errorf("invoke open-fn: %s", res.Payload)
	}
	for _, call := range []func() error{
		func() error {
			_, err := invoker.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("closed-fn")})
			return err
		},
		func() error {
			_, err := invoker.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("open-fn")})
			return err
		},
		func() error {
			_, err := invoker.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("open-new"),
				Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Code: &types.FunctionCode{ZipFile: testZip(t)}})
			return err
		},
	} {
		err := call()
		if code, _ := apiError(t, err); code != "AccessDeniedException" {
			t.Errorf("want AccessDeniedException, got %v", err)
		}
	}
	var nf *types.ResourceNotFoundException
	if _, err := root.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("open-new")}); !errors.As(err, &nf) {
		t.Errorf("a denied CreateFunction created the function: %v", err)
	}

	// The audit log names the Lambda calls.
	s.Stop(t)
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"eventSource":"lambda.amazonaws.com"`) {
			for _, op := range []string{"CreateFunction", "Invoke", "DeleteFunction"} {
				if strings.Contains(line, `"eventName":"`+op+`"`) {
					seen[op] = true
				}
			}
		}
	}
	for _, op := range []string{"CreateFunction", "Invoke", "DeleteFunction"} {
		if !seen[op] {
			t.Errorf("the audit log has no Lambda %s event", op)
		}
	}
}

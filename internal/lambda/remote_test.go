package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// remoteEnv gives the server the AWS configuration a remote function's
// calls are signed with: the second server's credentials, and nothing
// from the machine's own files or instance role.
func remoteEnv(t testing.TB) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": servertest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": servertest.SecretAccessKey,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

func remoteFunction(t *testing.T, c *lambda.Client, name, handler string) {
	t.Helper()
	_, err := c.CreateFunction(context.Background(), &lambda.CreateFunctionInput{FunctionName: aws.String(name),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String(handler),
		Code: &types.FunctionCode{}, Timeout: aws.Int32(30)})
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
}

// TestRemoteFunction: a function whose Handler is lambda+http://... is
// served by another Lambda-compatible API, here a second server running
// the aws-lambda-go test handler; its result and its errors come back as
// they are.
func TestRemoteFunction(t *testing.T) {
	noLeaks(t)
	remoteEnv(t)
	far := servertest.Start(t)
	createFunction(t, client(far), "real")
	near := servertest.Start(t)
	c := client(near)
	base := "lambda+" + far.URL
	remoteFunction(t, c, "forwarded", base+"/real")
	remoteFunction(t, c, "regional", base+"/real?region=us-east-1")
	remoteFunction(t, c, "missing", base+"/nosuch")

	for _, name := range []string{"forwarded", "regional"} {
		res := invoke(t, c, name, map[string]string{"action": "echo", "message": "far away"},
			func(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail })
		var got reply
		json.Unmarshal(res.Payload, &got)
		// The remote function runs as itself, under its own name.
		if res.FunctionError != nil || got.Message != "far away" || got.Function != "real" ||
			got.InvokedARN != "arn:aws:lambda:us-east-1:000000000000:function:real" {
			t.Errorf("%s echo: %v %s", name, aws.ToString(res.FunctionError), res.Payload)
		}
		logs, _ := base64.StdEncoding.DecodeString(aws.ToString(res.LogResult))
		if !strings.Contains(string(logs), "Invoke real at "+far.URL) || strings.Count(string(logs), "START RequestId:") != 2 {
			t.Errorf("%s tail:\n%s", name, logs)
		}
	}

	// The remote function's error, as the remote API gave it.
	res := invoke(t, c, "forwarded", map[string]string{"action": "fail", "message": "it broke"})
	var fe struct{ ErrorMessage, ErrorType string }
	json.Unmarshal(res.Payload, &fe)
	if aws.ToString(res.FunctionError) != "Unhandled" || fe.ErrorMessage != "it broke" || fe.ErrorType != "errorString" {
		t.Errorf("fail: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	direct := invoke(t, client(far), "real", map[string]string{"action": "fail", "message": "it broke"})
	if string(direct.Payload) != string(res.Payload) {
		t.Errorf("forwarded error %s, the remote function's own %s", res.Payload, direct.Payload)
	}

	// No such remote function: a function error naming the remote API's.
	res = invoke(t, c, "missing", map[string]string{"action": "echo"})
	json.Unmarshal(res.Payload, &fe)
	if aws.ToString(res.FunctionError) != "Unhandled" || fe.ErrorType != "Function.RemoteError" ||
		!strings.Contains(fe.ErrorMessage, "Invoke nosuch at "+far.URL+": ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:nosuch") {
		t.Errorf("missing: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}

	// Bad handlers are refused, each saying why.
	for handler, why := range map[string]string{
		"lambda+http://":                  "names no host",
		"lambda+http://h:1/":              "exactly one function name",
		"lambda+http://h:1/a/b":           "exactly one function name",
		"lambda+http://u:p@h:1/f":         "credentials do not go in the URL",
		"lambda+http://h:1/f?qualifier=1": "the only query parameter is region",
		"lambda+http://h:1/f?region=":     "region is empty",
		"lambda+https://h:1/f#x":          "fragment",
	} {
		_, err := c.CreateFunction(context.Background(), &lambda.CreateFunctionInput{FunctionName: aws.String("bad"),
			Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String(handler), Code: &types.FunctionCode{}})
		if code, msg := apiError(t, err); code != "InvalidParameterValueException" || !strings.Contains(msg, why) {
			t.Errorf("%s: %s %s", handler, code, msg)
		}
	}
	_, err := c.CreateFunction(context.Background(), &lambda.CreateFunctionInput{FunctionName: aws.String("both"),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String(base + "/real"),
		Code: &types.FunctionCode{ZipFile: testZip(t)}})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("remote handler with code: %v", err)
	}

	// A remote API that cannot be reached.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	remoteFunction(t, c, "unreachable", "lambda+"+dead.URL+"/real")
	res = invoke(t, c, "unreachable", map[string]string{"action": "echo"})
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "Function.RemoteUnreachable") {
		t.Errorf("unreachable: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
}

// TestRemoteFunctionEventSourceMapping: a mapping delivers to a remote
// function, and the remote function's error makes it retry the batch as
// for a local one.
func TestRemoteFunctionEventSourceMapping(t *testing.T) {
	remoteEnv(t)
	var mu sync.Mutex
	var calls int
	var got []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errorMessage":"first call fails","errorType":"Flaky"}`)
			return
		}
		var ev struct {
			Records []struct{ Kinesis struct{ Data []byte } }
		}
		json.Unmarshal(body, &ev)
		for _, rec := range ev.Records {
			got = append(got, string(rec.Kinesis.Data))
		}
	}))
	t.Cleanup(sink.Close)
	far := servertest.Start(t)
	remoteFunction(t, client(far), "sink", sink.URL)
	near := servertest.Start(t)
	c, k := client(near), near.Kinesis()
	remoteFunction(t, c, "forwarded", "lambda+"+far.URL+"/sink")
	arn := createStream(t, k, "orders", 1)
	putAll(t, k, "orders", [][2]string{{"a", "one"}, {"a", "two"}, {"a", "three"}})
	_, err := c.CreateEventSourceMapping(context.Background(), &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("forwarded"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the records after a retry", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "one,two,three" || calls != 2 {
		t.Errorf("delivered %v in %d calls, want one,two,three in 2 (the first failing)", got, calls)
	}
}

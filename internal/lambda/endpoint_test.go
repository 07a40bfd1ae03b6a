package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// TestEndpointFunction: a function whose Handler is a URL is invoked by a
// POST of its event there, with the Runtime API's headers; a 2xx body is
// the result and anything else a function error.
func TestEndpointFunction(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]string
		json.Unmarshal(body, &ev)
		switch ev["action"] {
		case "echo":
			json.NewEncoder(w).Encode(map[string]string{
				"message": ev["message"], "requestId": r.Header.Get("Lambda-Runtime-Aws-Request-Id"),
				"arn": r.Header.Get("Lambda-Runtime-Invoked-Function-Arn"), "method": r.Method,
				"deadline": r.Header.Get("Lambda-Runtime-Deadline-Ms"), "trace": r.Header.Get("Lambda-Runtime-Trace-Id"),
			})
		case "lambda-error":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errorMessage":"bad input","errorType":"ValueError"}`)
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "the endpoint is broken")
		case "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	out, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("remote"),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String(srv.URL + "/invoke"),
		Code: &types.FunctionCode{}, Timeout: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Handler) != srv.URL+"/invoke" {
		t.Errorf("Handler %s", aws.ToString(out.Handler))
	}

	res := invoke(t, c, "remote", map[string]string{"action": "echo", "message": "over http"})
	var got map[string]string
	json.Unmarshal(res.Payload, &got)
	if res.FunctionError != nil || got["message"] != "over http" || got["method"] != "POST" || got["requestId"] == "" ||
		got["arn"] != "arn:aws:lambda:us-east-1:000000000000:function:remote" || got["deadline"] == "" || !strings.HasPrefix(got["trace"], "Root=1-") {
		t.Errorf("echo: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}

	res = invoke(t, c, "remote", map[string]string{"action": "lambda-error"})
	if aws.ToString(res.FunctionError) != "Unhandled" || string(res.Payload) != `{"errorMessage":"bad input","errorType":"ValueError"}` {
		t.Errorf("lambda-error: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	res = invoke(t, c, "remote", map[string]string{"action": "broken"})
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "500 Internal Server Error: the endpoint is broken") {
		t.Errorf("broken: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	res = invoke(t, c, "remote", map[string]string{"action": "hang"}, func(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail })
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "Task timed out after 1.00 seconds") {
		t.Errorf("hang: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	logs, _ := base64.StdEncoding.DecodeString(aws.ToString(res.LogResult))
	if !strings.Contains(string(logs), "START RequestId:") || !strings.Contains(string(logs), "Task timed out") {
		t.Errorf("tail:\n%s", logs)
	}
	// The endpoint's memory is not known: REPORT says nothing of it.
	if !regexp.MustCompile("\nREPORT RequestId: [0-9a-f-]+\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\tMemory Size: 128 MB\t\n$").Match(logs) {
		t.Errorf("tail's REPORT line:\n%q", logs)
	}

	// Code and a URL handler do not go together, either way.
	_, err = c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("both"),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String(srv.URL),
		Code: &types.FunctionCode{ZipFile: testZip(t)}})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("URL handler with code: %v", err)
	}
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("remote"), ZipFile: testZip(t)})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("code for an endpoint function: %v", err)
	}
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("remote"), Handler: aws.String("bootstrap")})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("a file handler for a function without code: %v", err)
	}
	_, err = c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("badurl"),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Handler: aws.String("http://"), Code: &types.FunctionCode{}})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("a URL without host: %v", err)
	}
	// An unreachable endpoint is a function error, not a server error.
	srv.Close()
	res = invoke(t, c, "remote", map[string]string{"action": "echo"})
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "Function.EndpointUnreachable") {
		t.Errorf("unreachable: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
}

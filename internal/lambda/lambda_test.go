package lambda_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

const role = "arn:aws:iam::000000000000:role/lambda-role"

var (
	buildOnce  sync.Once
	handlerZip []byte
	buildErr   error
)

// testZip builds the aws-lambda-go test handler as bootstrap and zips it,
// once per test binary.
func testZip(t testing.TB) []byte {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "millrace-lambda-build-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testhandler")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the test handler: %v\n%s", err, out)
			return
		}
		handlerZip, buildErr = zipFile("bootstrap", bin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return handlerZip
}

func zipFile(name, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func noLeaks(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, current,
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		)
	})
}

func client(s *servertest.Server) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       s.HTTPClient(),
	})
}

func createFunction(t *testing.T, c *lambda.Client, name string, opts ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionOutput {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimeProvidedal2023,
		Role:         aws.String(role),
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: testZip(t)},
	}
	for _, o := range opts {
		o(in)
	}
	out, err := c.CreateFunction(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

func invoke(t *testing.T, c *lambda.Client, name string, event any, opts ...func(*lambda.InvokeInput)) *lambda.InvokeOutput {
	t.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload}
	for _, o := range opts {
		o(in)
	}
	out, err := c.Invoke(context.Background(), in)
	if err != nil {
		t.Fatalf("Invoke %s: %v", name, err)
	}
	return out
}

// apiError returns err's AWS error code and message, failing when err is
// not an AWS error.
func apiError(t *testing.T, err error) (code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS error, got %v", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

type reply struct {
	Message, Function, Version, LogGroup, RequestID, InvokedARN, Env, Region, ClientCustom string
	Memory                                                                                 int
	HasDeadline, TraceEnvSet                                                               bool
	PID                                                                                    int
}

func TestFunctionLifecycle(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()

	out := createFunction(t, c, "fn-a", func(in *lambda.CreateFunctionInput) {
		in.Timeout = aws.Int32(7)
		in.Environment = &types.Environment{Variables: map[string]string{"GREETING": "hello"}}
	})
	if aws.ToString(out.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn-a" ||
		out.State != types.StateActive || aws.ToInt32(out.Timeout) != 7 || aws.ToInt32(out.MemorySize) != 128 ||
		aws.ToString(out.Version) != "$LATEST" || aws.ToString(out.CodeSha256) == "" || out.Runtime != types.RuntimeProvidedal2023 {
		t.Errorf("CreateFunction answered %+v", out)
	}

	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("fn-a"), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String(role), Code: &types.FunctionCode{ZipFile: testZip(t)}})
	var conflict *types.ResourceConflictException
	if !errors.As(err, &conflict) || !strings.Contains(aws.ToString(conflict.Message), "Function already exist: fn-a") {
		t.Errorf("creating fn-a again: %v", err)
	}

	// Invalid input, each with its error.
	for _, tc := range []struct {
		name string
		in   lambda.CreateFunctionInput
		code string
	}{
		{"runtime", lambda.CreateFunctionInput{FunctionName: aws.String("x"), Runtime: types.RuntimePython312, Role: aws.String(role),
			Code: &types.FunctionCode{ZipFile: testZip(t)}}, "InvalidParameterValueException"},
		{"not a zip", lambda.CreateFunctionInput{FunctionName: aws.String("x"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
			Code: &types.FunctionCode{ZipFile: []byte("not a zip")}}, "InvalidParameterValueException"},
		{"s3", lambda.CreateFunctionInput{FunctionName: aws.String("x"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
			Code: &types.FunctionCode{S3Bucket: aws.String("bucket"), S3Key: aws.String("k")}}, "InvalidParameterValueException"},
		{"reserved env", lambda.CreateFunctionInput{FunctionName: aws.String("x"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
			Code: &types.FunctionCode{ZipFile: testZip(t)}, Environment: &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}}, "InvalidParameterValueException"},
		{"bad name", lambda.CreateFunctionInput{FunctionName: aws.String("bad name!"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
			Code: &types.FunctionCode{ZipFile: testZip(t)}}, "ValidationException"},
		{"publish", lambda.CreateFunctionInput{FunctionName: aws.String("x"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
			Code: &types.FunctionCode{ZipFile: testZip(t)}, Publish: true}, "InvalidParameterValueException"},
		{"timeout", lambda.CreateFunctionInput{FunctionName: aws.String("x"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
			Code: &types.FunctionCode{ZipFile: testZip(t)}, Timeout: aws.Int32(0)}, "ValidationException"},
	} {
		_, err := c.CreateFunction(ctx, &tc.in)
		if code, msg := apiError(t, err); code != tc.code || msg == "" {
			t.Errorf("%s: got %s %q, want %s", tc.name, code, msg, tc.code)
		}
	}

	g, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn-a")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(g.Configuration.FunctionName) != "fn-a" || g.Configuration.Environment.Variables["GREETING"] != "hello" {
		t.Errorf("GetFunction: %+v", g.Configuration)
	}
	// By ARN too.
	if _, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: out.FunctionArn}); err != nil {
		t.Errorf("GetFunctionConfiguration by ARN: %v", err)
	}

	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" {
		t.Errorf("GetFunction nope: %v", err)
	}

	u, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn-a"),
		Timeout: aws.Int32(9), Environment: &types.Environment{Variables: map[string]string{"GREETING": "bonjour"}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(u.Timeout) != 9 || u.Environment.Variables["GREETING"] != "bonjour" || aws.ToString(u.RevisionId) == aws.ToString(out.RevisionId) {
		t.Errorf("UpdateFunctionConfiguration: %+v", u)
	}
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn-a"),
		RevisionId: out.RevisionId, Timeout: aws.Int32(4)})
	if code, _ := apiError(t, err); code != "PreconditionFailedException" {
		t.Errorf("update with a stale RevisionId: %v", err)
	}

	// Pagination: five functions, two a page.
	for _, n := range []string{"fn-b", "fn-c", "fn-d", "fn-e"} {
		createFunction(t, c, n)
	}
	var names []string
	pages := 0
	p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Functions) > 2 {
			t.Errorf("page of %d functions", len(page.Functions))
		}
		for _, f := range page.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	if strings.Join(names, ",") != "fn-a,fn-b,fn-c,fn-d,fn-e" || pages != 3 {
		t.Errorf("listed %v in %d pages", names, pages)
	}

	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn-b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn-b")}); !errors.As(err, &nf) {
		t.Errorf("GetFunction after delete: %v", err)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn-b")}); !errors.As(err, &nf) {
		t.Errorf("deleting again: %v", err)
	}

	// A restart keeps the definitions and the code.
	s.Restart(t)
	g, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn-a")})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if aws.ToInt32(g.Configuration.Timeout) != 9 {
		t.Errorf("after restart: %+v", g.Configuration)
	}
	var r reply
	res := invoke(t, c, "fn-a", map[string]string{"action": "echo", "message": "after restart", "env": "GREETING"})
	if err := json.Unmarshal(res.Payload, &r); err != nil || r.Message != "after restart" || r.Env != "bonjour" {
		t.Errorf("invoke after restart: %s %v", res.Payload, err)
	}
}

func TestInvoke(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	createFunction(t, c, "fn", func(in *lambda.CreateFunctionInput) {
		in.MemorySize = aws.Int32(256)
		in.Environment = &types.Environment{Variables: map[string]string{"COLOR": "blue"}}
	})

	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`))
	res := invoke(t, c, "fn", map[string]string{"action": "echo", "message": "hi", "env": "COLOR"},
		func(in *lambda.InvokeInput) { in.ClientContext = aws.String(cc) })
	if res.StatusCode != 200 || res.FunctionError != nil || aws.ToString(res.ExecutedVersion) != "$LATEST" {
		t.Fatalf("echo: %d %v %s", res.StatusCode, aws.ToString(res.FunctionError), res.Payload)
	}
	var r reply
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatal(err)
	}
	want := reply{Message: "hi", Function: "fn", Version: "$LATEST", LogGroup: "/aws/lambda/fn", Env: "blue", Region: "us-east-1",
		InvokedARN: "arn:aws:lambda:us-east-1:000000000000:function:fn", Memory: 256, HasDeadline: true, TraceEnvSet: true, ClientCustom: "v"}
	want.RequestID, want.PID = r.RequestID, r.PID
	if r != want || r.RequestID == "" {
		t.Errorf("echo answered %+v\nwant %+v", r, want)
	}

	// The warm instance serves the next invocation.
	var r2 reply
	res = invoke(t, c, "fn", map[string]string{"action": "echo"})
	json.Unmarshal(res.Payload, &r2)
	if r2.PID != r.PID || r2.RequestID == r.RequestID {
		t.Errorf("second invocation: pid %d (first %d), request id %s", r2.PID, r.PID, r2.RequestID)
	}

	// DryRun checks and runs nothing.
	res = invoke(t, c, "fn", map[string]string{}, func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeDryRun })
	if res.StatusCode != 204 {
		t.Errorf("DryRun: %d", res.StatusCode)
	}
	_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeDryRun})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("DryRun of a missing function: %v", err)
	}

	// A function error: 200, X-Amz-Function-Error, the error as payload.
	res = invoke(t, c, "fn", map[string]string{"action": "fail", "message": "it broke"})
	var fe struct{ ErrorMessage, ErrorType string }
	json.Unmarshal(res.Payload, &fe)
	if res.StatusCode != 200 || aws.ToString(res.FunctionError) != "Unhandled" || fe.ErrorMessage != "it broke" || fe.ErrorType != "errorString" {
		t.Errorf("fail: %d %v %s", res.StatusCode, aws.ToString(res.FunctionError), res.Payload)
	}
	// A panic ends the process after its report; the next call starts another.
	res = invoke(t, c, "fn", map[string]string{"action": "panic", "message": "oh no"})
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "oh no") {
		t.Errorf("panic: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	// Called at once, the next invocation may find the instance still
	// exiting: it runs on a fresh one rather than failing.
	res = invoke(t, c, "fn", map[string]string{"action": "echo", "message": "after the panic"})
	if res.FunctionError != nil || !strings.Contains(string(res.Payload), `"after the panic"`) {
		t.Errorf("right after a panic: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	res = invoke(t, c, "fn", map[string]string{"action": "exit"})
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "Runtime.ExitError") {
		t.Errorf("exit: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	res = invoke(t, c, "fn", map[string]string{"action": "echo", "message": "again"})
	if res.FunctionError != nil || !strings.Contains(string(res.Payload), `"again"`) {
		t.Errorf("after a crash: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}

	// LogType Tail: the invocation's output, stdout and stderr, framed by
	// START, END and REPORT.
	res = invoke(t, c, "fn", map[string]string{"action": "print", "message": "log me"},
		func(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail })
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(res.LogResult))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"START RequestId: ", "log me\n", "to stderr: log me\n", "END RequestId: ", "REPORT RequestId: "} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("tail lacks %q:\n%s", want, logs)
		}
	}
	if res := invoke(t, c, "fn", map[string]string{"action": "echo"}); res.LogResult != nil {
		t.Errorf("LogResult without LogType Tail: %v", aws.ToString(res.LogResult))
	}

	// Event: 202 at once; the function runs in the background.
	marker := filepath.Join(t.TempDir(), "event-ran")
	res = invoke(t, c, "fn", map[string]string{"action": "touch", "path": marker, "message": "async"},
		func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
	if res.StatusCode != 202 || len(res.Payload) != 0 {
		t.Errorf("Event: %d %q", res.StatusCode, res.Payload)
	}
	waitFor(t, marker)

	// Bad payloads and headers.
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte("{not json")})
	if code, _ := apiError(t, err); code != "InvalidRequestContentException" {
		t.Errorf("non-JSON payload: %v", err)
	}
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("7")})
	if !errors.As(err, &nf) || !strings.HasSuffix(aws.ToString(nf.Message), "function:fn:7") {
		t.Errorf("unknown qualifier: %v", err)
	}
}

// waitFor waits until path exists; a test failing here waited a minute.
func waitFor(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 6000; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

func TestTimeoutKillsInstance(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	createFunction(t, c, "slow", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(1) })
	var first reply
	json.Unmarshal(invoke(t, c, "slow", map[string]string{"action": "echo"}).Payload, &first)

	res := invoke(t, c, "slow", map[string]string{"action": "hang"}, func(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail })
	var fe struct{ ErrorMessage, ErrorType string }
	json.Unmarshal(res.Payload, &fe)
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.HasSuffix(fe.ErrorMessage, "Task timed out after 1.00 seconds") {
		t.Errorf("hang: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	logs, _ := base64.StdEncoding.DecodeString(aws.ToString(res.LogResult))
	if !strings.Contains(string(logs), "Task timed out after 1.00 seconds") {
		t.Errorf("tail of a timeout:\n%s", logs)
	}
	// The stuck process is gone; the next invocation gets a new one.
	if err := syscall.Kill(first.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the timed-out instance (pid %d) still runs: %v", first.PID, err)
	}
	var next reply
	json.Unmarshal(invoke(t, c, "slow", map[string]string{"action": "echo"}).Payload, &next)
	if next.PID == 0 || next.PID == first.PID {
		t.Errorf("after the timeout: pid %d (stuck one %d)", next.PID, first.PID)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	createFunction(t, c, "one")
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("one"),
		ReservedConcurrentExecutions: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("one")})
	if err != nil || aws.ToInt32(g.ReservedConcurrentExecutions) != 1 {
		t.Fatalf("GetFunctionConcurrency: %v %v", g, err)
	}

	release := filepath.Join(t.TempDir(), "release")
	done := make(chan *lambda.InvokeOutput, 1)
	go func() {
		payload, _ := json.Marshal(map[string]string{"action": "block", "path": release})
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("one"), Payload: payload})
		if err != nil {
			t.Errorf("blocked invocation: %v", err)
		}
		done <- out
	}()
	waitFor(t, release+".started")

	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("one"), Payload: []byte(`{"action":"echo"}`)})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Errorf("second invocation at reserved concurrency 1: %v", err)
	}

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := <-done; out == nil || !strings.Contains(string(out.Payload), "released") {
		t.Errorf("blocked invocation answered %v", out)
	}
	invoke(t, c, "one", map[string]string{"action": "echo"})

	// Zero reserved: every invocation is throttled.
	c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("one"), ReservedConcurrentExecutions: aws.Int32(0)})
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("one")}); !errors.As(err, &tm) {
		t.Errorf("at reserved concurrency 0: %v", err)
	}
	if _, err := c.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("one")}); err != nil {
		t.Fatal(err)
	}
	invoke(t, c, "one", map[string]string{"action": "echo"})
}

func TestDeleteStopsInstances(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	ctx := context.Background()
	createFunction(t, c, "gone")
	var r reply
	json.Unmarshal(invoke(t, c, "gone", map[string]string{"action": "echo"}).Payload, &r)
	if err := syscall.Kill(r.PID, 0); err != nil {
		t.Fatalf("instance pid %d: %v", r.PID, err)
	}

	// A configuration change retires the warm instance.
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("gone"),
		Environment: &types.Environment{Variables: map[string]string{"VV": "2"}}}); err != nil {
		t.Fatal(err)
	}
	var r2 reply
	json.Unmarshal(invoke(t, c, "gone", map[string]string{"action": "echo", "env": "VV"}).Payload, &r2)
	if r2.Env != "2" || r2.PID == r.PID {
		t.Errorf("after an update: %+v (old pid %d)", r2, r.PID)
	}

	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{r.PID, r2.PID} {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("instance pid %d after DeleteFunction: %v", pid, err)
		}
	}
}

func TestBootstrapMissing(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("README")
	w.Write([]byte("no bootstrap here"))
	zw.Close()
	_, err := c.CreateFunction(context.Background(), &lambda.CreateFunctionInput{FunctionName: aws.String("empty"),
		Runtime: types.RuntimeProvidedal2023, Role: aws.String(role), Code: &types.FunctionCode{ZipFile: buf.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	res := invoke(t, c, "empty", map[string]string{})
	if aws.ToString(res.FunctionError) != "Unhandled" || !strings.Contains(string(res.Payload), "Runtime.InvalidEntrypoint") {
		t.Errorf("no bootstrap: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
}

// TestServerWideConcurrency: --lambda-concurrency caps invocations across
// functions.
func TestServerWideConcurrency(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t, func(c *config.Config) { c.LambdaConcurrency = 1 })
	c := client(s)
	ctx := context.Background()
	createFunction(t, c, "first")
	createFunction(t, c, "second")

	release := filepath.Join(t.TempDir(), "release")
	done := make(chan error, 1)
	go func() {
		payload, _ := json.Marshal(map[string]string{"action": "block", "path": release})
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("first"), Payload: payload})
		done <- err
	}()
	waitFor(t, release+".started")
	_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("second")})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Errorf("another function at the server-wide limit: %v", err)
	}
	// An Event invocation waits for the slot instead.
	marker := filepath.Join(t.TempDir(), "event-ran")
	invoke(t, c, "second", map[string]string{"action": "touch", "path": marker},
		func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("blocked invocation: %v", err)
	}
	waitFor(t, marker)
}

// TestSIGTERMExtension: aws-lambda-go's SIGTERM support registers an
// extension at start; the function runs, and gets SIGTERM when its
// instance stops.
func TestSIGTERMExtension(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	c := client(s)
	marker := filepath.Join(t.TempDir(), "sigterm")
	createFunction(t, c, "graceful", func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"SIGTERM_MARKER": marker}}
	})
	res := invoke(t, c, "graceful", map[string]string{"action": "echo", "message": "up"})
	if res.FunctionError != nil || !strings.Contains(string(res.Payload), `"up"`) {
		t.Fatalf("invoke: %v %s", aws.ToString(res.FunctionError), res.Payload)
	}
	if _, err := c.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String("graceful")}); err != nil {
		t.Fatal(err)
	}
	// DeleteFunction returns once the instance has exited.
	if data, err := os.ReadFile(marker); err != nil || string(data) != "SIGTERM" {
		t.Errorf("the SIGTERM handler did not run: %q %v", data, err)
	}
}

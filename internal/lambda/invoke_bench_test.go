package lambda_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// BenchmarkInvokeOverhead measures one synchronous Invoke of a no-op
// function through aws-sdk-go-v2, for each way a function is served: a
// warm aws-lambda-go process fed through the Runtime API, an HTTP
// endpoint (an in-process handler answering null) and a remote function
// (forwarded to a second in-process server's HTTP endpoint function).
// The kinds take turns within each iteration, so that load on the machine
// weighs on all alike; each reports its own ns per invocation, and the
// ratio runtime-api/http-endpoint.
func BenchmarkInvokeOverhead(b *testing.B) {
	remoteEnv(b)
	noop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "null")
	}))
	b.Cleanup(noop.Close)
	far := servertest.Start(b)
	s := servertest.Start(b)
	c := client(s)
	ctx := context.Background()
	create := func(srv *servertest.Server, name, handler string, zip []byte) {
		_, err := client(srv).CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name),
			Runtime: "provided.al2023", Role: aws.String(role), Handler: aws.String(handler),
			Code: &types.FunctionCode{ZipFile: zip}})
		if err != nil {
			b.Fatal(err)
		}
	}
	create(s, "runtime-api", "bootstrap", testZip(b))
	create(s, "http-endpoint", noop.URL, nil)
	create(far, "far", noop.URL, nil)
	create(s, "remote", "lambda+"+far.URL+"/far", nil)
	kinds := []string{"runtime-api", "http-endpoint", "remote"}
	payload := []byte(`{"action":"noop"}`)
	call := func(name string) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
		if err != nil || out.FunctionError != nil || string(out.Payload) != "null" {
			b.Fatalf("Invoke %s: %v %s", name, err, out.Payload)
		}
	}
	for _, k := range kinds {
		call(k) // a warm instance, open connections
	}
	spent := make([]time.Duration, len(kinds))
	b.ResetTimer()
	for range b.N {
		for i, k := range kinds {
			start := time.Now()
			call(k)
			spent[i] += time.Since(start)
		}
	}
	b.StopTimer()
	for i, k := range kinds {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), k+"-ns/op")
	}
	b.ReportMetric(float64(spent[0])/float64(spent[1]), "runtime/http-ratio")
}

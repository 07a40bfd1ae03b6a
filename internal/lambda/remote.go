package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// Remote functions: a function whose Handler is
// lambda+http(s)://host[:port]/NAME[:QUALIFIER][?region=REGION] is served by
// another Lambda-compatible API (AWS Lambda, another Millrace): each
// invocation is that API's Invoke, RequestResponse, signed with the
// server's own AWS credentials.
const (
	remoteHTTP  = "lambda+http://"
	remoteHTTPS = "lambda+https://"
)

// remoteTarget is a remote function's Handler taken apart.
type remoteTarget struct {
	base   string // http(s)://host[:port]
	name   string // the remote function's name, with its qualifier if any
	region string // "" when the URL names none
}

func isRemoteHandler(handler string) bool {
	return strings.HasPrefix(handler, remoteHTTP) || strings.HasPrefix(handler, remoteHTTPS)
}

// parseRemote checks a remote function's Handler.
func parseRemote(handler string) (remoteTarget, error) {
	bad := func(why string) (remoteTarget, error) {
		return remoteTarget{}, errInvalid("The Handler %s is not a usable remote function: %s. Give lambda+http(s)://host[:port]/FUNCTION_NAME[:QUALIFIER][?region=REGION]. See docs/lambda.md", handler, why)
	}
	u, err := url.Parse(handler)
	switch {
	case err != nil:
		return bad("it is not a URL")
	case u.Host == "":
		return bad("it names no host")
	case u.User != nil:
		return bad("credentials do not go in the URL (the server's own AWS credentials sign the calls)")
	case u.Fragment != "":
		return bad("it has a fragment")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.Contains(name, "/") {
		return bad("its path must be exactly one function name")
	}
	q := u.Query()
	for k := range q {
		if k != "region" {
			return bad("the only query parameter is region, not " + k)
		}
	}
	region := q.Get("region")
	if q.Has("region") && region == "" {
		return bad("region is empty")
	}
	return remoteTarget{base: strings.TrimPrefix(u.Scheme, "lambda+") + "://" + u.Host, name: name, region: region}, nil
}

// remoteInvoker calls remote functions through aws-sdk-go-v2's Lambda
// client. The server's AWS configuration (environment, shared config
// files, instance role) is loaded at the first remote invocation.
type remoteInvoker struct {
	once    sync.Once
	cfg     aws.Config
	cfgErr  error
	http    *http.Client
	mu      sync.Mutex
	clients map[string]*awslambda.Client // by base URL and region
}

func newRemoteInvoker() *remoteInvoker {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &remoteInvoker{http: &http.Client{Transport: tr}, clients: map[string]*awslambda.Client{}}
}

func (r *remoteInvoker) close() {
	r.http.CloseIdleConnections()
}

func (r *remoteInvoker) client(t remoteTarget, fallbackRegion string) (*awslambda.Client, error) {
	r.once.Do(func() {
		r.cfg, r.cfgErr = awsconfig.LoadDefaultConfig(context.Background())
	})
	if r.cfgErr != nil {
		return nil, r.cfgErr
	}
	region := t.region
	if region == "" {
		region = r.cfg.Region
	}
	if region == "" {
		region = fallbackRegion
	}
	key := t.base + " " + region
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clients[key]; c != nil {
		return c, nil
	}
	c := awslambda.NewFromConfig(r.cfg, func(o *awslambda.Options) {
		o.BaseEndpoint = aws.String(t.base)
		o.Region = region
		o.HTTPClient = r.http
		// One attempt: retries are the caller's (an event source
		// mapping's policy, the client of Invoke), as for any function.
		o.Retryer = aws.NopRetryer{}
	})
	r.clients[key] = c
	return c, nil
}

// invoke calls f's remote function with inv, writing the exchange to
// logs; its error is ctx's when the function ran out of time.
func (r *remoteInvoker) invoke(ctx context.Context, inv *invocation, f *function, logs *bytes.Buffer) (result, error) {
	t, err := parseRemote(f.Handler)
	if err != nil {
		return errorResult("Function.RemoteError", "RequestId: "+inv.id+" Error: "+err.Error()), nil
	}
	c, err := r.client(t, f.Region)
	if err != nil {
		fmt.Fprintf(logs, "loading the AWS configuration: %v\n", err)
		return errorResult("Function.RemoteError", "RequestId: "+inv.id+" Error: loading the server's AWS configuration: "+err.Error()), nil
	}
	in := &awslambda.InvokeInput{
		FunctionName:   aws.String(t.name),
		InvocationType: lambdatypes.InvocationTypeRequestResponse,
		LogType:        lambdatypes.LogTypeTail,
		Payload:        inv.payload,
	}
	if inv.clientContext != "" {
		in.ClientContext = aws.String(base64.StdEncoding.EncodeToString([]byte(inv.clientContext)))
	}
	start := time.Now()
	out, err := c.Invoke(ctx, in)
	where := t.name + " at " + t.base
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(logs, "Invoke %s: %v\n", where, err)
			return errorResult("Function.RemoteUnreachable", fmt.Sprintf("RequestId: %s Error: Invoke %s: %v", inv.id, where, ctx.Err())), ctx.Err()
		}
		var ae smithy.APIError
		if errors.As(err, &ae) {
			// The remote API refused the call (no such function, not
			// allowed, throttled): a function error saying so.
			fmt.Fprintf(logs, "Invoke %s: %s: %s\n", where, ae.ErrorCode(), ae.ErrorMessage())
			return errorResult("Function.RemoteError", fmt.Sprintf("RequestId: %s Error: Invoke %s: %s: %s", inv.id, where, ae.ErrorCode(), ae.ErrorMessage())), nil
		}
		fmt.Fprintf(logs, "Invoke %s: %v\n", where, err)
		return errorResult("Function.RemoteUnreachable", fmt.Sprintf("RequestId: %s Error: Invoke %s: %v", inv.id, where, err)), nil
	}
	fmt.Fprintf(logs, "Invoke %s: %d bytes in %.2f ms", where, len(out.Payload), float64(time.Since(start).Microseconds())/1000)
	if out.FunctionError != nil {
		fmt.Fprintf(logs, ", function error %s", *out.FunctionError)
	}
	logs.WriteByte('\n')
	if out.LogResult != nil {
		if tail, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil && len(tail) > 0 {
			logs.Write(tail)
			if tail[len(tail)-1] != '\n' {
				logs.WriteByte('\n')
			}
		}
	}
	if len(out.Payload) > maxPayloadBytes {
		return errorResult("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayloadBytes)), nil
	}
	// The remote function's error, if any, is passed on as it is.
	return result{body: out.Payload, functionError: aws.ToString(out.FunctionError)}, nil
}

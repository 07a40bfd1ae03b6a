// Command testhandler is a Lambda function built with aws-lambda-go's
// lambda.Start, exactly as users write them, for Millrace's own tests: they
// build it as bootstrap, zip it and run it through the Lambda API. The
// event's Action says what it does.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Event is what the tests send.
type Event struct {
	Action  string `json:"action"`
	Message string `json:"message,omitempty"`
	// Path is a file: "touch" creates it; "block" creates Path+".started"
	// and waits until Path exists, ignoring its deadline.
	Path string `json:"path,omitempty"`
	// Env names a variable "echo" reports.
	Env string `json:"env,omitempty"`
}

// Reply is what "echo" answers.
type Reply struct {
	Message      string `json:"message"`
	Function     string `json:"function"`
	Version      string `json:"version"`
	Memory       int    `json:"memory"`
	LogGroup     string `json:"logGroup"`
	RequestID    string `json:"requestId"`
	InvokedARN   string `json:"invokedArn"`
	HasDeadline  bool   `json:"hasDeadline"`
	Env          string `json:"env"`
	Region       string `json:"region"`
	PID          int    `json:"pid"`
	TraceEnvSet  bool   `json:"traceEnvSet"`
	ClientCustom string `json:"clientCustom"`
}

func handle(ctx context.Context, ev Event) (*Reply, error) {
	switch ev.Action {
	case "echo":
		lc, _ := lambdacontext.FromContext(ctx)
		_, hasDeadline := ctx.Deadline()
		r := &Reply{
			Message: ev.Message, Function: lambdacontext.FunctionName, Version: lambdacontext.FunctionVersion,
			Memory: lambdacontext.MemoryLimitInMB, LogGroup: lambdacontext.LogGroupName,
			HasDeadline: hasDeadline, Region: os.Getenv("AWS_REGION"), PID: os.Getpid(),
			TraceEnvSet: os.Getenv("_X_AMZN_TRACE_ID") != "",
		}
		if ev.Env != "" {
			r.Env = os.Getenv(ev.Env)
		}
		if lc != nil {
			r.RequestID, r.InvokedARN = lc.AwsRequestID, lc.InvokedFunctionArn
			r.ClientCustom = lc.ClientContext.Custom["k"]
		}
		return r, nil
	case "print":
		fmt.Println(ev.Message)
		fmt.Fprintln(os.Stderr, "to stderr: "+ev.Message)
		return &Reply{Message: ev.Message}, nil
	case "fail":
		return nil, errors.New(ev.Message)
	case "panic":
		panic(ev.Message)
	case "exit":
		os.Exit(3)
	case "touch":
		return &Reply{Message: ev.Path}, os.WriteFile(ev.Path, []byte(ev.Message), 0o644)
	case "block":
		if err := os.WriteFile(ev.Path+".started", nil, 0o644); err != nil {
			return nil, err
		}
		for {
			if _, err := os.Stat(ev.Path); err == nil {
				return &Reply{Message: "released"}, nil
			}
			time.Sleep(10 * time.Millisecond)
		}
	case "hang":
		// A stuck function: it ignores its deadline.
		select {}
	}
	return nil, fmt.Errorf("unknown action %q", ev.Action)
}

func main() {
	// With SIGTERM_MARKER set, the handler asks for SIGTERM (aws-lambda-go
	// registers an extension for it) and writes that file when it comes.
	if marker := os.Getenv("SIGTERM_MARKER"); marker != "" {
		lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() {
			os.WriteFile(marker, []byte("SIGTERM"), 0o644)
		}))
		return
	}
	lambda.Start(handle)
}

// Command testhandler is a Lambda function built with aws-lambda-go's
// lambda.Start, exactly as users write them, for Millrace's own tests: they
// build it as bootstrap, zip it and run it through the Lambda API. The
// event's Action says what it does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

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
	// MiB is how much "alloc" allocates and touches.
	MiB int `json:"mib,omitempty"`
	// Peek is a file "sandbox" tries to read (another instance's), PID a
	// process it checks it may signal.
	Peek string `json:"peek,omitempty"`
	PID  int    `json:"pid,omitempty"`
	// Fails is how many of its first attempts "flaky" fails: each
	// appends its request id to Path as a line, and fails while Path
	// holds at most Fails lines.
	Fails int `json:"fails,omitempty"`
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
	// Sandbox is what "sandbox" found.
	Sandbox *Sandbox `json:"sandbox,omitempty"`
}

// Sandbox is what the function can do to the filesystem. Each error is
// "" for none, else the errno's name (EROFS) or the error's text.
type Sandbox struct {
	UID int `json:"uid"`
	// TmpBefore is what /tmp/<Message> held before this invocation wrote
	// its pid there ("" when missing); TmpWrite is that write's error.
	TmpBefore string `json:"tmpBefore"`
	TmpWrite  string `json:"tmpWrite"`
	// TmpSize is the size of /tmp's file system in bytes.
	TmpSize int64 `json:"tmpSize"`
	// CodeWrite is the error of writing a file into LAMBDA_TASK_ROOT.
	CodeWrite string `json:"codeWrite"`
	// DataRead is what reading Path gave: its content, or its error
	// after "error: ".
	DataRead string `json:"dataRead"`
	// Unmount is the error of unmounting Path's directory.
	Unmount string `json:"unmount"`
	// PeekRead is what reading Peek gave, as DataRead.
	PeekRead string `json:"peekRead"`
	// Signal is the error of checking that PID may be signalled.
	Signal string `json:"signal"`
}

func handle(ctx context.Context, ev Event) (*Reply, error) {
	switch ev.Action {
	case "noop":
		return nil, nil
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
	case "flaky":
		lc, _ := lambdacontext.FromContext(ctx)
		if lc == nil {
			return nil, errors.New("no Lambda context")
		}
		f, err := os.OpenFile(ev.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		_, werr := f.WriteString(lc.AwsRequestID + "\n")
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(ev.Path)
		if err != nil {
			return nil, err
		}
		if n := strings.Count(string(b), "\n"); n <= ev.Fails {
			return nil, fmt.Errorf("attempt %d fails", n)
		}
		return &Reply{Message: ev.Path}, nil
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
	case "alloc":
		// Every page is written, so that all of it is resident.
		b := make([]byte, ev.MiB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		runtime.KeepAlive(b)
		return &Reply{Message: strconv.Itoa(len(b)), PID: os.Getpid()}, nil
	case "sandbox":
		return &Reply{Sandbox: probeSandbox(ev), PID: os.Getpid()}, nil
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
	// The benchmarks' function takes the Kinesis event itself, as a
	// user's Kinesis handler does, so that aws-lambda-go decodes each
	// event once (dispatch's probes would read it three more times).
	if path := os.Getenv("ESM_COUNT"); path != "" {
		lambda.Start(func(ev events.KinesisEvent) (*events.KinesisEventResponse, error) {
			return countKinesis(path, ev)
		})
		return
	}
	lambda.Start(dispatch)
}

// dispatch runs Kinesis events (from an event source mapping) through
// handleKinesis and every other event through handle.
func dispatch(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records json.RawMessage `json:"Records"`
		Window  json.RawMessage `json:"window"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.Window) > 0 {
		var ev events.KinesisTimeWindowEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return handleWindow(ev)
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.Records) > 0 {
		var ev events.KinesisEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return handleKinesis(ctx, ev)
	}
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	return handle(ctx, ev)
}

// healed reports whether poison records have stopped failing: the file
// ESM_HEAL names exists.
func healed() bool {
	path := os.Getenv("ESM_HEAL")
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

// handleKinesis processes a batch as the function's environment says:
//   - ESM_LOG: a file that gets one line per record processed,
//     "<eventID> <partitionKey> <data>", all of a batch in one write;
//   - a record whose data is "poison" fails the whole batch (with
//     ESM_HEAL set, only until the file it names exists);
//   - with ESM_REPORT set, a record whose data starts with "failonce"
//     is reported in batchItemFailures the first time it is seen (a file
//     next to ESM_LOG remembers it) and processed the next time;
//   - ESM_BARRIER=N: the invocation waits (up to 30 s) until N
//     invocations have started, counted as files in ESM_LOG+".barrier";
//     one that gives up logs "barrier-timeout";
//   - ESM_SOURCES: a file that gets the eventSourceARN of every record
//     processed, one a line.
func handleKinesis(ctx context.Context, ev events.KinesisEvent) (*events.KinesisEventResponse, error) {
	logPath := os.Getenv("ESM_LOG")
	if n, _ := strconv.Atoi(os.Getenv("ESM_BARRIER")); n > 0 {
		dir := logPath + ".barrier"
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())), nil, 0o644)
		deadline := time.Now().Add(30 * time.Second)
		for {
			entries, _ := os.ReadDir(dir)
			if len(entries) >= n {
				break
			}
			if time.Now().After(deadline) {
				appendLine(logPath, "barrier-timeout\n")
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	resp := &events.KinesisEventResponse{}
	var lines, sources strings.Builder
	for _, r := range ev.Records {
		data := string(r.Kinesis.Data)
		if data == "poison" && !healed() {
			return nil, errors.New("poison record " + r.Kinesis.SequenceNumber)
		}
		if os.Getenv("ESM_REPORT") != "" && strings.HasPrefix(data, "failonce") {
			marker := logPath + ".seen-" + r.Kinesis.SequenceNumber
			if _, err := os.Stat(marker); err != nil {
				os.WriteFile(marker, nil, 0o644)
				resp.BatchItemFailures = append(resp.BatchItemFailures,
					events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
				continue
			}
		}
		fmt.Fprintf(&lines, "%s %s %s\n", r.EventID, r.Kinesis.PartitionKey, data)
		sources.WriteString(r.EventSourceArn + "\n")
	}
	if path := os.Getenv("ESM_SOURCES"); path != "" && sources.Len() > 0 {
		if err := appendLine(path, sources.String()); err != nil {
			return nil, err
		}
	}
	if logPath != "" && lines.Len() > 0 {
		if err := appendLine(logPath, lines.String()); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// countKinesis is the benchmarks' handler: it appends "n <records>" for
// the batch to path, "c <pid> <µs>" (the CPU time this process has used
// so far, user and system) and, with ESM_LATENCY set, "l <µs>" per record:
// how long after its arrival in the stream the handler got it.
func countKinesis(path string, ev events.KinesisEvent) (*events.KinesisEventResponse, error) {
	now := time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "n %d\n", len(ev.Records))
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		fmt.Fprintf(&b, "c %d %d\n", os.Getpid(), ru.Utime.Nano()/1000+ru.Stime.Nano()/1000)
	}
	if os.Getenv("ESM_LATENCY") != "" {
		for _, r := range ev.Records {
			fmt.Fprintf(&b, "l %d\n", now.Sub(r.Kinesis.ApproximateArrivalTimestamp.Time).Microseconds())
		}
	}
	return &events.KinesisEventResponse{}, appendLine(path, b.String())
}

// handleWindow counts a tumbling window's records in its state
// ({"count": "<n>"}) and, on the window's final invocation, appends
// "final <window start> <count>" to ESM_LOG.
func handleWindow(ev events.KinesisTimeWindowEvent) (*events.KinesisTimeWindowEventResponse, error) {
	n, _ := strconv.Atoi(ev.State["count"])
	n += len(ev.Records)
	if ev.IsFinalInvokeForWindow {
		line := fmt.Sprintf("final %s %d\n", ev.Window.Start.UTC().Format(time.RFC3339), n)
		if err := appendLine(os.Getenv("ESM_LOG"), line); err != nil {
			return nil, err
		}
	}
	return &events.KinesisTimeWindowEventResponse{TimeWindowEventResponseProperties: events.TimeWindowEventResponseProperties{State: map[string]string{"count": strconv.Itoa(n)}}}, nil
}

func appendLine(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

// probeSandbox tries what a sandbox forbids and reports what happened.
func probeSandbox(ev Event) *Sandbox {
	sb := &Sandbox{UID: os.Getuid()}
	marker := filepath.Join("/tmp", ev.Message)
	before, _ := os.ReadFile(marker)
	sb.TmpBefore = string(before)
	sb.TmpWrite = errName(os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o644))
	var st syscall.Statfs_t
	if syscall.Statfs("/tmp", &st) == nil {
		sb.TmpSize = int64(st.Blocks) * int64(st.Bsize)
	}
	sb.CodeWrite = errName(os.WriteFile(filepath.Join(os.Getenv("LAMBDA_TASK_ROOT"), "written"), nil, 0o644))
	sb.Unmount = errName(syscall.Unmount(filepath.Dir(ev.Path), 0))
	sb.DataRead = readReport(ev.Path)
	if ev.Peek != "" {
		sb.PeekRead = readReport(ev.Peek)
	}
	if ev.PID > 0 {
		sb.Signal = errName(syscall.Kill(ev.PID, 0))
	}
	return sb
}

// readReport is path's content, or its error after "error: ".
func readReport(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "error: " + errName(err)
	}
	return string(data)
}

// errName is "" for nil, the errno's name for the usual ones, else the
// error's text.
func errName(err error) string {
	var errno syscall.Errno
	if err == nil {
		return ""
	}
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EROFS:
			return "EROFS"
		case syscall.EACCES:
			return "EACCES"
		case syscall.ENOENT:
			return "ENOENT"
		case syscall.EPERM:
			return "EPERM"
		case syscall.EINVAL:
			return "EINVAL"
		}
	}
	return err.Error()
}

package lambda

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// maxPayloadBytes is the synchronous invocation limit of requests and
// responses: 6 MB.
const maxPayloadBytes = 6 << 20

// initTimeout bounds a runtime's start: from the process's start (or the
// previous invocation's end) until it asks for the invocation. Lambda's
// init phase has the same 10 s limit.
const initTimeout = 10 * time.Second

// stopGrace is how long a stopping instance has between SIGTERM and
// SIGKILL.
const stopGrace = 2 * time.Second

// logSyncWait bounds how long an invocation waits for the instance's log
// pipe to catch up with its response.
const logSyncWait = 2 * time.Second

// invocation is one event handed to an instance.
type invocation struct {
	id      string
	payload []byte
	arn     string
	// timeout is the function's Timeout: it runs from the moment the
	// runtime takes the invocation (its init does not count).
	timeout time.Duration
	traceID string
	// clientContext is the decoded X-Amz-Client-Context, "" when none.
	clientContext string
	done          chan result // buffered: the Runtime API never blocks on it
}

// result is an invocation's outcome. functionError is "" on success, else
// the X-Amz-Function-Error value ("Unhandled") and body is the error.
type result struct {
	body          []byte
	functionError string
	logs          []byte // what the instance wrote during the invocation
	// undelivered: the runtime exited before it took the invocation (a
	// warm instance whose runtime ends after an error, as aws-lambda-go's
	// does after a panic); a fresh instance can take it.
	undelivered bool
}

// startError is a failure to start the function's process, which Lambda
// reports as a function error (for example, no bootstrap in the zip).
type startError struct {
	errorType, message string
}

func (e *startError) Error() string { return e.errorType + ": " + e.message }

// instance is one running process of a function and its Runtime API.
type instance struct {
	r        *runner
	function string
	dir      string
	cmd      *exec.Cmd
	ln       net.Listener
	srv      *http.Server
	logW     *os.File // the write end of the log pipe, kept for sync markers
	marker   []byte
	mem      *memGroup // its memory cgroup, nil when limits are not enforced
	memLimit int64     // mem's limit in bytes
	procs    procTree  // its processes, measured when it has no cgroup

	next     chan *invocation // handed to the /next long poll
	exited   chan struct{}    // closed when the process has exited
	logsDone chan struct{}    // closed when the log pipe reached EOF
	stopping chan struct{}    // closed when stop begins
	initFail chan []byte      // the /init/error body, buffered
	stopOnce sync.Once

	retired bool // guarded by runner.mu

	mu         sync.Mutex
	cur        *invocation
	capture    *bytes.Buffer
	syncWaiter chan struct{}
	exitErr    error
	// extensions maps the registered extensions' identifiers to whether
	// they asked for SHUTDOWN events.
	extensions map[string]bool
}

// startInstance starts f's bootstrap in dir with its own Runtime API
// listener on a free loopback port, in its sandbox as the sandbox's
// instanceID id when instances are sandboxed.
func startInstance(r *runner, f *function, dir string, id int) (*instance, error) {
	bootstrap := filepath.Join(dir, "bootstrap")
	if st, err := os.Stat(bootstrap); err != nil || !st.Mode().IsRegular() {
		return nil, &startError{errorType: "Runtime.InvalidEntrypoint",
			message: "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambda: Runtime API listener: %w", err)
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("lambda: log pipe: %w", err)
	}
	var m [12]byte
	rand.Read(m[:])
	inst := &instance{
		r: r, function: f.Name, dir: dir, ln: ln, logW: logW,
		marker:   []byte("\x00millrace-log-sync-" + hex.EncodeToString(m[:]) + "\n"),
		next:     make(chan *invocation),
		exited:   make(chan struct{}),
		logsDone: make(chan struct{}),
		stopping: make(chan struct{}),
		initFail: make(chan []byte, 1),
	}
	inst.srv = &http.Server{Handler: inst.runtimeAPI(f), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(r.log.With("function", f.Name).Handler(), slog.LevelDebug)}
	// A process group of its own, so that stop reaches the bootstrap's
	// children too.
	attr := &syscall.SysProcAttr{Setpgid: true}
	cmd := r.sandbox.command(dir, bootstrap, f.ephemeralMiB(), id, attr)
	cmd.SysProcAttr = attr
	cmd.Env = r.environment(f, dir, ln.Addr().String())
	cmd.Stdout, cmd.Stderr = logW, logW
	started, err := inst.limitMemory(f, cmd.SysProcAttr)
	if err != nil {
		ln.Close()
		logR.Close()
		logW.Close()
		return nil, err
	}
	err = cmd.Start()
	if err == nil {
		if err = started(cmd.Process); err != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	} else {
		started(nil)
		err = &startError{errorType: "Runtime.InvalidEntrypoint",
			message: fmt.Sprintf("RequestId: Error: fork/exec /var/task/bootstrap: %v", errors.Unwrap(err))}
	}
	if err != nil {
		ln.Close()
		logR.Close()
		logW.Close()
		inst.removeCgroup()
		return nil, err
	}
	inst.cmd = cmd
	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		if err := inst.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Warn("Runtime API listener failed", "function", f.Name, "err", err)
		}
	}()
	go func() {
		defer r.wg.Done()
		err := cmd.Wait()
		inst.mu.Lock()
		inst.exitErr = err
		inst.mu.Unlock()
		inst.procs.close()
		close(inst.exited)
	}()
	go func() {
		defer r.wg.Done()
		inst.readLogs(logR)
	}()
	return inst, nil
}

// environment is what the process gets: the variables Lambda sets, the
// function's own, and what its SDKs need to reach this server.
func (r *runner) environment(f *function, dir, api string) []string {
	var id [16]byte
	rand.Read(id[:])
	access, secret := r.opts.AccessKeyID, r.opts.SecretAccessKey
	if access == "" {
		access, secret = f.Account, "millrace"
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"LAMBDA_TASK_ROOT=" + dir,
		"LAMBDA_RUNTIME_DIR=" + dir,
		"AWS_LAMBDA_RUNTIME_API=" + api,
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=" + latest,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(int(f.MemorySize)),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + hex.EncodeToString(id[:]),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + f.Region,
		"AWS_DEFAULT_REGION=" + f.Region,
		"AWS_EXECUTION_ENV=AWS_Lambda_" + f.Runtime,
		"_HANDLER=" + f.Handler,
		"AWS_ACCESS_KEY_ID=" + access,
		"AWS_SECRET_ACCESS_KEY=" + secret,
	}
	if r.opts.Endpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL="+r.opts.Endpoint)
	}
	for k, v := range f.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// dead reports whether the process has exited.
func (inst *instance) dead() bool {
	select {
	case <-inst.exited:
		return true
	default:
		return false
	}
}

// stop ends the instance: SIGTERM to its process group, SIGKILL after
// stopGrace, then its listener and code directory go. It waits for the
// process to exit.
func (inst *instance) stop() {
	inst.stopOnce.Do(func() {
		close(inst.stopping)
		pgid := inst.cmd.Process.Pid
		if !inst.dead() {
			syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-inst.exited:
			case <-time.After(stopGrace):
			}
		}
		// Whatever is left of the group (children of the bootstrap).
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-inst.exited
		inst.removeCgroup()
		inst.srv.Close()
		inst.logW.Close()
		select {
		case <-inst.logsDone:
		case <-time.After(logSyncWait):
		}
		if err := os.RemoveAll(inst.dir); err != nil {
			inst.r.log.Warn("removing an instance's code directory", "dir", inst.dir, "err", err)
		}
	})
}

// kill ends the instance at once (a timed-out invocation).
func (inst *instance) kill() {
	syscall.Kill(-inst.cmd.Process.Pid, syscall.SIGKILL)
}

// readLogs reads the process's stdout and stderr: every line goes to the
// server log at debug and, during an invocation, to its capture. A sync
// marker written by the invocation ends what it captures.
func (inst *instance) readLogs(rd *os.File) {
	defer close(inst.logsDone)
	defer rd.Close()
	br := bufio.NewReaderSize(rd, 64<<10)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			synced := bytes.HasSuffix(chunk, inst.marker)
			if synced {
				chunk = chunk[:len(chunk)-len(inst.marker)]
			}
			inst.mu.Lock()
			if inst.capture != nil {
				inst.capture.Write(chunk)
			}
			if synced && inst.syncWaiter != nil {
				close(inst.syncWaiter)
				inst.syncWaiter = nil
			}
			inst.mu.Unlock()
			if len(chunk) > 0 {
				inst.r.log.Debug("function output", "function", inst.function, "line", string(bytes.TrimRight(chunk, "\n")))
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// syncLogs waits until the log reader has read everything the process
// wrote before now: a marker goes down the same pipe after it.
func (inst *instance) syncLogs() {
	ch := make(chan struct{})
	inst.mu.Lock()
	inst.syncWaiter = ch
	inst.mu.Unlock()
	if inst.dead() {
		select {
		case <-inst.logsDone:
		case <-time.After(logSyncWait):
		}
		return
	}
	if _, err := inst.logW.Write(inst.marker); err != nil {
		return
	}
	select {
	case <-ch:
	case <-inst.logsDone:
	case <-time.After(logSyncWait):
	}
}

// invoke runs inv on the instance and returns its outcome: the function's
// response or error, a timeout (the instance is killed), or the runtime's
// exit.
func (inst *instance) invoke(ctx context.Context, inv *invocation, f *function) result {
	start := time.Now()
	// The capture is written under inst.mu once published: the log
	// reader appends to it from its own goroutine.
	capture := &bytes.Buffer{}
	fmt.Fprintf(capture, "START RequestId: %s Version: %s\n", inv.id, latest)
	inst.mu.Lock()
	inst.capture = capture
	inst.mu.Unlock()

	// Until the runtime takes the invocation, the init limit applies; then
	// the function's timeout.
	timer := time.NewTimer(initTimeout)
	defer timer.Stop()
	inst.resetPeak()
	res, ok, timedOut := inst.await(ctx, inv, timer, f)
	peak := inst.peakMemory()
	if !ok {
		// Timed out, or the caller or the server went away: the
		// instance is in an unknown state, so it goes now.
		inst.kill()
		<-inst.exited
	}
	inst.syncLogs()
	elapsed := time.Since(start)
	inst.mu.Lock()
	inst.cur = nil
	logs := inst.capture
	inst.capture = nil
	inst.mu.Unlock()
	if timedOut {
		fmt.Fprintf(logs, "%s %s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, timeoutMessage(f))
	}
	ms := float64(elapsed.Microseconds()) / 1000
	fmt.Fprintf(logs, "END RequestId: %s\n", inv.id)
	writeReport(logs, inv.id, ms, f.MemorySize, peak)
	res.logs = logs.Bytes()
	return res
}

// await hands inv over and waits for its outcome. ok is false when the
// instance must be killed; timedOut says the function ran out of time.
func (inst *instance) await(ctx context.Context, inv *invocation, timer *time.Timer, f *function) (res result, ok, timedOut bool) {
	select {
	case inst.next <- inv:
	case body := <-inst.initFail:
		return result{body: body, functionError: "Unhandled"}, false, false
	case <-inst.exited:
		res := inst.exitResult(inv)
		res.undelivered = true
		return res, true, false
	case <-inst.stopping:
		return errorResult("Runtime.Stopped", "RequestId: "+inv.id+" Error: the function's instance was stopped"), false, false
	case <-timer.C:
		return errorResult("Runtime.InitTimeout", fmt.Sprintf("RequestId: %s Error: the runtime did not ask for the invocation within %s of its start (the init limit)",
			inv.id, initTimeout)), false, false
	case <-ctx.Done():
		return errorResult("Runtime.Cancelled", "RequestId: "+inv.id+" Error: the invocation was cancelled"), false, false
	}
	timer.Reset(inv.timeout)
	select {
	case res := <-inv.done:
		return res, true, false
	case <-inst.exited:
		return inst.exitResult(inv), true, false
	case <-inst.stopping:
		return errorResult("Runtime.Stopped", "RequestId: "+inv.id+" Error: the function's instance was stopped"), false, false
	case <-timer.C:
		return timeoutResult(inv, f), false, true
	case <-ctx.Done():
		return errorResult("Runtime.Cancelled", "RequestId: "+inv.id+" Error: the invocation was cancelled"), false, false
	}
}

func timeoutMessage(f *function) string {
	return fmt.Sprintf("Task timed out after %.2f seconds", float64(f.Timeout))
}

// timeoutResult is Lambda's answer for a function out of time.
func timeoutResult(inv *invocation, f *function) result {
	return errorResult("Sandbox.Timedout", time.Now().UTC().Format("2006-01-02T15:04:05.000Z")+" "+inv.id+" "+timeoutMessage(f))
}

func (inst *instance) exitResult(inv *invocation) result {
	inst.mu.Lock()
	err := inst.exitErr
	inst.mu.Unlock()
	msg := "Runtime exited without providing a reason"
	if err != nil {
		msg = "Runtime exited with error: " + err.Error()
	}
	return errorResult("Runtime.ExitError", "RequestId: "+inv.id+" Error: "+msg)
}

// errorResult is a function error in Lambda's error body.
func errorResult(errorType, message string) result {
	body, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": message})
	return result{body: body, functionError: "Unhandled"}
}

// ---- the Runtime API ----

const runtimePrefix = "/2018-06-01/runtime"

func (inst *instance) runtimeAPI(f *function) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimePrefix+"/invocation/next", inst.nextInvocation)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		inst.complete(w, r, "")
	})
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		inst.complete(w, r, "Unhandled")
	})
	mux.HandleFunc("POST "+runtimePrefix+"/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxPayloadBytes))
		if len(body) == 0 {
			body, _ = json.Marshal(map[string]string{"errorType": r.Header.Get("Lambda-Runtime-Function-Error-Type"),
				"errorMessage": "the runtime reported an initialization error"})
		}
		select {
		case inst.initFail <- body:
		default:
		}
		runtimeStatus(w, http.StatusAccepted)
	})
	// Extensions: aws-lambda-go registers one to get SIGTERM; it is told
	// of the shutdown when the instance stops.
	mux.HandleFunc("POST /2020-01-01/extension/register", func(w http.ResponseWriter, r *http.Request) {
		var reg struct {
			Events []string `json:"events"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if len(body) > 0 && json.Unmarshal(body, &reg) != nil {
			runtimeError(w, http.StatusBadRequest, "InvalidRequest", "The registration body is not JSON.")
			return
		}
		var id [16]byte
		rand.Read(id[:])
		ident := hex.EncodeToString(id[:])
		inst.mu.Lock()
		if inst.extensions == nil {
			inst.extensions = map[string]bool{}
		}
		inst.extensions[ident] = slices.Contains(reg.Events, "SHUTDOWN")
		inst.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", ident)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"functionName": f.Name, "functionVersion": latest, "handler": f.Handler})
	})
	mux.HandleFunc("GET /2020-01-01/extension/event/next", func(w http.ResponseWriter, r *http.Request) {
		inst.mu.Lock()
		shutdown, ok := inst.extensions[r.Header.Get("Lambda-Extension-Identifier")]
		inst.mu.Unlock()
		if !ok {
			runtimeError(w, http.StatusForbidden, "Extension.Unknown", "Unknown extension identifier.")
			return
		}
		if !shutdown {
			// Registered for no events (aws-lambda-go's SIGTERM
			// extension): the poll never answers.
			<-r.Context().Done()
			return
		}
		select {
		case <-inst.stopping:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"eventType": "SHUTDOWN", "shutdownReason": "spindown",
				"deadlineMs": time.Now().Add(stopGrace).UnixMilli()})
		case <-r.Context().Done():
		}
	})
	return mux
}

// runtimeStatus answers the runtime with a status and a small JSON body.
func runtimeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"status":"OK"}`)
}

func runtimeError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"errorType": errorType, "errorMessage": message})
}

// nextInvocation is the long poll: it answers when an invocation is handed
// over (or never, if the instance stops first).
func (inst *instance) nextInvocation(w http.ResponseWriter, r *http.Request) {
	select {
	case inv := <-inst.next:
		inst.mu.Lock()
		inst.cur = inv
		inst.mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(inv.timeout).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
		h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
		if inv.clientContext != "" {
			h.Set("Lambda-Runtime-Client-Context", inv.clientContext)
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(inv.payload)))
		w.WriteHeader(http.StatusOK)
		w.Write(inv.payload)
	case <-r.Context().Done():
		// The instance stopped (its listener closed after the process
		// exited). The poll is not answered before: aws-lambda-go
		// exits at once on any answer but 200, which would cut its
		// SIGTERM handlers short.
	}
}

// complete takes the response or error of the current invocation.
func (inst *instance) complete(w http.ResponseWriter, r *http.Request, functionError string) {
	id := r.PathValue("id")
	inst.mu.Lock()
	inv := inst.cur
	if inv != nil && inv.id == id {
		inst.cur = nil
	}
	inst.mu.Unlock()
	if inv == nil || inv.id != id {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayloadBytes+1))
	switch {
	case err != nil:
		inv.done <- errorResult("Runtime.ResponseError", "RequestId: "+id+" Error: reading the runtime's response: "+err.Error())
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "The response could not be read.")
		return
	case len(body) > maxPayloadBytes:
		inv.done <- errorResult("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayloadBytes))
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", maxPayloadBytes))
		return
	}
	inv.done <- result{body: body, functionError: functionError}
	runtimeStatus(w, http.StatusAccepted)
}

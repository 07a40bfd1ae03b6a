// Package lambda serves the Lambda API subset Millrace offers: functions
// whose code is a zip holding an executable bootstrap (a custom runtime,
// as the provided.* runtimes are), created and invoked through the Lambda
// REST-JSON API on the server's endpoint, and run by Millrace as local
// processes fed through its own implementation of the Lambda Runtime API.
//
// Function definitions and their code live in the storage catalog; the
// processes (warm instances) live only while the server runs.
package lambda

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/lambda/lambdaapi"
	"github.com/millrace/millrace/internal/storage"
)

// SigningName is the SigV4 service name of the Lambda API.
const SigningName = "lambda"

// DefaultConcurrency is the server-wide limit of concurrent executions
// when Options leaves it zero: AWS's default account quota.
const DefaultConcurrency = 1000

// maxCodeBodyBytes bounds the body of requests that carry a zip: AWS's
// 50 MB direct upload limit in base64, with room for the other members.
const maxCodeBodyBytes = 70 << 20

// Options configures the service.
type Options struct {
	Catalog storage.Catalog
	Logger  *slog.Logger
	// Runner runs the service's background units; nil: a runner of the
	// service's own, stopped by Close.
	Runner *background.Runner
	// Concurrency is the server-wide limit of executions at once (zero:
	// DefaultConcurrency); ReservedConcurrentExecutions limits a function
	// within it.
	Concurrency int
	// TempDir is where instances unpack their code (empty: os.TempDir()).
	TempDir string
	// MemoryLimits says whether instances are limited to their function's
	// MemorySize (MemoryLimitsAuto, the default when empty, On or Off).
	MemoryLimits string
	// Sandbox says whether instances are sandboxed (SandboxAuto, the
	// default when empty, On or Off): a private /tmp, read-only code,
	// HiddenDirs out of sight, an unprivileged user.
	Sandbox string
	// HiddenDirs are directories sandboxed instances must not see: the
	// server's data directory.
	HiddenDirs []string
	// Endpoint, when set, is given to functions as AWS_ENDPOINT_URL so
	// that SDKs inside them call this server.
	Endpoint string
	// Credentials are given to functions as AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY; empty: the function's account id as the key
	// (so that, in dev mode, its calls land in its own account).
	AccessKeyID, SecretAccessKey string
	Now                          func() time.Time // nil: time.Now
	// Streams is the streams domain event source mappings read; nil: the
	// mapping operations answer that no streams are served.
	Streams StreamSource
	// Roles, when set (authentication on), makes event source mappings
	// act as their function's execution role where Lambda does: creating
	// or updating one checks in-process, through Router as a session of
	// the role, that the role may read the stream, and the records they
	// send to an on-failure destination (a Kinesis stream or a Lambda
	// function) are put or invoked in-process as the role. Nil (dev
	// mode): no check, and the records are written directly.
	Roles awsproto.RoleAssumer
	// Router serves the in-process requests made as roles; needed with
	// Roles.
	Router http.Handler
}

// Service is the Lambda API subset Millrace serves.
type Service struct {
	cat    storage.Catalog
	logger *slog.Logger
	now    func() time.Time
	opts   Options

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per function: account/region/name
	run   *runner
	// esmMu serializes the changes of event source mappings (create's
	// duplicate check, the units' state transitions).
	esmMu sync.Mutex
	// esmResults holds the LastProcessingResult this process last stored
	// for each mapping (uuid →), so that an unchanged one is not written
	// again.
	esmResultsMu sync.Mutex
	esmResults   map[string]storedResult
	// stats are the functions' and mappings' metrics (stats.go).
	stats stats
	// asyncWake wakes the unit that runs the queued Event invocations.
	asyncWake chan struct{}
	// asyncAdded are the events this node queued since the unit last
	// looked (at most maxAsyncAdded; asyncMissed says some were left out,
	// and the unit reads the queue's index again).
	asyncMu     sync.Mutex
	asyncAdded  []asyncEntry
	asyncMissed bool
	// ownRunner: the background runner is the service's own (Options had
	// none), so Close stops it.
	ownRunner bool
	// roles are the in-process clients that act as execution roles; nil
	// without Options.Roles.
	roles *roleClients
}

// New returns the service. Close stops every function instance.
func New(ctx context.Context, opts Options) (*Service, error) {
	s := &Service{cat: opts.Catalog, logger: opts.Logger, now: opts.Now, opts: opts, locks: map[string]*sync.Mutex{},
		esmResults: map[string]storedResult{}, asyncWake: make(chan struct{}, 1)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Concurrency <= 0 {
		s.opts.Concurrency = DefaultConcurrency
	}
	switch s.opts.MemoryLimits {
	case "":
		s.opts.MemoryLimits = MemoryLimitsAuto
	case MemoryLimitsAuto, MemoryLimitsOn, MemoryLimitsOff:
	default:
		return nil, fmt.Errorf("lambda: memory limits %q: want auto, on or off", s.opts.MemoryLimits)
	}
	switch s.opts.Sandbox {
	case "":
		s.opts.Sandbox = SandboxAuto
	case SandboxAuto, SandboxOn, SandboxOff:
	default:
		return nil, fmt.Errorf("lambda: sandbox %q: want auto, on or off", s.opts.Sandbox)
	}
	sb, err := newSandbox(s.opts.Sandbox, s.opts.TempDir, s.opts.HiddenDirs, s.logger)
	if err != nil {
		return nil, err
	}
	if s.opts.Runner == nil {
		s.opts.Runner = background.New(s.logger)
		s.ownRunner = true
	}
	mem, err := newMemoryControl(s.opts.MemoryLimits, s.logger)
	if err != nil {
		if s.ownRunner {
			s.opts.Runner.Stop()
		}
		return nil, err
	}
	s.run = newRunner(s.opts, s.logger, mem, sb)
	s.opts.Runner.Go(asyncUnit, s.runAsync)
	if opts.Roles != nil {
		if opts.Router == nil {
			return nil, errors.New("lambda: Options.Roles needs Options.Router")
		}
		s.roles = newRoleClients(opts.Router)
	}
	if err := s.resumeMappings(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops every instance and waits for the invocations in flight
// (their callers get an error). Queued Event invocations stay queued.
func (s *Service) Close() error {
	if s.ownRunner {
		s.opts.Runner.Stop()
	}
	return s.run.close()
}

// Register serves the Lambda operations on r, routed by method and path.
// Operations of the model that Millrace does not offer answer 501.
func (s *Service) Register(r *awsproto.Router) {
	impl := map[string]awsproto.RESTHandler{
		"CreateFunction":                  s.createFunction,
		"GetFunction":                     s.getFunction,
		"GetFunctionConfiguration":        s.getFunctionConfiguration,
		"ListFunctions":                   s.listFunctions,
		"UpdateFunctionConfiguration":     s.updateFunctionConfiguration,
		"UpdateFunctionCode":              s.updateFunctionCode,
		"DeleteFunction":                  s.deleteFunction,
		"Invoke":                          s.invoke,
		"PutFunctionConcurrency":          s.putFunctionConcurrency,
		"GetFunctionConcurrency":          s.getFunctionConcurrency,
		"DeleteFunctionConcurrency":       s.deleteFunctionConcurrency,
		"PutFunctionEventInvokeConfig":    s.putFunctionEventInvokeConfig,
		"UpdateFunctionEventInvokeConfig": s.updateFunctionEventInvokeConfig,
		"GetFunctionEventInvokeConfig":    s.getFunctionEventInvokeConfig,
		"DeleteFunctionEventInvokeConfig": s.deleteFunctionEventInvokeConfig,
		"ListFunctionEventInvokeConfigs":  s.listFunctionEventInvokeConfigs,
		"CreateEventSourceMapping":        s.withStreams(s.createEventSourceMapping),
		"GetEventSourceMapping":           s.withStreams(s.getEventSourceMapping),
		"ListEventSourceMappings":         s.withStreams(s.listEventSourceMappings),
		"UpdateEventSourceMapping":        s.withStreams(s.updateEventSourceMapping),
		"DeleteEventSourceMapping":        s.withStreams(s.deleteEventSourceMapping),
	}
	var routes []awsproto.RESTRoute
	seen := map[string]bool{}
	for _, op := range lambdaapi.Operations {
		pattern := op.Method + " " + awsproto.RESTPath(op.RequestURI)
		if seen[pattern] {
			continue // the model routes some operations by query literals only
		}
		seen[pattern] = true
		h := impl[op.Name]
		if h == nil {
			h = notImplemented(op.Name)
		}
		rt := awsproto.RESTRoute{Operation: op.Name, Method: op.Method, Path: awsproto.RESTPath(op.RequestURI), Handler: h}
		if op.Name == "CreateFunction" || op.Name == "UpdateFunctionCode" {
			rt.MaxBodyBytes = maxCodeBodyBytes
		}
		routes = append(routes, rt)
	}
	r.RegisterREST(SigningName, routes)
}

// withStreams answers the mapping operations only when the service has
// the streams domain to read.
func (s *Service) withStreams(h awsproto.RESTHandler) awsproto.RESTHandler {
	if s.opts.Streams != nil {
		return h
	}
	return func(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
		return nil, awsproto.NewError("ServiceException", "This server runs Lambda without streams: event source mappings are not available.").
			WithStatus(http.StatusInternalServerError).WithCapitalMessage()
	}
}

// notImplemented answers operations Millrace does not offer with 501
// NotImplemented, never a fake success.
func notImplemented(name string) awsproto.RESTHandler {
	return func(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
		return nil, awsproto.NewError("NotImplemented",
			"Millrace does not implement Lambda %s; see docs/lambda.md", name).WithStatus(http.StatusNotImplemented)
	}
}

// lock locks one function of the caller and returns the unlock function.
func (s *Service) lock(account, region, name string) func() {
	k := account + "/" + region + "/" + name
	s.mu.Lock()
	m := s.locks[k]
	if m == nil {
		m = &sync.Mutex{}
		s.locks[k] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func caller(ctx context.Context) (account, region string) {
	info := awsproto.Info(ctx)
	return info.AccountID, info.Region
}

// ---- errors, in Lambda's words and shapes ----

func errNotFound(arn string) error {
	return awsproto.NewError("ResourceNotFoundException", "Function not found: %s", arn).
		WithStatus(http.StatusNotFound).WithCapitalMessage()
}

func errConflict(format string, args ...any) error {
	return awsproto.NewError("ResourceConflictException", format, args...).WithStatus(http.StatusConflict)
}

func errInvalid(format string, args ...any) error {
	return awsproto.NewError("InvalidParameterValueException", format, args...)
}

func errPreconditionFailed(format string, args ...any) error {
	return awsproto.NewError("PreconditionFailedException", format, args...).WithStatus(http.StatusPreconditionFailed)
}

// errTooManyRequests is the throttling error: 429 with the reason.
func errTooManyRequests(reason string) error {
	e := awsproto.NewError("TooManyRequestsException", "Rate Exceeded.").WithStatus(http.StatusTooManyRequests)
	e.Fields = map[string]any{"Reason": reason}
	e.Header = http.Header{"Retry-After": {"1"}}
	return e
}

// decodeJSON decodes a JSON request body into v (SerializationException
// when it is not JSON of the shape). An empty body is an empty object.
func decodeJSON(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	return awsproto.Decode(awsproto.ProtocolJSON, body, v)
}

// validate runs the generated model validation of an input.
func validate(v interface{ Validate() error }) error {
	return v.Validate()
}

// pageQuery reads the MaxItems and Marker of a List request's query.
func pageQuery(q url.Values) (maxItems *int32, marker *string, err error) {
	if q.Has("Marker") {
		marker = awsproto.Ptr(q.Get("Marker"))
	}
	if q.Has("MaxItems") {
		n, err := strconv.ParseInt(q.Get("MaxItems"), 10, 32)
		if err != nil {
			return nil, nil, errInvalid("MaxItems must be an integer: %q", q.Get("MaxItems"))
		}
		maxItems = awsproto.Ptr(int32(n))
	}
	return maxItems, marker, nil
}

// page is a List page's size (size, or MaxItems when smaller) and the
// key its first item follows ("": the first page), from the request's
// validated MaxItems and Marker.
func page(maxItems *int32, marker *string, size int) (int, string, error) {
	if maxItems != nil && int(*maxItems) < size {
		size = int(*maxItems)
	}
	if marker == nil {
		return size, "", nil
	}
	m, err := base64.RawURLEncoding.DecodeString(*marker)
	if err != nil || len(m) == 0 {
		return 0, "", errInvalid("Invalid Marker: %s", *marker)
	}
	return size, string(m), nil
}

// nextMarker is the Marker of the page after the one ending at key.
func nextMarker(key string) *string {
	return awsproto.Ptr(base64.RawURLEncoding.EncodeToString([]byte(key)))
}

// respond encodes out as the JSON body of a response with status.
func respond(status int, out any) (*awsproto.RESTResponse, error) {
	body, err := awsproto.Encode(awsproto.ProtocolJSON, out)
	if err != nil {
		return nil, fmt.Errorf("lambda: encoding the response: %w", err)
	}
	return &awsproto.RESTResponse{Status: status, ContentType: "application/json", Body: body}, nil
}

// storageError turns a catalog failure into an internal error.
func storageError(op string, err error) error {
	if errors.Is(err, storage.ErrClosed) {
		return awsproto.NewError("ServiceException", "The server is stopping.").
			WithStatus(http.StatusServiceUnavailable).WithCapitalMessage()
	}
	return fmt.Errorf("lambda: %s: %w", op, err)
}

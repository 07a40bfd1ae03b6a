package lambda

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/lambda/lambdaapi"
	"github.com/millrace/millrace/internal/storage"
)

// function is a function's definition as stored in the catalog. Its code
// is stored apart (codeKey), so that listing functions reads no zips.
type function struct {
	Account     string `json:"account"`
	Region      string `json:"region"`
	Name        string `json:"name"`
	Runtime     string `json:"runtime"`
	Role        string `json:"role"`
	Handler     string `json:"handler,omitempty"`
	Description string `json:"description,omitempty"`
	Timeout     int32  `json:"timeout"`
	MemorySize  int32  `json:"memorySize"`
	// EphemeralStorage is the size of /tmp in MiB; 0 in functions stored
	// before it was kept (ephemeralMiB).
	EphemeralStorage int32             `json:"ephemeralStorage,omitempty"`
	Env              map[string]string `json:"env,omitempty"`
	Architectures    []string          `json:"architectures"`
	CodeSha256       string            `json:"codeSha256"`
	CodeSize         int64             `json:"codeSize"`
	LastModified     string            `json:"lastModified"`
	RevisionID       string            `json:"revisionId"`
	Reserved         *int32            `json:"reserved,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	// EventInvoke is its EventInvokeConfig; nil: none (the defaults).
	EventInvoke *eventInvokeConfig `json:"eventInvoke,omitempty"`
}

// Defaults and limits of AWS.
const (
	defaultTimeout    = 3
	defaultMemorySize = 128
	maxTimeout        = 900
	maxEnvBytes       = 4096
	maxUnzippedBytes  = 262144000
	lastModifiedFmt   = "2006-01-02T15:04:05.000-0700"
	latest            = "$LATEST"
)

// Runtimes Millrace runs: the OS-only runtimes, whose code is an
// executable bootstrap.
var runtimes = map[string]bool{"provided": true, "provided.al2": true, "provided.al2023": true}

// endpoint reports whether the function is served elsewhere, with no
// code of its own: an HTTP endpoint function (its Handler is the URL its
// invocations are POSTed to) or a remote function (its Handler names a
// function of another Lambda-compatible API).
func (f *function) endpoint() bool {
	ok, _ := endpointHandler(f.Handler)
	return ok
}

func (f *function) arn() string {
	return functionARN(f.Region, f.Account, f.Name)
}

func functionARN(region, account, name string) string {
	return "arn:aws:lambda:" + region + ":" + account + ":function:" + name
}

func fnKey(account, region, name string) string {
	return "lambda/functions/" + account + "/" + region + "/" + name
}

func codeKey(account, region, name string) string {
	return "lambda/code/" + account + "/" + region + "/" + name
}

// configuration renders the definition as the API's FunctionConfiguration.
func (f *function) configuration() lambdaapi.FunctionConfiguration {
	archs := make([]lambdaapi.Architecture, len(f.Architectures))
	for i, a := range f.Architectures {
		archs[i] = lambdaapi.Architecture(a)
	}
	c := lambdaapi.FunctionConfiguration{
		FunctionName:     awsproto.Ptr(f.Name),
		FunctionArn:      awsproto.Ptr(f.arn()),
		Runtime:          awsproto.Ptr(lambdaapi.Runtime(f.Runtime)),
		Role:             awsproto.Ptr(f.Role),
		Timeout:          awsproto.Ptr(f.Timeout),
		MemorySize:       awsproto.Ptr(f.MemorySize),
		CodeSha256:       awsproto.Ptr(f.CodeSha256),
		CodeSize:         awsproto.Ptr(f.CodeSize),
		LastModified:     awsproto.Ptr(f.LastModified),
		Version:          awsproto.Ptr(latest),
		RevisionId:       awsproto.Ptr(f.RevisionID),
		State:            awsproto.Ptr(lambdaapi.StateActive),
		LastUpdateStatus: awsproto.Ptr(lambdaapi.LastUpdateStatusSuccessful),
		PackageType:      awsproto.Ptr(lambdaapi.PackageTypeZip),
		Architectures:    archs,
		Description:      awsproto.Ptr(f.Description),
		TracingConfig:    &lambdaapi.TracingConfigResponse{Mode: awsproto.Ptr(lambdaapi.TracingModePassThrough)},
		EphemeralStorage: &lambdaapi.EphemeralStorage{Size: awsproto.Ptr(f.ephemeralMiB())},
		LoggingConfig: &lambdaapi.LoggingConfig{LogFormat: awsproto.Ptr(lambdaapi.LogFormatText),
			LogGroup: awsproto.Ptr("/aws/lambda/" + f.Name)},
	}
	if f.Handler != "" {
		c.Handler = awsproto.Ptr(f.Handler)
	}
	if len(f.Env) > 0 {
		c.Environment = &lambdaapi.EnvironmentResponse{Variables: f.Env}
	}
	return c
}

// ---- names ----

// ref is a function named in a request: by name, partial or full ARN,
// with an optional qualifier.
type ref struct {
	account, region, name, qualifier string
}

func (r ref) arn() string {
	a := functionARN(r.region, r.account, r.name)
	if r.qualifier != "" {
		a += ":" + r.qualifier
	}
	return a
}

// parseRef resolves a FunctionName member (already checked against the
// model's pattern) for the caller. An ARN of another account or region
// names a function the caller cannot see here: not found.
func parseRef(ctx context.Context, raw string) ref {
	account, region := caller(ctx)
	r := ref{account: account, region: region}
	parts := strings.Split(raw, ":")
	switch {
	case strings.HasPrefix(raw, "arn:") && len(parts) >= 7:
		r.region, r.account, r.name = parts[3], parts[4], parts[6]
		if len(parts) > 7 {
			r.qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function":
		r.account, r.name = parts[0], parts[2]
		if len(parts) > 3 {
			r.qualifier = parts[3]
		}
	default:
		r.name = parts[0]
		if len(parts) > 1 {
			r.qualifier = parts[1]
		}
	}
	return r
}

// visible reports whether the caller may see the function r names here.
func (r ref) visible(ctx context.Context) bool {
	account, region := caller(ctx)
	return r.account == account && r.region == region
}

// ---- catalog ----

func (s *Service) load(ctx context.Context, account, region, name string) (*function, uint64, error) {
	raw, rev, err := s.cat.Get(ctx, fnKey(account, region, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, storageError("reading a function", err)
	}
	var f function
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, 0, fmt.Errorf("lambda: function %s in the catalog: %w", name, err)
	}
	return &f, rev, nil
}

// lookup loads the function r names, or returns ResourceNotFoundException.
// Only $LATEST exists (Millrace publishes no versions).
func (s *Service) lookup(ctx context.Context, r ref) (*function, uint64, error) {
	if !r.visible(ctx) || (r.qualifier != "" && r.qualifier != latest) {
		return nil, 0, errNotFound(r.arn())
	}
	f, rev, err := s.load(ctx, r.account, r.region, r.name)
	if err != nil {
		return nil, 0, err
	}
	if f == nil {
		return nil, 0, errNotFound(r.arn())
	}
	return f, rev, nil
}

func (s *Service) store(ctx context.Context, f *function, rev uint64) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if _, err := s.cat.Put(ctx, fnKey(f.Account, f.Region, f.Name), raw, rev); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return errConflict("The operation cannot be performed at this time. An update is in progress for resource: %s", f.arn())
		}
		return storageError("storing a function", err)
	}
	return nil
}

// putCode stores a function's zip, replacing any it had.
func (s *Service) putCode(ctx context.Context, account, region, name string, zip []byte) error {
	key := codeKey(account, region, name)
	_, rev, err := s.cat.Get(ctx, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storageError("reading function code", err)
	}
	if _, err := s.cat.Put(ctx, key, zip, rev); err != nil {
		return storageError("storing function code", err)
	}
	return nil
}

// code reads a function's zip.
func (s *Service) code(ctx context.Context, f *function) ([]byte, error) {
	raw, _, err := s.cat.Get(ctx, codeKey(f.Account, f.Region, f.Name))
	if err != nil {
		return nil, storageError("reading function code", err)
	}
	return raw, nil
}

func newRevisionID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Service) lastModified() string {
	return s.now().UTC().Format(lastModifiedFmt)
}

// ---- checks shared by create and update ----

func checkEnv(vars map[string]string) error {
	var reserved []string
	size := 0
	for k, v := range vars {
		size += len(k) + len(v)
		if reservedEnv[k] {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		sort.Strings(reserved)
		return errInvalid("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	if size > maxEnvBytes {
		return errInvalid("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", envString(vars))
	}
	return nil
}

func envString(vars map[string]string) string {
	b, _ := json.Marshal(vars)
	return string(b)
}

// reservedEnv are the variables Lambda sets and users may not.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true,
	"LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

func checkRuntime(rt string) error {
	if !runtimes[rt] {
		return errInvalid("Millrace runs only the OS-only runtimes (provided.al2023, provided.al2, provided), whose code is a zip with an executable bootstrap; runtime %s is not available. See docs/lambda.md", rt)
	}
	return nil
}

func checkTimeout(t int32) error {
	if t > maxTimeout {
		return errInvalid("Timeout value %d exceeds the maximum of %d seconds.", t, maxTimeout)
	}
	return nil
}

// endpointHandler reports whether handler makes the function an HTTP
// endpoint function (an http:// or https:// URL) or a remote function (a
// lambda+http:// or lambda+https:// URL), and checks such a URL.
func endpointHandler(handler string) (bool, error) {
	if isRemoteHandler(handler) {
		if _, err := parseRemote(handler); err != nil {
			return false, err
		}
		return true, nil
	}
	if !strings.HasPrefix(handler, "http://") && !strings.HasPrefix(handler, "https://") {
		return false, nil
	}
	u, err := url.Parse(handler)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return false, errInvalid("The Handler %s is not a usable endpoint URL: give http(s)://host[:port]/path, without credentials or fragment.", handler)
	}
	return true, nil
}

// checkRole accepts an IAM role ARN, as Lambda requires one.
func checkRole(role string) error {
	if !strings.HasPrefix(role, "arn:") || !strings.Contains(role, ":role/") {
		return errInvalid("The role defined for the function cannot be assumed by Lambda.")
	}
	return nil
}

// ---- operations ----

func (s *Service) createFunction(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.CreateFunctionRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	if err := validate(&in); err != nil {
		return nil, err
	}
	r := parseRef(ctx, *in.FunctionName)
	if r.qualifier != "" || !r.visible(ctx) {
		return nil, errInvalid("The function name %s is not valid for CreateFunction: give a name without a qualifier, in your own account and region.", *in.FunctionName)
	}
	if len(r.name) > 64 {
		return nil, errInvalid("Function name %s exceeds 64 characters.", r.name)
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:CreateFunction", Resource: r.arn(), RequestTags: in.Tags}); err != nil {
		return nil, err
	}
	if in.PackageType != nil && *in.PackageType == lambdaapi.PackageTypeImage {
		return nil, errInvalid("Millrace does not run container images; give Code.ZipFile with an executable bootstrap. See docs/lambda.md")
	}
	if in.Publish != nil && *in.Publish {
		return nil, errInvalid("Millrace does not publish function versions; create the function without Publish (only $LATEST exists). See docs/lambda.md")
	}
	if len(in.Layers) > 0 {
		return nil, errInvalid("Millrace does not offer layers; put everything the function needs in its zip. See docs/lambda.md")
	}
	if in.Runtime == nil {
		return nil, errInvalid("Runtime is required for .zip deployment packages.")
	}
	if err := checkRuntime(string(*in.Runtime)); err != nil {
		return nil, err
	}
	if err := checkRole(*in.Role); err != nil {
		return nil, err
	}
	if in.Code.S3Bucket != nil || in.Code.S3Key != nil || in.Code.ImageUri != nil {
		return nil, errInvalid("Millrace takes function code only as Code.ZipFile (S3 and images are not available). See docs/lambda.md")
	}
	endpoint, err := endpointHandler(awsproto.Value(in.Handler))
	if err != nil {
		return nil, err
	}
	switch {
	case endpoint && len(in.Code.ZipFile) > 0:
		return nil, errInvalid("A function whose Handler is a URL is served by that endpoint and takes no code: leave Code.ZipFile out. See docs/lambda.md")
	case !endpoint && len(in.Code.ZipFile) == 0:
		return nil, errInvalid("Please provide a source for function code.")
	case !endpoint:
		if err := checkZip(in.Code.ZipFile); err != nil {
			return nil, err
		}
	}
	f := &function{
		Account: r.account, Region: r.region, Name: r.name,
		Runtime: string(*in.Runtime), Role: *in.Role,
		Handler: awsproto.Value(in.Handler), Description: awsproto.Value(in.Description),
		Timeout: defaultTimeout, MemorySize: defaultMemorySize, EphemeralStorage: defaultEphemeralMiB,
		Architectures: []string{"x86_64"}, Tags: in.Tags,
		LastModified: s.lastModified(), RevisionID: newRevisionID(),
	}
	if in.Timeout != nil {
		if err := checkTimeout(*in.Timeout); err != nil {
			return nil, err
		}
		f.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		f.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil && in.EphemeralStorage.Size != nil {
		// Size is required and within 512–10,240 (validate).
		f.EphemeralStorage = *in.EphemeralStorage.Size
	}
	if len(in.Architectures) > 0 {
		f.Architectures = []string{string(in.Architectures[0])}
	}
	if in.Environment != nil {
		if err := checkEnv(in.Environment.Variables); err != nil {
			return nil, err
		}
		f.Env = in.Environment.Variables
	}
	sum := sha256.Sum256(in.Code.ZipFile)
	f.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	f.CodeSize = int64(len(in.Code.ZipFile))

	defer s.lock(r.account, r.region, r.name)()
	if old, _, err := s.load(ctx, r.account, r.region, r.name); err != nil {
		return nil, err
	} else if old != nil {
		return nil, errConflict("Function already exist: %s", r.name)
	}
	// The code first: a definition is never stored without its code.
	if !endpoint {
		if err := s.putCode(ctx, r.account, r.region, r.name, in.Code.ZipFile); err != nil {
			return nil, err
		}
	}
	if err := s.store(ctx, f, 0); err != nil {
		return nil, err
	}
	return respond(http.StatusCreated, f.configuration())
}

// functionRef binds and checks the FunctionName path label and the
// Qualifier query parameter of a request.
func functionRef(ctx context.Context, req *awsproto.RESTRequest, qualifier bool) (ref, error) {
	name := req.HTTP.PathValue("FunctionName")
	var q *string
	if qualifier && req.HTTP.URL.Query().Has("Qualifier") {
		q = awsproto.Ptr(req.HTTP.URL.Query().Get("Qualifier"))
	}
	in := lambdaapi.GetFunctionRequest{FunctionName: &name, Qualifier: q}
	if err := validate(&in); err != nil {
		return ref{}, err
	}
	r := parseRef(ctx, name)
	if q != nil {
		r.qualifier = *q
	}
	return r, nil
}

func (s *Service) getFunction(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	r, err := functionRef(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:GetFunction", Resource: r.arn()}); err != nil {
		return nil, err
	}
	f, _, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	cfg := f.configuration()
	out := lambdaapi.GetFunctionResponse{
		Configuration: &cfg,
		// Millrace has no S3 to hand the code out from.
		Code: &lambdaapi.FunctionCodeLocation{RepositoryType: awsproto.Ptr("S3"),
			Location: awsproto.Ptr("millrace://lambda/code/" + f.Name + "?sha256=" + f.CodeSha256)},
	}
	if len(f.Tags) > 0 {
		out.Tags = f.Tags
	}
	if f.Reserved != nil {
		out.Concurrency = &lambdaapi.Concurrency{ReservedConcurrentExecutions: f.Reserved}
	}
	return respond(http.StatusOK, out)
}

func (s *Service) getFunctionConfiguration(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	r, err := functionRef(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:GetFunctionConfiguration", Resource: r.arn()}); err != nil {
		return nil, err
	}
	f, _, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	return respond(http.StatusOK, f.configuration())
}

// listPageSize is how many functions a page holds at most: "up to 50".
const listPageSize = 50

func (s *Service) listFunctions(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	q := req.HTTP.URL.Query()
	var in lambdaapi.ListFunctionsRequest
	var err error
	if in.MaxItems, in.Marker, err = pageQuery(q); err != nil {
		return nil, err
	}
	if q.Has("FunctionVersion") {
		in.FunctionVersion = awsproto.Ptr(lambdaapi.FunctionVersion(q.Get("FunctionVersion")))
	}
	if q.Has("MasterRegion") {
		in.MasterRegion = awsproto.Ptr(q.Get("MasterRegion"))
	}
	if err := validate(&in); err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:ListFunctions", Resource: "*"}); err != nil {
		return nil, err
	}
	limit, after, err := page(in.MaxItems, in.Marker, listPageSize)
	if err != nil {
		return nil, err
	}
	account, region := caller(ctx)
	prefix := fnKey(account, region, "")
	kvs, err := s.cat.List(ctx, prefix)
	if err != nil {
		return nil, storageError("listing functions", err)
	}
	out := lambdaapi.ListFunctionsResponse{Functions: []lambdaapi.FunctionConfiguration{}}
	for _, kv := range kvs {
		name := strings.TrimPrefix(kv.Key, prefix)
		if name <= after {
			continue
		}
		if len(out.Functions) == limit {
			out.NextMarker = nextMarker(*out.Functions[len(out.Functions)-1].FunctionName)
			break
		}
		var f function
		if err := json.Unmarshal(kv.Value, &f); err != nil {
			return nil, fmt.Errorf("lambda: function %s in the catalog: %w", name, err)
		}
		out.Functions = append(out.Functions, f.configuration())
	}
	return respond(http.StatusOK, out)
}

func (s *Service) updateFunctionConfiguration(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.UpdateFunctionConfigurationRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	in.FunctionName = awsproto.Ptr(req.HTTP.PathValue("FunctionName"))
	if err := validate(&in); err != nil {
		return nil, err
	}
	r := parseRef(ctx, *in.FunctionName)
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:UpdateFunctionConfiguration", Resource: r.arn()}); err != nil {
		return nil, err
	}
	if r.qualifier != "" {
		return nil, errInvalid("Qualifiers are not allowed in UpdateFunctionConfiguration: %s", *in.FunctionName)
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if in.RevisionId != nil && *in.RevisionId != f.RevisionID {
		return nil, errPreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	}
	if len(in.Layers) > 0 {
		return nil, errInvalid("Millrace does not offer layers; put everything the function needs in its zip. See docs/lambda.md")
	}
	if in.Runtime != nil {
		if err := checkRuntime(string(*in.Runtime)); err != nil {
			return nil, err
		}
		f.Runtime = string(*in.Runtime)
	}
	if in.Role != nil {
		if err := checkRole(*in.Role); err != nil {
			return nil, err
		}
		f.Role = *in.Role
	}
	if in.Timeout != nil {
		if err := checkTimeout(*in.Timeout); err != nil {
			return nil, err
		}
		f.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		f.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil && in.EphemeralStorage.Size != nil {
		// Size is required and within 512–10,240 (validate).
		f.EphemeralStorage = *in.EphemeralStorage.Size
	}
	if in.Handler != nil {
		endpoint, err := endpointHandler(*in.Handler)
		if err != nil {
			return nil, err
		}
		if !endpoint && f.CodeSize == 0 {
			return nil, errInvalid("The function has no code (its Handler was a URL); give it a zip with UpdateFunctionCode before a Handler that is not a URL.")
		}
		f.Handler = *in.Handler
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.Environment != nil {
		if err := checkEnv(in.Environment.Variables); err != nil {
			return nil, err
		}
		f.Env = in.Environment.Variables
	}
	f.LastModified, f.RevisionID = s.lastModified(), newRevisionID()
	if err := s.store(ctx, f, rev); err != nil {
		return nil, err
	}
	// Warm instances run the old configuration: they retire.
	s.run.retire(f.Account, f.Region, f.Name)
	return respond(http.StatusOK, f.configuration())
}

func (s *Service) updateFunctionCode(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.UpdateFunctionCodeRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	in.FunctionName = awsproto.Ptr(req.HTTP.PathValue("FunctionName"))
	if err := validate(&in); err != nil {
		return nil, err
	}
	r := parseRef(ctx, *in.FunctionName)
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:UpdateFunctionCode", Resource: r.arn()}); err != nil {
		return nil, err
	}
	if in.S3Bucket != nil || in.S3Key != nil || in.ImageUri != nil {
		return nil, errInvalid("Millrace takes function code only as ZipFile (S3 and images are not available). See docs/lambda.md")
	}
	if len(in.ZipFile) == 0 {
		return nil, errInvalid("Please provide a source for function code.")
	}
	if err := checkZip(in.ZipFile); err != nil {
		return nil, err
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if in.RevisionId != nil && *in.RevisionId != f.RevisionID {
		return nil, errPreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	}
	if in.Publish != nil && *in.Publish {
		return nil, errInvalid("Millrace does not publish function versions; update the code without Publish (only $LATEST exists). See docs/lambda.md")
	}
	if f.endpoint() {
		return nil, errInvalid("The function's Handler is a URL: it is served by that endpoint and takes no code. Change its Handler first. See docs/lambda.md")
	}
	if in.DryRun != nil && *in.DryRun {
		return respond(http.StatusOK, f.configuration())
	}
	if err := s.putCode(ctx, f.Account, f.Region, f.Name, in.ZipFile); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in.ZipFile)
	f.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	f.CodeSize = int64(len(in.ZipFile))
	f.LastModified, f.RevisionID = s.lastModified(), newRevisionID()
	if err := s.store(ctx, f, rev); err != nil {
		return nil, err
	}
	s.run.retire(f.Account, f.Region, f.Name)
	return respond(http.StatusOK, f.configuration())
}

func (s *Service) deleteFunction(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	r, err := functionRef(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:DeleteFunction", Resource: r.arn()}); err != nil {
		return nil, err
	}
	if r.qualifier == latest {
		return nil, errInvalid("$LATEST version cannot be deleted without deleting the function.")
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := s.cat.Delete(ctx, fnKey(f.Account, f.Region, f.Name), rev); err != nil {
		return nil, storageError("deleting a function", err)
	}
	ck := codeKey(f.Account, f.Region, f.Name)
	if _, crev, err := s.cat.Get(ctx, ck); err == nil {
		if err := s.cat.Delete(ctx, ck, crev); err != nil {
			s.logger.Warn("deleting function code", "function", f.Name, "err", err)
		}
	}
	s.run.remove(f.Account, f.Region, f.Name)
	s.stats.dropFunction(f.Account, f.Region, f.Name)
	return &awsproto.RESTResponse{Status: http.StatusNoContent}, nil
}

func (s *Service) putFunctionConcurrency(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.PutFunctionConcurrencyRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	in.FunctionName = awsproto.Ptr(req.HTTP.PathValue("FunctionName"))
	if err := validate(&in); err != nil {
		return nil, err
	}
	r := parseRef(ctx, *in.FunctionName)
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:PutFunctionConcurrency", Resource: r.arn()}); err != nil {
		return nil, err
	}
	if int(*in.ReservedConcurrentExecutions) > s.opts.Concurrency {
		return nil, errInvalid("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [0].")
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	f.Reserved = in.ReservedConcurrentExecutions
	if err := s.store(ctx, f, rev); err != nil {
		return nil, err
	}
	return respond(http.StatusOK, lambdaapi.Concurrency{ReservedConcurrentExecutions: f.Reserved})
}

func (s *Service) getFunctionConcurrency(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	r, err := functionRef(ctx, req, false)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:GetFunctionConcurrency", Resource: r.arn()}); err != nil {
		return nil, err
	}
	f, _, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	return respond(http.StatusOK, lambdaapi.GetFunctionConcurrencyResponse{ReservedConcurrentExecutions: f.Reserved})
}

func (s *Service) deleteFunctionConcurrency(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	r, err := functionRef(ctx, req, false)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:DeleteFunctionConcurrency", Resource: r.arn()}); err != nil {
		return nil, err
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	f.Reserved = nil
	if err := s.store(ctx, f, rev); err != nil {
		return nil, err
	}
	return &awsproto.RESTResponse{Status: http.StatusNoContent}, nil
}

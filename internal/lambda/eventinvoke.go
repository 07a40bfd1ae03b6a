package lambda

import (
	"context"
	"net/http"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/lambda/lambdaapi"
)

// Asynchronous invocation settings (EventInvokeConfig): how often an
// Event invocation that ends in a function error is tried again, and how
// old an event may get before it is dropped. They are stored in the
// function's definition, so that they go with it.

// AWS's defaults when a function has no EventInvokeConfig, or one that
// leaves a member out.
const (
	defaultRetryAttempts = 2
	defaultMaxEventAge   = 21600 // seconds
)

// eventInvokeConfig is a function's stored EventInvokeConfig; a nil
// member is left out (the default applies).
type eventInvokeConfig struct {
	MaxRetryAttempts *int32    `json:"maxRetryAttempts,omitempty"`
	MaxEventAge      *int32    `json:"maxEventAge,omitempty"`
	LastModified     time.Time `json:"lastModified"`
}

// retryAttempts is how many times f's failed Event invocations are tried
// again.
func (f *function) retryAttempts() int {
	if f.EventInvoke != nil && f.EventInvoke.MaxRetryAttempts != nil {
		return int(*f.EventInvoke.MaxRetryAttempts)
	}
	return defaultRetryAttempts
}

// maxEventAge is how long f's Event invocations may wait in the queue.
func (f *function) maxEventAge() time.Duration {
	if f.EventInvoke != nil && f.EventInvoke.MaxEventAge != nil {
		return time.Duration(*f.EventInvoke.MaxEventAge) * time.Second
	}
	return defaultMaxEventAge * time.Second
}

func (f *function) eventInvokeOutput() lambdaapi.FunctionEventInvokeConfig {
	c := f.EventInvoke
	return lambdaapi.FunctionEventInvokeConfig{
		FunctionArn:              awsproto.Ptr(f.arn() + ":" + latest),
		LastModified:             awsproto.TimestampPtr(c.LastModified),
		MaximumRetryAttempts:     c.MaxRetryAttempts,
		MaximumEventAgeInSeconds: c.MaxEventAge,
		// No destinations: Lambda answers them as empty objects.
		DestinationConfig: &lambdaapi.DestinationConfig{OnSuccess: &lambdaapi.OnSuccess{}, OnFailure: &lambdaapi.OnFailure{}},
	}
}

// errNoEventInvokeConfig names the function by its qualified ARN
// ($LATEST when the request gave no qualifier), as Lambda does.
func errNoEventInvokeConfig(r ref) error {
	if r.qualifier == "" {
		r.qualifier = latest
	}
	return awsproto.NewError("ResourceNotFoundException", "The function %s doesn't have an EventInvokeConfig", r.arn()).
		WithStatus(http.StatusNotFound).WithCapitalMessage()
}

// checkDestinations refuses destinations: Millrace sends an Event
// invocation's outcome nowhere but its log.
func checkDestinations(d *lambdaapi.DestinationConfig) error {
	if d == nil {
		return nil
	}
	if d.OnSuccess != nil && d.OnSuccess.Destination != nil && *d.OnSuccess.Destination != "" {
		return errInvalid("DestinationConfig.OnSuccess: Millrace does not support destinations for asynchronous invocations (%s)", *d.OnSuccess.Destination)
	}
	if d.OnFailure != nil && d.OnFailure.Destination != nil && *d.OnFailure.Destination != "" {
		return errInvalid("DestinationConfig.OnFailure: Millrace does not support destinations for asynchronous invocations (%s)", *d.OnFailure.Destination)
	}
	return nil
}

// eventInvokeRef binds a request's FunctionName label and Qualifier query
// parameter.
func eventInvokeRef(ctx context.Context, req *awsproto.RESTRequest, in interface {
	Validate() error
}, name, qualifier **string) (ref, error) {
	*name = awsproto.Ptr(req.HTTP.PathValue("FunctionName"))
	if q := req.HTTP.URL.Query(); q.Has("Qualifier") {
		*qualifier = awsproto.Ptr(q.Get("Qualifier"))
	}
	if err := validate(in); err != nil {
		return ref{}, err
	}
	r := parseRef(ctx, **name)
	if *qualifier != nil {
		r.qualifier = **qualifier
	}
	return r, nil
}

// setEventInvokeConfig serves Put (replace: replace the whole config) and
// Update (merge the members given into the config, which must exist).
func (s *Service) setEventInvokeConfig(ctx context.Context, req *awsproto.RESTRequest, replace bool) (*awsproto.RESTResponse, error) {
	var in lambdaapi.PutFunctionEventInvokeConfigRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	action := "lambda:PutFunctionEventInvokeConfig"
	var r ref
	var err error
	if replace {
		r, err = eventInvokeRef(ctx, req, &in, &in.FunctionName, &in.Qualifier)
	} else {
		action = "lambda:UpdateFunctionEventInvokeConfig"
		up := lambdaapi.UpdateFunctionEventInvokeConfigRequest{DestinationConfig: in.DestinationConfig,
			MaximumEventAgeInSeconds: in.MaximumEventAgeInSeconds, MaximumRetryAttempts: in.MaximumRetryAttempts}
		r, err = eventInvokeRef(ctx, req, &up, &up.FunctionName, &up.Qualifier)
	}
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: action, Resource: r.arn()}); err != nil {
		return nil, err
	}
	if err := checkDestinations(in.DestinationConfig); err != nil {
		return nil, err
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	c := &eventInvokeConfig{}
	if !replace {
		if f.EventInvoke == nil {
			return nil, errNoEventInvokeConfig(r)
		}
		*c = *f.EventInvoke
	}
	if replace || in.MaximumRetryAttempts != nil {
		c.MaxRetryAttempts = in.MaximumRetryAttempts
	}
	if replace || in.MaximumEventAgeInSeconds != nil {
		c.MaxEventAge = in.MaximumEventAgeInSeconds
	}
	c.LastModified = s.now()
	f.EventInvoke = c
	if err := s.store(ctx, f, rev); err != nil {
		return nil, err
	}
	return respond(http.StatusOK, f.eventInvokeOutput())
}

func (s *Service) putFunctionEventInvokeConfig(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	return s.setEventInvokeConfig(ctx, req, true)
}

func (s *Service) updateFunctionEventInvokeConfig(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	return s.setEventInvokeConfig(ctx, req, false)
}

func (s *Service) getFunctionEventInvokeConfig(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.GetFunctionEventInvokeConfigRequest
	r, err := eventInvokeRef(ctx, req, &in, &in.FunctionName, &in.Qualifier)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:GetFunctionEventInvokeConfig", Resource: r.arn()}); err != nil {
		return nil, err
	}
	f, _, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if f.EventInvoke == nil {
		return nil, errNoEventInvokeConfig(r)
	}
	return respond(http.StatusOK, f.eventInvokeOutput())
}

func (s *Service) deleteFunctionEventInvokeConfig(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.DeleteFunctionEventInvokeConfigRequest
	r, err := eventInvokeRef(ctx, req, &in, &in.FunctionName, &in.Qualifier)
	if err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:DeleteFunctionEventInvokeConfig", Resource: r.arn()}); err != nil {
		return nil, err
	}
	defer s.lock(r.account, r.region, r.name)()
	f, rev, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	if f.EventInvoke == nil {
		return nil, errNoEventInvokeConfig(r)
	}
	f.EventInvoke = nil
	if err := s.store(ctx, f, rev); err != nil {
		return nil, err
	}
	return &awsproto.RESTResponse{Status: http.StatusNoContent}, nil
}

// listFunctionEventInvokeConfigs lists the function's configs: at most
// one, $LATEST's (Millrace publishes no versions or aliases).
func (s *Service) listFunctionEventInvokeConfigs(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	maxItems, marker, err := pageQuery(req.HTTP.URL.Query())
	if err != nil {
		return nil, err
	}
	in := lambdaapi.ListFunctionEventInvokeConfigsRequest{FunctionName: awsproto.Ptr(req.HTTP.PathValue("FunctionName")),
		MaxItems: maxItems, Marker: marker}
	if err := validate(&in); err != nil {
		return nil, err
	}
	r := parseRef(ctx, *in.FunctionName)
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:ListFunctionEventInvokeConfigs", Resource: r.arn()}); err != nil {
		return nil, err
	}
	// A Marker names a page after the first, which held the one config.
	_, after, err := page(maxItems, marker, 50)
	if err != nil {
		return nil, err
	}
	f, _, err := s.lookup(ctx, r)
	if err != nil {
		return nil, err
	}
	out := lambdaapi.ListFunctionEventInvokeConfigsResponse{FunctionEventInvokeConfigs: []lambdaapi.FunctionEventInvokeConfig{}}
	if f.EventInvoke != nil && after == "" {
		out.FunctionEventInvokeConfigs = append(out.FunctionEventInvokeConfigs, f.eventInvokeOutput())
	}
	return respond(http.StatusOK, out)
}

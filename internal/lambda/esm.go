package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/lambda/lambdaapi"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// StreamSource is what event source mappings need of the streams domain:
// they read shards as any consumer does and write on-failure records to a
// stream. *streams.Streams is one.
type StreamSource interface {
	Describe(ref streams.StreamRef) (*streams.Stream, error)
	GetShardIterator(ctx context.Context, p streams.IteratorParams) (string, error)
	GetRecords(ctx context.Context, shardIterator string, limit int) (*streams.GetRecordsResult, error)
	PutRecord(ctx context.Context, ref streams.StreamRef, e streams.PutEntry, sequenceNumberForOrdering string) (streams.PutResult, string, error)
	AppendSignal(ref streams.StreamRef, shardID string) (<-chan struct{}, error)
	// Mappings on a consumer's ARN read through its subscriptions.
	DescribeConsumer(ref streams.ConsumerRef) (streams.ConsumerInfo, error)
	Subscribe(ctx context.Context, p streams.SubscribeParams) (*streams.Subscription, error)
}

var _ StreamSource = (*streams.Streams)(nil)

// Mapping states, as the API shows them.
const (
	stateCreating  = "Creating"
	stateEnabling  = "Enabling"
	stateEnabled   = "Enabled"
	stateDisabling = "Disabling"
	stateDisabled  = "Disabled"
	stateUpdating  = "Updating"
	stateDeleting  = "Deleting"
)

// Defaults and limits of Kinesis event source mappings.
const (
	defaultBatchSize   = 100
	minRecordAge       = 60
	esmListPageSize    = 100
	userAction         = "User action"
	noRecordsProcessed = "No records processed"
)

// mapping is an event source mapping as stored in the catalog
// (esmKey). Its progress is stored apart, one checkpoint per shard
// (checkpointKey), so that the definition changes only through the API.
type mapping struct {
	UUID           string `json:"uuid"`
	Account        string `json:"account"`
	Region         string `json:"region"`
	FunctionName   string `json:"functionName"`
	EventSourceArn string `json:"eventSourceArn"`
	State          string `json:"state"`
	// CreatedAt (ms) is where LATEST starts: a shard first read after a
	// restart still starts at the records put after the mapping was made.
	CreatedAt                 int64             `json:"createdAt"`
	LastModified              int64             `json:"lastModified"` // ms
	StateTransitionReason     string            `json:"stateTransitionReason"`
	LastProcessingResult      string            `json:"lastProcessingResult"`
	BatchSize                 int32             `json:"batchSize"`
	Window                    int32             `json:"window"`
	StartingPosition          string            `json:"startingPosition"`
	StartingPositionTimestamp int64             `json:"startingPositionTimestamp,omitempty"` // ms
	ParallelizationFactor     int32             `json:"parallelizationFactor"`
	Bisect                    bool              `json:"bisect"`
	MaximumRetryAttempts      int32             `json:"maximumRetryAttempts"`
	MaximumRecordAge          int32             `json:"maximumRecordAge"`
	ReportBatchItemFailures   bool              `json:"reportBatchItemFailures"`
	OnFailure                 string            `json:"onFailure,omitempty"`
	TumblingWindow            int32             `json:"tumblingWindow,omitempty"`
	Filters                   []string          `json:"filters,omitempty"`
	Tags                      map[string]string `json:"tags,omitempty"`
	Metrics                   []string          `json:"metrics,omitempty"`
}

func esmKey(uuid string) string { return "lambda/esm/" + uuid }

func checkpointPrefix(uuid string) string { return "lambda/esm-checkpoints/" + uuid + "/" }

func checkpointKey(uuid, shardID string) string { return checkpointPrefix(uuid) + shardID }

func (m *mapping) functionArn() string {
	return functionARN(m.Region, m.Account, m.FunctionName)
}

// streamArn is the ARN of the stream the mapping reads: its
// EventSourceArn, or the stream of the consumer that ARN names. Events and
// on-failure records name the stream, as Lambda's do.
func (m *mapping) streamArn() string {
	if i := strings.Index(m.EventSourceArn, "/consumer/"); i >= 0 {
		return m.EventSourceArn[:i]
	}
	return m.EventSourceArn
}

// viaConsumer reports whether the mapping reads through an enhanced
// fan-out consumer (its EventSourceArn is a consumer's ARN).
func (m *mapping) viaConsumer() bool { return streams.IsConsumerARN(m.EventSourceArn) }

func (m *mapping) arn() string {
	return "arn:aws:lambda:" + m.Region + ":" + m.Account + ":event-source-mapping:" + m.UUID
}

// configuration renders the mapping as the API's
// EventSourceMappingConfiguration.
func (m *mapping) configuration() lambdaapi.EventSourceMappingConfiguration {
	c := lambdaapi.EventSourceMappingConfiguration{
		UUID:                           awsproto.Ptr(m.UUID),
		EventSourceMappingArn:          awsproto.Ptr(m.arn()),
		EventSourceArn:                 awsproto.Ptr(m.EventSourceArn),
		FunctionArn:                    awsproto.Ptr(m.functionArn()),
		State:                          awsproto.Ptr(m.State),
		StateTransitionReason:          awsproto.Ptr(m.StateTransitionReason),
		LastProcessingResult:           awsproto.Ptr(m.LastProcessingResult),
		LastModified:                   awsproto.TimestampPtr(time.UnixMilli(m.LastModified)),
		BatchSize:                      awsproto.Ptr(m.BatchSize),
		MaximumBatchingWindowInSeconds: awsproto.Ptr(m.Window),
		StartingPosition:               awsproto.Ptr(lambdaapi.EventSourcePosition(m.StartingPosition)),
		ParallelizationFactor:          awsproto.Ptr(m.ParallelizationFactor),
		BisectBatchOnFunctionError:     awsproto.Ptr(m.Bisect),
		MaximumRetryAttempts:           awsproto.Ptr(m.MaximumRetryAttempts),
		MaximumRecordAgeInSeconds:      awsproto.Ptr(m.MaximumRecordAge),
		TumblingWindowInSeconds:        awsproto.Ptr(m.TumblingWindow),
		FunctionResponseTypes:          []lambdaapi.FunctionResponseType{},
		DestinationConfig:              &lambdaapi.DestinationConfig{OnFailure: &lambdaapi.OnFailure{}},
	}
	if m.StartingPositionTimestamp != 0 {
		c.StartingPositionTimestamp = awsproto.TimestampPtr(time.UnixMilli(m.StartingPositionTimestamp))
	}
	if m.ReportBatchItemFailures {
		c.FunctionResponseTypes = []lambdaapi.FunctionResponseType{lambdaapi.FunctionResponseTypeReportBatchItemFailures}
	}
	if m.OnFailure != "" {
		c.DestinationConfig.OnFailure.Destination = awsproto.Ptr(m.OnFailure)
	}
	if len(m.Filters) > 0 {
		c.FilterCriteria = &lambdaapi.FilterCriteria{}
		for _, p := range m.Filters {
			c.FilterCriteria.Filters = append(c.FilterCriteria.Filters, lambdaapi.Filter{Pattern: awsproto.Ptr(p)})
		}
	}
	if len(m.Metrics) > 0 {
		c.MetricsConfig = &lambdaapi.EventSourceMappingMetricsConfig{}
		for _, x := range m.Metrics {
			c.MetricsConfig.Metrics = append(c.MetricsConfig.Metrics, lambdaapi.EventSourceMappingMetric(x))
		}
	}
	return c
}

// esmConfig is the mapping's configuration with its last processing
// result.
func (s *Service) esmConfig(ctx context.Context, m *mapping) lambdaapi.EventSourceMappingConfiguration {
	c := *m
	c.LastProcessingResult = s.processingResult(ctx, m)
	return c.configuration()
}

// ---- errors ----

func errMappingNotFound() error {
	return awsproto.NewError("ResourceNotFoundException", "The resource you requested does not exist.").
		WithStatus(http.StatusNotFound).WithCapitalMessage()
}

func errInUse(format string, args ...any) error {
	return awsproto.NewError("ResourceInUseException", format, args...).WithCapitalMessage()
}

// ---- catalog ----

func (s *Service) loadMapping(ctx context.Context, uuid string) (*mapping, uint64, error) {
	raw, rev, err := s.cat.Get(ctx, esmKey(uuid))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, storageError("reading an event source mapping", err)
	}
	var m mapping
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, fmt.Errorf("lambda: event source mapping %s in the catalog: %w", uuid, err)
	}
	return &m, rev, nil
}

// lookupMapping loads a mapping the caller can see, or returns
// ResourceNotFoundException.
func (s *Service) lookupMapping(ctx context.Context, uuid string) (*mapping, uint64, error) {
	m, rev, err := s.loadMapping(ctx, uuid)
	if err != nil {
		return nil, 0, err
	}
	account, region := caller(ctx)
	if m == nil || m.Account != account || m.Region != region {
		return nil, 0, errMappingNotFound()
	}
	return m, rev, nil
}

func (s *Service) storeMapping(ctx context.Context, m *mapping, rev uint64) (uint64, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	nrev, err := s.cat.Put(ctx, esmKey(m.UUID), raw, rev)
	if errors.Is(err, storage.ErrConflict) {
		return 0, errConflict("The operation cannot be performed at this time. The event source mapping %s is being modified by another request.", m.UUID)
	}
	if err != nil {
		return 0, storageError("storing an event source mapping", err)
	}
	return nrev, nil
}

func (s *Service) allMappings(ctx context.Context) ([]*mapping, error) {
	kvs, err := s.cat.List(ctx, "lambda/esm/")
	if err != nil {
		return nil, storageError("listing event source mappings", err)
	}
	out := make([]*mapping, 0, len(kvs))
	for _, kv := range kvs {
		var m mapping
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return nil, fmt.Errorf("lambda: event source mapping %s in the catalog: %w", kv.Key, err)
		}
		out = append(out, &m)
	}
	return out, nil
}

// ---- checks shared by create and update ----

// unsupportedSource rejects the members of sources other than Kinesis.
func unsupportedSource(kafka, docdb, self, scaling, provisioned, logging bool, sac int) error {
	switch {
	case kafka || self:
		return errInvalid("Millrace's event source mappings read Kinesis streams only; Kafka settings are not available. See docs/lambda.md")
	case docdb:
		return errInvalid("Millrace's event source mappings read Kinesis streams only; DocumentDB settings are not available. See docs/lambda.md")
	case scaling:
		return errInvalid("ScalingConfig is only supported for Amazon SQS event sources.")
	case provisioned:
		return errInvalid("ProvisionedPollerConfig is not supported for Kinesis event sources.")
	case logging:
		return errInvalid("LoggingConfig is not supported for Kinesis event sources.")
	case sac > 0:
		return errInvalid("SourceAccessConfigurations are not supported for Kinesis event sources.")
	}
	return nil
}

// checkRecordAge enforces the -1 or 60..604800 rule the model's range
// does not express.
func checkRecordAge(v int32) error {
	if v != -1 && v < minRecordAge {
		return errInvalid("MaximumRecordAgeInSeconds must be -1 (no limit) or between %d and 604800 seconds; got %d.", minRecordAge, v)
	}
	return nil
}

// checkDestination accepts the on-failure destinations Millrace has: a
// Kinesis stream or a Lambda function (whose Handler may be an HTTP
// endpoint) of the caller.
func (s *Service) checkDestination(ctx context.Context, d *lambdaapi.DestinationConfig) (string, error) {
	if d == nil {
		return "", nil
	}
	if d.OnSuccess != nil && d.OnSuccess.Destination != nil {
		return "", errInvalid("Unsupported DestinationConfig parameter for given event source mapping type.")
	}
	if d.OnFailure == nil || d.OnFailure.Destination == nil || *d.OnFailure.Destination == "" {
		return "", nil
	}
	dest := *d.OnFailure.Destination
	account, region := caller(ctx)
	parts := strings.SplitN(dest, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", errInvalid("The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination=%s)) is invalid.", dest)
	}
	switch parts[2] {
	case "kinesis":
		if streams.IsConsumerARN(dest) {
			break
		}
		ref, err := streams.ResourceRef(dest)
		if err != nil || ref.Account != account || ref.Region != region {
			break
		}
		if _, err := s.opts.Streams.Describe(ref); err != nil {
			return "", errInvalid("The on-failure destination stream %s does not exist.", dest)
		}
		return dest, nil
	case "lambda":
		r := parseRef(ctx, dest)
		if !r.visible(ctx) || r.qualifier != "" && r.qualifier != latest {
			break
		}
		if f, _, err := s.load(ctx, r.account, r.region, r.name); err != nil {
			return "", err
		} else if f == nil {
			return "", errInvalid("The on-failure destination function %s does not exist.", dest)
		}
		return dest, nil
	case "sqs", "sns", "s3":
		return "", errInvalid("Millrace has no %s: an on-failure destination is a Kinesis stream or a Lambda function ARN of your account and region. See docs/lambda.md", strings.ToUpper(parts[2]))
	}
	return "", errInvalid("The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination=%s)) is invalid: give a Kinesis stream or a Lambda function ARN of your account and region.", dest)
}

// checkUnimplemented refuses the settings Millrace does not carry out
// yet, rather than store them and ignore them.
func checkUnimplemented(kms *string) error {
	if kms != nil {
		return errInvalid("Millrace does not encrypt filter criteria: KMSKeyArn is not available. See docs/lambda.md")
	}
	return nil
}

// checkWindow refuses tumbling windows with lanes, as Lambda does (a
// tumbling window needs a ParallelizationFactor of 1): a window's state is
// one shard's, carried from batch to batch in order.
func checkWindow(m *mapping) error {
	if m.TumblingWindow > 0 && m.ParallelizationFactor > 1 {
		return errInvalid("TumblingWindowInSeconds requires a ParallelizationFactor of 1; got %d. See docs/lambda.md", m.ParallelizationFactor)
	}
	return nil
}

// checkFilters checks a FilterCriteria's patterns and returns them.
func checkFilters(fc *lambdaapi.FilterCriteria) ([]string, error) {
	if fc == nil {
		return nil, nil
	}
	var out []string
	for _, f := range fc.Filters {
		p := awsproto.Value(f.Pattern)
		if _, err := parseFilter(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// resolveFunction checks that the function a mapping names exists and
// returns its name.
func (s *Service) resolveFunction(ctx context.Context, name string) (string, error) {
	r := parseRef(ctx, name)
	if r.qualifier != "" && r.qualifier != latest {
		return "", errInvalid("Millrace publishes no versions or aliases: map $LATEST (a function name without qualifier). See docs/lambda.md")
	}
	r.qualifier = ""
	if _, _, err := s.lookup(ctx, r); err != nil {
		return "", err
	}
	return r.name, nil
}

// mappingSettings are the members CreateEventSourceMapping and
// UpdateEventSourceMapping share; nil (empty) leaves the mapping's value
// as it is (on create, the default).
type mappingSettings struct {
	// The members of other sources, refused.
	kafka, docdb, selfKafka, scaling, provisioned, logging bool
	sourceAccess                                           int

	kms                                                              *string
	functionName                                                     *string
	batchSize, window, parallelization, retries, recordAge, tumbling *int32
	bisect                                                           *bool
	responseTypes                                                    []lambdaapi.FunctionResponseType
	filters                                                          *lambdaapi.FilterCriteria
	metrics                                                          *lambdaapi.EventSourceMappingMetricsConfig
	destination                                                      *lambdaapi.DestinationConfig
}

// check refuses what the settings ask that Millrace does not do, before
// any mapping is read.
func (c *mappingSettings) check() error {
	if err := unsupportedSource(c.kafka, c.docdb, c.selfKafka, c.scaling, c.provisioned, c.logging, c.sourceAccess); err != nil {
		return err
	}
	return checkUnimplemented(c.kms)
}

// apply checks the settings and sets them on m: the one validation path
// of create and update.
func (s *Service) apply(ctx context.Context, m *mapping, c *mappingSettings) error {
	var err error
	if c.functionName != nil {
		if m.FunctionName, err = s.resolveFunction(ctx, *c.functionName); err != nil {
			return err
		}
	}
	set := func(dst *int32, v *int32) {
		if v != nil {
			*dst = *v
		}
	}
	set(&m.BatchSize, c.batchSize)
	set(&m.Window, c.window)
	set(&m.ParallelizationFactor, c.parallelization)
	set(&m.MaximumRetryAttempts, c.retries)
	if c.recordAge != nil {
		if err := checkRecordAge(*c.recordAge); err != nil {
			return err
		}
		m.MaximumRecordAge = *c.recordAge
	}
	if c.bisect != nil {
		m.Bisect = *c.bisect
	}
	if c.responseTypes != nil {
		m.ReportBatchItemFailures = len(c.responseTypes) > 0
	}
	if c.filters != nil {
		if m.Filters, err = checkFilters(c.filters); err != nil {
			return err
		}
	}
	set(&m.TumblingWindow, c.tumbling)
	if err := checkWindow(m); err != nil {
		return err
	}
	if c.metrics != nil {
		m.Metrics = nil
		for _, x := range c.metrics.Metrics {
			m.Metrics = append(m.Metrics, string(x))
		}
	}
	if c.destination != nil {
		if m.OnFailure, err = s.checkDestination(ctx, c.destination); err != nil {
			return err
		}
	}
	return nil
}

// ---- operations ----

func (s *Service) createEventSourceMapping(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.CreateEventSourceMappingRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	if err := validate(&in); err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:CreateEventSourceMapping", Resource: "*", RequestTags: in.Tags}); err != nil {
		return nil, err
	}
	if in.SelfManagedEventSource != nil || len(in.Topics) > 0 || len(in.Queues) > 0 {
		return nil, errInvalid("Millrace's event source mappings read Kinesis streams only. See docs/lambda.md")
	}
	settings := &mappingSettings{
		kafka: in.AmazonManagedKafkaEventSourceConfig != nil, docdb: in.DocumentDBEventSourceConfig != nil,
		selfKafka: in.SelfManagedKafkaEventSourceConfig != nil, scaling: in.ScalingConfig != nil,
		provisioned: in.ProvisionedPollerConfig != nil, logging: in.LoggingConfig != nil,
		sourceAccess: len(in.SourceAccessConfigurations), kms: in.KMSKeyArn, functionName: in.FunctionName,
		batchSize: in.BatchSize, window: in.MaximumBatchingWindowInSeconds, parallelization: in.ParallelizationFactor,
		retries: in.MaximumRetryAttempts, recordAge: in.MaximumRecordAgeInSeconds, tumbling: in.TumblingWindowInSeconds,
		bisect: in.BisectBatchOnFunctionError, responseTypes: in.FunctionResponseTypes, filters: in.FilterCriteria,
		metrics: in.MetricsConfig, destination: in.DestinationConfig,
	}
	if err := settings.check(); err != nil {
		return nil, err
	}
	if in.EventSourceArn == nil {
		return nil, errInvalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported source arn : null")
	}
	account, region := caller(ctx)
	src := *in.EventSourceArn
	if !strings.HasPrefix(src, "arn:aws:kinesis:") && !strings.HasPrefix(src, "arn:aws-") {
		return nil, errInvalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported source arn : %s", src)
	}
	streamSrc := src
	if streams.IsConsumerARN(src) {
		// An enhanced fan-out consumer: it must be registered; the
		// mapping reads its stream through it.
		c, err := s.opts.Streams.DescribeConsumer(streams.ConsumerRef{Account: account, Region: region, ARN: src})
		if err != nil {
			var e *streams.Error
			if errors.As(err, &e) && e.Kind == streams.KindInvalidArgument {
				return nil, errInvalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported source arn : %s", src)
			}
			return nil, errInvalid("Stream consumer not found: %s", src)
		}
		streamSrc = c.StreamARN
	}
	ref, err := streams.ResourceRef(streamSrc)
	if err != nil {
		return nil, errInvalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs. Unsupported source arn : %s", src)
	}
	if ref.Account != account || ref.Region != region {
		return nil, errInvalid("Cannot access stream %s. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream.", src)
	}
	if _, err := s.opts.Streams.Describe(ref); err != nil {
		return nil, errInvalid("Stream not found: %s", streamSrc)
	}
	if in.StartingPosition == nil {
		return nil, errInvalid("1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null")
	}
	m := &mapping{
		UUID: newRevisionID(), Account: account, Region: region, EventSourceArn: src,
		BatchSize: defaultBatchSize, ParallelizationFactor: 1, MaximumRetryAttempts: -1, MaximumRecordAge: -1,
		StartingPosition: string(*in.StartingPosition), StateTransitionReason: userAction,
		LastProcessingResult: noRecordsProcessed, Tags: in.Tags,
	}
	switch *in.StartingPosition {
	case lambdaapi.EventSourcePositionAtTimestamp:
		if in.StartingPositionTimestamp == nil {
			return nil, errInvalid("StartingPositionTimestamp must be provided with StartingPosition AT_TIMESTAMP.")
		}
		if in.StartingPositionTimestamp.After(s.now()) {
			return nil, errInvalid("StartingPositionTimestamp cannot be in the future.")
		}
		m.StartingPositionTimestamp = in.StartingPositionTimestamp.UnixMilli()
	case lambdaapi.EventSourcePositionTrimHorizon, lambdaapi.EventSourcePositionLatest:
		if in.StartingPositionTimestamp != nil {
			return nil, errInvalid("StartingPositionTimestamp can only be provided with StartingPosition AT_TIMESTAMP.")
		}
	}
	if err := s.apply(ctx, m, settings); err != nil {
		return nil, err
	}
	if s.roles != nil {
		if err := s.checkSourceAccess(ctx, m); err != nil {
			return nil, err
		}
	}
	if in.Enabled != nil && !*in.Enabled {
		m.State = stateDisabled
	} else {
		m.State = stateCreating
	}
	now := s.now().UnixMilli()
	m.CreatedAt, m.LastModified = now, now

	s.esmMu.Lock()
	defer s.esmMu.Unlock()
	all, err := s.allMappings(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range all {
		if o.EventSourceArn == m.EventSourceArn && o.Account == m.Account && o.Region == m.Region &&
			o.FunctionName == m.FunctionName && o.State != stateDeleting {
			return nil, errConflict("An event source mapping with Kinesis arn \" %s \" and function \" %s \" already exists. Please update or delete the existing mapping with UUID %s",
				m.EventSourceArn, m.FunctionName, o.UUID)
		}
	}
	if _, err := s.storeMapping(ctx, m, 0); err != nil {
		return nil, err
	}
	if m.State != stateDisabled {
		s.startMapping(m.UUID)
	}
	return respond(http.StatusAccepted, s.esmConfig(ctx, m))
}

func (s *Service) getEventSourceMapping(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	in := lambdaapi.GetEventSourceMappingRequest{UUID: awsproto.Ptr(req.HTTP.PathValue("UUID"))}
	if err := validate(&in); err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:GetEventSourceMapping", Resource: "*"}); err != nil {
		return nil, err
	}
	m, _, err := s.lookupMapping(ctx, *in.UUID)
	if err != nil {
		return nil, err
	}
	return respond(http.StatusOK, s.esmConfig(ctx, m))
}

func (s *Service) listEventSourceMappings(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	q := req.HTTP.URL.Query()
	var in lambdaapi.ListEventSourceMappingsRequest
	if q.Has("EventSourceArn") {
		in.EventSourceArn = awsproto.Ptr(q.Get("EventSourceArn"))
	}
	if q.Has("FunctionName") {
		in.FunctionName = awsproto.Ptr(q.Get("FunctionName"))
	}
	var err error
	if in.MaxItems, in.Marker, err = pageQuery(q); err != nil {
		return nil, err
	}
	if err := validate(&in); err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:ListEventSourceMappings", Resource: "*"}); err != nil {
		return nil, err
	}
	limit, after, err := page(in.MaxItems, in.Marker, esmListPageSize)
	if err != nil {
		return nil, err
	}
	fnArn := ""
	if in.FunctionName != nil {
		r := parseRef(ctx, *in.FunctionName)
		fnArn = functionARN(r.region, r.account, r.name)
	}
	account, region := caller(ctx)
	all, err := s.allMappings(ctx)
	if err != nil {
		return nil, err
	}
	out := lambdaapi.ListEventSourceMappingsResponse{EventSourceMappings: []lambdaapi.EventSourceMappingConfiguration{}}
	for _, m := range all { // sorted by UUID, the catalog's key order
		if m.Account != account || m.Region != region || m.UUID <= after {
			continue
		}
		if in.EventSourceArn != nil && m.EventSourceArn != *in.EventSourceArn {
			continue
		}
		if fnArn != "" && m.functionArn() != fnArn {
			continue
		}
		if len(out.EventSourceMappings) == limit {
			last := out.EventSourceMappings[len(out.EventSourceMappings)-1].UUID
			out.NextMarker = nextMarker(*last)
			break
		}
		out.EventSourceMappings = append(out.EventSourceMappings, s.esmConfig(ctx, m))
	}
	return respond(http.StatusOK, out)
}

func (s *Service) updateEventSourceMapping(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	var in lambdaapi.UpdateEventSourceMappingRequest
	if err := decodeJSON(req.Body, &in); err != nil {
		return nil, err
	}
	in.UUID = awsproto.Ptr(req.HTTP.PathValue("UUID"))
	if err := validate(&in); err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:UpdateEventSourceMapping", Resource: "*"}); err != nil {
		return nil, err
	}
	settings := &mappingSettings{
		kafka: in.AmazonManagedKafkaEventSourceConfig != nil, docdb: in.DocumentDBEventSourceConfig != nil,
		selfKafka: in.SelfManagedKafkaEventSourceConfig != nil, scaling: in.ScalingConfig != nil,
		provisioned: in.ProvisionedPollerConfig != nil, logging: in.LoggingConfig != nil,
		sourceAccess: len(in.SourceAccessConfigurations), kms: in.KMSKeyArn, functionName: in.FunctionName,
		batchSize: in.BatchSize, window: in.MaximumBatchingWindowInSeconds, parallelization: in.ParallelizationFactor,
		retries: in.MaximumRetryAttempts, recordAge: in.MaximumRecordAgeInSeconds, tumbling: in.TumblingWindowInSeconds,
		bisect: in.BisectBatchOnFunctionError, responseTypes: in.FunctionResponseTypes, filters: in.FilterCriteria,
		metrics: in.MetricsConfig, destination: in.DestinationConfig,
	}
	if err := settings.check(); err != nil {
		return nil, err
	}
	s.esmMu.Lock()
	defer s.esmMu.Unlock()
	m, rev, err := s.lookupMapping(ctx, *in.UUID)
	if err != nil {
		return nil, err
	}
	if m.State == stateDeleting {
		return nil, errInUse("Cannot update the event source mapping %s because it is in use.", m.UUID)
	}
	if err := s.apply(ctx, m, settings); err != nil {
		return nil, err
	}
	if s.roles != nil {
		if err := s.checkSourceAccess(ctx, m); err != nil {
			return nil, err
		}
	}
	enabled := m.State != stateDisabled && m.State != stateDisabling
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	switch {
	case enabled && (m.State == stateDisabled || m.State == stateDisabling):
		m.State = stateEnabling
	case enabled:
		m.State = stateUpdating
	case m.State == stateDisabled:
		// Stays disabled: only the settings change.
	default:
		m.State = stateDisabling
	}
	m.LastModified = s.now().UnixMilli()
	m.StateTransitionReason = userAction
	if _, err := s.storeMapping(ctx, m, rev); err != nil {
		return nil, err
	}
	if m.State != stateDisabled {
		s.startMapping(m.UUID)
	}
	return respond(http.StatusAccepted, s.esmConfig(ctx, m))
}

func (s *Service) deleteEventSourceMapping(ctx context.Context, req *awsproto.RESTRequest) (*awsproto.RESTResponse, error) {
	in := lambdaapi.DeleteEventSourceMappingRequest{UUID: awsproto.Ptr(req.HTTP.PathValue("UUID"))}
	if err := validate(&in); err != nil {
		return nil, err
	}
	if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "lambda:DeleteEventSourceMapping", Resource: "*"}); err != nil {
		return nil, err
	}
	s.esmMu.Lock()
	defer s.esmMu.Unlock()
	m, rev, err := s.lookupMapping(ctx, *in.UUID)
	if err != nil {
		return nil, err
	}
	if m.State == stateDeleting {
		return nil, errInUse("Cannot delete the event source mapping %s because it is in use.", m.UUID)
	}
	m.State = stateDeleting
	m.LastModified = s.now().UnixMilli()
	m.StateTransitionReason = userAction
	if _, err := s.storeMapping(ctx, m, rev); err != nil {
		return nil, err
	}
	s.startMapping(m.UUID)
	return respond(http.StatusAccepted, s.esmConfig(ctx, m))
}

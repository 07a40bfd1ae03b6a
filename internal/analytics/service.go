package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/analytics/analyticsapi"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// Options are what the service needs.
type Options struct {
	Streams *streams.Streams
	Catalog storage.Catalog
	Runner  *background.Runner
	Logger  *slog.Logger
	// IdleGrace and CheckpointInterval apply to every application (0:
	// 2 s and 10 s).
	IdleGrace, CheckpointInterval time.Duration
	// S3 reads reference data sources; nil refuses to start an
	// application that has one.
	S3 ObjectReader
	// DeliveryStreams and Functions take the records of Firehose and
	// Lambda outputs (nil: such outputs fail to deliver and are retried).
	DeliveryStreams DeliveryStreams
	Functions       Functions
	// Roles, when set (authentication on), makes applications write
	// Firehose and Lambda outputs as a session of their
	// ServiceExecutionRole, and refuses a role that cannot be assumed.
	Roles awsproto.RoleAssumer
}

// Service serves the kinesisanalyticsv2 operations for SQL applications
// and runs the applications that are RUNNING as background units
// ("analytics/<account>/<region>/<name>"), also after a restart.
type Service struct {
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex
	units map[string]*background.Unit
}

const appPrefix = "analytics/apps/"

// appRecord is an application as the catalog holds it.
type appRecord struct {
	Account, Region, Name string
	Description           string
	Version               int64
	Status                string // READY or RUNNING
	Created, Updated      int64  // ms
	Code                  string
	Inputs                []inputRecord
	Outputs               []outputRecord
	StartPosition         string
	References            []referenceRecord `json:",omitempty"`
	// Role is the ServiceExecutionRole.
	Role string `json:",omitempty"`
	// Tags are the application's tags, by key.
	Tags map[string]string `json:",omitempty"`
}

type inputRecord struct {
	ID, NamePrefix, StreamARN string
	Schema                    Schema
}

type outputRecord struct {
	ID, Name, Format string
	// Kind is the destination's: OutputStream, OutputFirehose or
	// OutputLambda; StreamARN is its ARN whatever the kind.
	Kind      string `json:",omitempty"`
	StreamARN string
}

func (a *appRecord) arn() string {
	return "arn:aws:kinesisanalytics:" + a.Region + ":" + a.Account + ":application/" + a.Name
}

func appKey(account, region, name string) string {
	return appPrefix + account + "/" + region + "/" + name
}

// NewService loads the applications and starts those that are RUNNING.
func NewService(ctx context.Context, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleGrace == 0 {
		opts.IdleGrace = 2 * time.Second
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 10 * time.Second
	}
	s := &Service{opts: opts, log: opts.Logger, units: map[string]*background.Unit{}}
	kvs, err := opts.Catalog.List(ctx, appPrefix)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		var a appRecord
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("application %s: %w", kv.Key, err)
		}
		if a.Status == string(analyticsapi.ApplicationStatusRunning) {
			s.start(&a)
		}
	}
	return s, nil
}

// Served lists the operations this service implements; every other
// operation of the model answers 501 NotImplemented.
var Served = []string{"CreateApplication", "DescribeApplication", "ListApplications", "StartApplication",
	"StopApplication", "UpdateApplication", "DeleteApplication", "AddApplicationInput", "AddApplicationOutput", "DiscoverInputSchema",
	"AddApplicationReferenceDataSource", "DeleteApplicationReferenceDataSource",
	"TagResource", "UntagResource", "ListTagsForResource"}

// Register serves the operations under KinesisAnalytics_20180523 (AWS
// JSON 1.1).
func (s *Service) Register(r *awsproto.Router) {
	h := map[string]awsproto.Handler{
		"CreateApplication":    awsproto.Op(s.createApplication),
		"DescribeApplication":  awsproto.Op(s.describeApplication),
		"ListApplications":     awsproto.Op(s.listApplications),
		"StartApplication":     awsproto.Op(s.startApplication),
		"StopApplication":      awsproto.Op(s.stopApplication),
		"UpdateApplication":    awsproto.Op(s.updateApplication),
		"DeleteApplication":    awsproto.Op(s.deleteApplication),
		"AddApplicationInput":  awsproto.Op(s.addApplicationInput),
		"AddApplicationOutput": awsproto.Op(s.addApplicationOutput),
		"DiscoverInputSchema":  awsproto.Op(s.discoverInputSchema),

		"AddApplicationReferenceDataSource":    awsproto.Op(s.addApplicationReferenceDataSource),
		"DeleteApplicationReferenceDataSource": awsproto.Op(s.deleteApplicationReferenceDataSource),

		"TagResource":         awsproto.Op(s.tagResource),
		"UntagResource":       awsproto.Op(s.untagResource),
		"ListTagsForResource": awsproto.Op(s.listTagsForResource),
	}
	for _, op := range analyticsapi.Operations {
		if _, ok := h[op.Name]; !ok {
			name := op.Name
			h[name] = func(context.Context, []byte) (any, error) {
				return nil, awsproto.NewError("UnsupportedOperationException", "Millrace does not implement Kinesis Analytics %s; see docs/analytics.md", name).WithStatus(http.StatusNotImplemented)
			}
		}
	}
	r.Register(analyticsapi.TargetPrefix, analyticsapi.JSONVersion, h)
}

func notFound(name string) error {
	return awsproto.NewError("ResourceNotFoundException", "Application %s is not found.", name)
}

func invalid(format string, args ...any) error {
	return awsproto.NewError("InvalidArgumentException", format, args...)
}

func invalidConfig(format string, args ...any) error {
	return awsproto.NewError("InvalidApplicationConfigurationException", format, args...)
}

func inUse(format string, args ...any) error {
	return awsproto.NewError("ResourceInUseException", format, args...)
}

func authorize(ctx context.Context, op, resource string) error {
	return awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "kinesisanalytics:" + op, Resource: resource})
}

// appName is compiled when first used (its repetition makes a program of
// about 120 KB).
var appName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`) })

func (s *Service) load(ctx context.Context, name string) (*appRecord, uint64, error) {
	info := awsproto.Info(ctx)
	b, rev, err := s.opts.Catalog.Get(ctx, appKey(info.AccountID, info.Region, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, notFound(name)
	}
	if err != nil {
		return nil, 0, err
	}
	var a appRecord
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, 0, err
	}
	return &a, rev, nil
}

func (s *Service) store(ctx context.Context, a *appRecord, rev uint64) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = s.opts.Catalog.Put(ctx, appKey(a.Account, a.Region, a.Name), b, rev)
	if errors.Is(err, storage.ErrConflict) {
		return awsproto.NewError("ConcurrentModificationException", "Application %s was changed by another request; try again.", a.Name)
	}
	return err
}

// streamRef resolves a stream ARN in the caller's account.
func streamRef(arn string) (streams.StreamRef, error) {
	ref, err := streams.ResourceRef(arn)
	if err != nil {
		return ref, invalid("%s is not a Kinesis stream ARN.", arn)
	}
	return ref, nil
}

func (s *Service) checkStream(arn string) error {
	ref, err := streamRef(arn)
	if err != nil {
		return err
	}
	if _, err := s.opts.Streams.Describe(ref); err != nil {
		return invalidConfig("Stream %s does not exist.", arn)
	}
	return nil
}

// toSchema converts an API schema.
func toSchema(ss *analyticsapi.SourceSchema) (Schema, error) {
	if ss == nil || ss.RecordFormat == nil || ss.RecordFormat.RecordFormatType == nil {
		return Schema{}, invalid("InputSchema with a RecordFormat and RecordColumns is required.")
	}
	sc := Schema{Format: string(*ss.RecordFormat.RecordFormatType)}
	if mp := ss.RecordFormat.MappingParameters; mp != nil {
		if mp.JSONMappingParameters != nil && mp.JSONMappingParameters.RecordRowPath != nil {
			sc.RowPath = *mp.JSONMappingParameters.RecordRowPath
		}
		if c := mp.CSVMappingParameters; c != nil {
			sc.RowDelimiter, sc.ColumnDelimiter = deref(c.RecordRowDelimiter), deref(c.RecordColumnDelimiter)
		}
	}
	for _, c := range ss.RecordColumns {
		sc.Columns = append(sc.Columns, Column{Name: deref(c.Name), Mapping: deref(c.Mapping), SQLType: deref(c.SqlType)})
	}
	check := sc
	if err := check.compile(); err != nil {
		return Schema{}, invalidConfig("InputSchema: %v", err)
	}
	return sc, nil
}

func fromSchema(sc Schema) *analyticsapi.SourceSchema {
	ft := analyticsapi.RecordFormatType(strings.ToUpper(sc.Format))
	out := &analyticsapi.SourceSchema{RecordFormat: &analyticsapi.RecordFormat{RecordFormatType: &ft}, RecordColumns: []analyticsapi.RecordColumn{}}
	if ft == analyticsapi.RecordFormatTypeJson {
		p := sc.RowPath
		if p == "" {
			p = "$"
		}
		out.RecordFormat.MappingParameters = &analyticsapi.MappingParameters{JSONMappingParameters: &analyticsapi.JSONMappingParameters{RecordRowPath: &p}}
	} else {
		rd, cd := sc.RowDelimiter, sc.ColumnDelimiter
		if rd == "" {
			rd = "\n"
		}
		if cd == "" {
			cd = ","
		}
		out.RecordFormat.MappingParameters = &analyticsapi.MappingParameters{CSVMappingParameters: &analyticsapi.CSVMappingParameters{RecordRowDelimiter: &rd, RecordColumnDelimiter: &cd}}
	}
	for _, c := range sc.Columns {
		col := analyticsapi.RecordColumn{Name: ptr(c.Name), SqlType: ptr(c.SQLType)}
		if c.Mapping != "" {
			col.Mapping = ptr(c.Mapping)
		}
		out.RecordColumns = append(out.RecordColumns, col)
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func (s *Service) toInput(a *appRecord, in *analyticsapi.Input) (inputRecord, error) {
	if len(a.Inputs) > 0 {
		return inputRecord{}, invalid("Application %s already has an input; an application reads one streaming source.", a.Name)
	}
	if in.KinesisStreamsInput == nil || in.KinesisStreamsInput.ResourceARN == nil {
		return inputRecord{}, invalid("Millrace applications read Kinesis streams: KinesisStreamsInput is required.")
	}
	if err := s.checkStream(*in.KinesisStreamsInput.ResourceARN); err != nil {
		return inputRecord{}, err
	}
	sc, err := toSchema(in.InputSchema)
	if err != nil {
		return inputRecord{}, err
	}
	if in.InputProcessingConfiguration != nil {
		return inputRecord{}, invalid("Input preprocessing with Lambda is not supported by Millrace.")
	}
	return inputRecord{ID: "1.1", NamePrefix: deref(in.NamePrefix), StreamARN: *in.KinesisStreamsInput.ResourceARN, Schema: sc}, nil
}

func (s *Service) toOutput(a *appRecord, o *analyticsapi.Output) (outputRecord, error) {
	var dests []string
	if o.KinesisStreamsOutput != nil {
		dests = append(dests, deref(o.KinesisStreamsOutput.ResourceARN))
	}
	if o.KinesisFirehoseOutput != nil {
		dests = append(dests, deref(o.KinesisFirehoseOutput.ResourceARN))
	}
	if o.LambdaOutput != nil {
		dests = append(dests, deref(o.LambdaOutput.ResourceARN))
	}
	if len(dests) != 1 {
		return outputRecord{}, invalid("An output names exactly one destination: KinesisStreamsOutput, KinesisFirehoseOutput or LambdaOutput.")
	}
	kind, err := s.checkOutputARN(dests[0], o.KinesisStreamsOutput != nil, o.KinesisFirehoseOutput != nil)
	if err != nil {
		return outputRecord{}, err
	}
	if len(a.Outputs) >= 3 {
		return outputRecord{}, awsproto.NewError("LimitExceededException", "An application has at most 3 outputs.")
	}
	format := FormatJSON
	if o.DestinationSchema != nil && o.DestinationSchema.RecordFormatType != nil {
		format = string(*o.DestinationSchema.RecordFormatType)
	}
	for _, x := range a.Outputs {
		if strings.EqualFold(x.Name, deref(o.Name)) {
			return outputRecord{}, invalid("Application %s already has an output for in-application stream %s.", a.Name, deref(o.Name))
		}
	}
	if format != FormatJSON && format != FormatCSV {
		return outputRecord{}, invalid("RecordFormatType %q is not JSON or CSV.", format)
	}
	return outputRecord{ID: "1." + strconv.Itoa(len(a.Outputs)+1), Name: deref(o.Name), Kind: kind, StreamARN: dests[0], Format: format}, nil
}

// checkCode compiles the application's code against its input schema.
func checkCode(a *appRecord) error {
	if a.Code == "" || len(a.Inputs) == 0 {
		return nil
	}
	if _, err := NewEngine(Config{SQL: a.Code, Schema: a.Inputs[0].Schema, Tables: tablesOf(a)}); err != nil {
		return awsproto.NewError("CodeValidationException", "%v", err)
	}
	return nil
}

func (s *Service) createApplication(ctx context.Context, in *analyticsapi.CreateApplicationRequest) (*analyticsapi.CreateApplicationResponse, error) {
	info := awsproto.Info(ctx)
	name := deref(in.ApplicationName)
	a := &appRecord{Account: info.AccountID, Region: info.Region, Name: name, Description: deref(in.ApplicationDescription),
		Version: 1, Status: string(analyticsapi.ApplicationStatusReady), Role: deref(in.ServiceExecutionRole)}
	if err := authorize(ctx, "CreateApplication", a.arn()); err != nil {
		return nil, err
	}
	if err := s.checkRole(a); err != nil {
		return nil, err
	}
	if !appName().MatchString(name) {
		return nil, invalid("Application name %q must be 1 to 128 letters, digits, _, . or -.", name)
	}
	if in.RuntimeEnvironment == nil || *in.RuntimeEnvironment != analyticsapi.RuntimeEnvironmentSql10 {
		return nil, invalid("Millrace runs SQL applications only: RuntimeEnvironment must be SQL-1_0.")
	}
	if err := mergeTags(a, in.Tags); err != nil {
		return nil, err
	}
	if ac := in.ApplicationConfiguration; ac != nil {
		if cc := ac.ApplicationCodeConfiguration; cc != nil && cc.CodeContent != nil {
			if cc.CodeContent.TextContent == nil {
				return nil, invalid("SQL application code must be TextContent.")
			}
			a.Code = *cc.CodeContent.TextContent
		}
		if sc := ac.SqlApplicationConfiguration; sc != nil {
			if len(sc.Inputs) > 1 {
				return nil, invalid("An application has at most one input.")
			}
			for i := range sc.ReferenceDataSources {
				r, err := s.toReference(a, &sc.ReferenceDataSources[i])
				if err != nil {
					return nil, err
				}
				a.References = append(a.References, r)
			}
			for i := range sc.Inputs {
				ir, err := s.toInput(a, &sc.Inputs[i])
				if err != nil {
					return nil, err
				}
				a.Inputs = append(a.Inputs, ir)
			}
			for i := range sc.Outputs {
				or, err := s.toOutput(a, &sc.Outputs[i])
				if err != nil {
					return nil, err
				}
				a.Outputs = append(a.Outputs, or)
			}
		}
	}
	if err := checkCode(a); err != nil {
		return nil, err
	}
	a.Created = time.Now().UnixMilli()
	a.Updated = a.Created
	if err := s.store(ctx, a, 0); err != nil {
		if strings.Contains(err.Error(), "ConcurrentModification") {
			return nil, inUse("Application %s already exists.", name)
		}
		return nil, err
	}
	return &analyticsapi.CreateApplicationResponse{ApplicationDetail: s.detail(a)}, nil
}

func (s *Service) detail(a *appRecord) *analyticsapi.ApplicationDetail {
	status := analyticsapi.ApplicationStatus(a.Status)
	rt := analyticsapi.RuntimeEnvironmentSql10
	created := awsproto.NewTimestamp(time.UnixMilli(a.Created))
	updated := awsproto.NewTimestamp(time.UnixMilli(a.Updated))
	d := &analyticsapi.ApplicationDetail{
		ApplicationARN: ptr(a.arn()), ApplicationName: ptr(a.Name), ApplicationStatus: &status,
		ApplicationVersionId: ptr(a.Version), RuntimeEnvironment: &rt, CreateTimestamp: &created, LastUpdateTimestamp: &updated,
	}
	if a.Description != "" {
		d.ApplicationDescription = ptr(a.Description)
	}
	if a.Role != "" {
		d.ServiceExecutionRole = ptr(a.Role)
	}
	desc := &analyticsapi.ApplicationConfigurationDescription{SqlApplicationConfigurationDescription: &analyticsapi.SqlApplicationConfigurationDescription{}}
	if a.Code != "" {
		ct := analyticsapi.CodeContentTypePlaintext
		desc.ApplicationCodeConfigurationDescription = &analyticsapi.ApplicationCodeConfigurationDescription{
			CodeContentType: &ct, CodeContentDescription: &analyticsapi.CodeContentDescription{TextContent: ptr(a.Code), CodeSize: ptr(int64(len(a.Code)))}}
	}
	for _, in := range a.Inputs {
		prefix := in.NamePrefix
		if prefix == "" {
			prefix = "SOURCE_SQL_STREAM"
		}
		idesc := analyticsapi.InputDescription{InputId: ptr(in.ID), NamePrefix: ptr(in.NamePrefix), InAppStreamNames: []string{prefix + "_001"},
			InputParallelism: &analyticsapi.InputParallelism{Count: ptr(int32(1))}, InputSchema: fromSchema(in.Schema),
			KinesisStreamsInputDescription: &analyticsapi.KinesisStreamsInputDescription{ResourceARN: ptr(in.StreamARN)}}
		if a.StartPosition != "" {
			sp := analyticsapi.InputStartingPosition(a.StartPosition)
			idesc.InputStartingPositionConfiguration = &analyticsapi.InputStartingPositionConfiguration{InputStartingPosition: &sp}
		}
		desc.SqlApplicationConfigurationDescription.InputDescriptions = append(desc.SqlApplicationConfigurationDescription.InputDescriptions, idesc)
	}
	for _, o := range a.Outputs {
		ft := analyticsapi.RecordFormatType(o.Format)
		od := analyticsapi.OutputDescription{OutputId: ptr(o.ID), Name: ptr(o.Name), DestinationSchema: &analyticsapi.DestinationSchema{RecordFormatType: &ft}}
		switch o.Kind {
		case OutputFirehose:
			od.KinesisFirehoseOutputDescription = &analyticsapi.KinesisFirehoseOutputDescription{ResourceARN: ptr(o.StreamARN)}
		case OutputLambda:
			od.LambdaOutputDescription = &analyticsapi.LambdaOutputDescription{ResourceARN: ptr(o.StreamARN)}
		default:
			od.KinesisStreamsOutputDescription = &analyticsapi.KinesisStreamsOutputDescription{ResourceARN: ptr(o.StreamARN)}
		}
		desc.SqlApplicationConfigurationDescription.OutputDescriptions = append(desc.SqlApplicationConfigurationDescription.OutputDescriptions, od)
	}
	desc.SqlApplicationConfigurationDescription.ReferenceDataSourceDescriptions = referenceDescriptions(a)
	d.ApplicationConfigurationDescription = desc
	return d
}

func (s *Service) describeApplication(ctx context.Context, in *analyticsapi.DescribeApplicationRequest) (*analyticsapi.DescribeApplicationResponse, error) {
	a, _, err := s.load(ctx, deref(in.ApplicationName))
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, "DescribeApplication", a.arn()); err != nil {
		return nil, err
	}
	return &analyticsapi.DescribeApplicationResponse{ApplicationDetail: s.detail(a)}, nil
}

func (s *Service) listApplications(ctx context.Context, in *analyticsapi.ListApplicationsRequest) (*analyticsapi.ListApplicationsResponse, error) {
	info := awsproto.Info(ctx)
	if err := authorize(ctx, "ListApplications", "*"); err != nil {
		return nil, err
	}
	kvs, err := s.opts.Catalog.List(ctx, appPrefix+info.AccountID+"/"+info.Region+"/")
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := &analyticsapi.ListApplicationsResponse{ApplicationSummaries: []analyticsapi.ApplicationSummary{}}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	for _, kv := range kvs {
		var a appRecord
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, err
		}
		if in.NextToken != nil && a.Name <= *in.NextToken {
			continue
		}
		if len(out.ApplicationSummaries) == limit {
			out.NextToken = out.ApplicationSummaries[limit-1].ApplicationName
			break
		}
		st := analyticsapi.ApplicationStatus(a.Status)
		rt := analyticsapi.RuntimeEnvironmentSql10
		out.ApplicationSummaries = append(out.ApplicationSummaries, analyticsapi.ApplicationSummary{
			ApplicationARN: ptr(a.arn()), ApplicationName: ptr(a.Name), ApplicationStatus: &st, ApplicationVersionId: ptr(a.Version), RuntimeEnvironment: &rt})
	}
	return out, nil
}

// unitName is an application's background unit.
func unitName(a *appRecord) string { return "analytics/" + a.Account + "/" + a.Region + "/" + a.Name }

// application builds the runnable application from its record.
func (s *Service) application(a *appRecord) (*Application, error) {
	if len(a.Inputs) == 0 {
		return nil, invalidConfig("Application %s has no input.", a.Name)
	}
	if a.Code == "" {
		return nil, invalidConfig("Application %s has no code.", a.Name)
	}
	src, err := streamRef(a.Inputs[0].StreamARN)
	if err != nil {
		return nil, err
	}
	app := &Application{Name: a.Name, ARN: a.arn(), Role: a.Role, Source: src, StartPosition: a.StartPosition, CheckpointInterval: s.opts.CheckpointInterval,
		Config: Config{SQL: a.Code, Schema: a.Inputs[0].Schema, IdleGrace: s.opts.IdleGrace}, References: referencesOf(a)}
	for _, o := range a.Outputs {
		if o.Kind != OutputStream {
			app.Outputs = append(app.Outputs, Output{Name: o.Name, Kind: o.Kind, ARN: o.StreamARN, Format: o.Format})
			continue
		}
		ref, err := streamRef(o.StreamARN)
		if err != nil {
			return nil, err
		}
		app.Outputs = append(app.Outputs, Output{Name: o.Name, Stream: ref, Format: o.Format})
	}
	// KDA matches in-application stream names as SQL identifiers: the
	// output's Name against the pump's INSERT INTO target.
	prog, err := ParseProgram(a.Code)
	if err != nil {
		return nil, err
	}
	for i, o := range app.Outputs {
		for _, q := range prog.Queries {
			if strings.EqualFold(q.Dest, o.Name) {
				app.Outputs[i].Name = q.Dest
			}
		}
	}
	return app, nil
}

// start runs an application as a background unit; a run that fails is
// logged and tried again.
func (s *Service) start(a *appRecord) {
	app, err := s.application(a)
	if err != nil {
		s.log.Error("analytics: application cannot start", "application", a.Name, "err", err)
		return
	}
	rt := &Runtime{Streams: s.opts.Streams, Catalog: s.opts.Catalog, Logger: s.log, Objects: s.opts.S3,
		DeliveryStreams: s.opts.DeliveryStreams, Functions: s.opts.Functions, Roles: s.opts.Roles}
	u := s.opts.Runner.Go(unitName(a), func(ctx context.Context) {
		for ctx.Err() == nil {
			if err := app.Run(ctx, rt); err != nil && ctx.Err() == nil {
				s.log.Error("analytics: application stopped with an error; restarting from its checkpoint", "application", a.Name, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
			}
		}
	})
	s.mu.Lock()
	s.units[unitName(a)] = u
	s.mu.Unlock()
}

func (s *Service) stop(a *appRecord) {
	s.mu.Lock()
	u := s.units[unitName(a)]
	delete(s.units, unitName(a))
	s.mu.Unlock()
	if u != nil {
		u.Stop()
	}
}

func (s *Service) startApplication(ctx context.Context, in *analyticsapi.StartApplicationRequest) (*analyticsapi.StartApplicationResponse, error) {
	a, rev, err := s.load(ctx, deref(in.ApplicationName))
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, "StartApplication", a.arn()); err != nil {
		return nil, err
	}
	if a.Status != string(analyticsapi.ApplicationStatusReady) {
		return nil, inUse("Application %s is %s; it can be started when READY.", a.Name, a.Status)
	}
	a.StartPosition = string(analyticsapi.InputStartingPositionNow)
	if rc := in.RunConfiguration; rc != nil {
		for _, sr := range rc.SqlRunConfigurations {
			if sp := sr.InputStartingPositionConfiguration; sp != nil && sp.InputStartingPosition != nil {
				a.StartPosition = string(*sp.InputStartingPosition)
			}
		}
	}
	if _, err := s.application(a); err != nil {
		return nil, err
	}
	if a.StartPosition != string(analyticsapi.InputStartingPositionLastStoppedPoint) {
		// A start from NOW or TRIM_HORIZON begins afresh.
		key := CheckpointKey(a.Account, a.Region, a.Name)
		if _, crev, err := s.opts.Catalog.Get(ctx, key); err == nil {
			if err := s.opts.Catalog.Delete(ctx, key, crev); err != nil {
				return nil, err
			}
		}
	}
	a.Status = string(analyticsapi.ApplicationStatusRunning)
	if err := s.store(ctx, a, rev); err != nil {
		return nil, err
	}
	s.start(a)
	return &analyticsapi.StartApplicationResponse{OperationId: ptr(strconv.FormatInt(time.Now().UnixNano(), 36))}, nil
}

func (s *Service) stopApplication(ctx context.Context, in *analyticsapi.StopApplicationRequest) (*analyticsapi.StopApplicationResponse, error) {
	a, rev, err := s.load(ctx, deref(in.ApplicationName))
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, "StopApplication", a.arn()); err != nil {
		return nil, err
	}
	if a.Status != string(analyticsapi.ApplicationStatusRunning) {
		return nil, inUse("Application %s is %s; only a RUNNING application can be stopped.", a.Name, a.Status)
	}
	s.stop(a)
	a.Status = string(analyticsapi.ApplicationStatusReady)
	if err := s.store(ctx, a, rev); err != nil {
		return nil, err
	}
	return &analyticsapi.StopApplicationResponse{OperationId: ptr(strconv.FormatInt(time.Now().UnixNano(), 36))}, nil
}

func (s *Service) checkVersion(a *appRecord, v *int64) error {
	if v == nil {
		return invalid("CurrentApplicationVersionId is required.")
	}
	if *v != a.Version {
		return awsproto.NewError("ConcurrentModificationException", "Application %s is at version %d, not %d.", a.Name, a.Version, *v)
	}
	return nil
}

func (s *Service) updateApplication(ctx context.Context, in *analyticsapi.UpdateApplicationRequest) (*analyticsapi.UpdateApplicationResponse, error) {
	a, err := s.change(ctx, "UpdateApplication", deref(in.ApplicationName), in.CurrentApplicationVersionId, func(a *appRecord) error {
		if in.ServiceExecutionRoleUpdate != nil {
			a.Role = *in.ServiceExecutionRoleUpdate
		}
		if err := s.checkRole(a); err != nil {
			return err
		}
		return s.applyUpdate(a, in.ApplicationConfigurationUpdate)
	})
	if err != nil {
		return nil, err
	}
	return &analyticsapi.UpdateApplicationResponse{ApplicationDetail: s.detail(a)}, nil
}

// applyUpdate applies an UpdateApplication request's configuration update
// to a.
func (s *Service) applyUpdate(a *appRecord, u *analyticsapi.ApplicationConfigurationUpdate) error {
	if u != nil {
		if cu := u.ApplicationCodeConfigurationUpdate; cu != nil && cu.CodeContentUpdate != nil {
			if cu.CodeContentUpdate.TextContentUpdate == nil {
				return invalid("SQL application code must be TextContentUpdate.")
			}
			a.Code = *cu.CodeContentUpdate.TextContentUpdate
		}
		if su := u.SqlApplicationConfigurationUpdate; su != nil {
			for _, iu := range su.InputUpdates {
				if len(a.Inputs) == 0 || deref(iu.InputId) != a.Inputs[0].ID {
					return awsproto.NewError("ResourceNotFoundException", "Input %s is not found.", deref(iu.InputId))
				}
				if iu.InputSchemaUpdate != nil {
					ss := &analyticsapi.SourceSchema{RecordColumns: iu.InputSchemaUpdate.RecordColumnUpdates, RecordFormat: iu.InputSchemaUpdate.RecordFormatUpdate}
					sc, err := toSchema(ss)
					if err != nil {
						return err
					}
					a.Inputs[0].Schema = sc
				}
				if ku := iu.KinesisStreamsInputUpdate; ku != nil && ku.ResourceARNUpdate != nil {
					if err := s.checkStream(*ku.ResourceARNUpdate); err != nil {
						return err
					}
					a.Inputs[0].StreamARN = *ku.ResourceARNUpdate
				}
			}
			for _, ou := range su.OutputUpdates {
				found := false
				for i := range a.Outputs {
					if a.Outputs[i].ID != deref(ou.OutputId) {
						continue
					}
					found = true
					if ou.NameUpdate != nil {
						a.Outputs[i].Name = *ou.NameUpdate
					}
					if ou.DestinationSchemaUpdate != nil && ou.DestinationSchemaUpdate.RecordFormatType != nil {
						f := string(*ou.DestinationSchemaUpdate.RecordFormatType)
						if f != FormatJSON && f != FormatCSV {
							return invalid("RecordFormatType %q is not JSON or CSV.", f)
						}
						a.Outputs[i].Format = f
					}
					if err := s.updateOutputDest(&a.Outputs[i], ou); err != nil {
						return err
					}
				}
				if !found {
					return awsproto.NewError("ResourceNotFoundException", "Output %s is not found.", deref(ou.OutputId))
				}
			}
			if err := s.updateReferences(a, su.ReferenceDataSourceUpdates); err != nil {
				return err
			}
		}
	}
	return checkCode(a)
}

// change applies a configuration change to an application: it loads the
// application, authorizes op, checks the caller's version id, applies edit,
// stores the result as the next version and restarts a running application
// on it (from its checkpoint).
func (s *Service) change(ctx context.Context, op, name string, version *int64, edit func(a *appRecord) error) (*appRecord, error) {
	a, rev, err := s.load(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, op, a.arn()); err != nil {
		return nil, err
	}
	if err := s.checkVersion(a, version); err != nil {
		return nil, err
	}
	if err := edit(a); err != nil {
		return nil, err
	}
	a.Version++
	a.Updated = time.Now().UnixMilli()
	if err := s.store(ctx, a, rev); err != nil {
		return nil, err
	}
	if a.Status == string(analyticsapi.ApplicationStatusRunning) {
		s.stop(a)
		s.start(a)
	}
	return a, nil
}

func (s *Service) deleteApplication(ctx context.Context, in *analyticsapi.DeleteApplicationRequest) (*analyticsapi.DeleteApplicationResponse, error) {
	a, rev, err := s.load(ctx, deref(in.ApplicationName))
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, "DeleteApplication", a.arn()); err != nil {
		return nil, err
	}
	// Compared to the second: botocore sends a JSON timestamp as whole
	// epoch seconds, so the AWS CLI drops the milliseconds Describe shows.
	if in.CreateTimestamp == nil || in.CreateTimestamp.Unix() != a.Created/1000 {
		return nil, invalid("CreateTimestamp does not match application %s's creation time.", a.Name)
	}
	s.stop(a)
	if err := s.opts.Catalog.Delete(ctx, appKey(a.Account, a.Region, a.Name), rev); err != nil {
		return nil, err
	}
	key := CheckpointKey(a.Account, a.Region, a.Name)
	if _, crev, err := s.opts.Catalog.Get(ctx, key); err == nil {
		_ = s.opts.Catalog.Delete(ctx, key, crev)
	}
	return &analyticsapi.DeleteApplicationResponse{}, nil
}

func (s *Service) addApplicationInput(ctx context.Context, in *analyticsapi.AddApplicationInputRequest) (*analyticsapi.AddApplicationInputResponse, error) {
	a, err := s.change(ctx, "AddApplicationInput", deref(in.ApplicationName), in.CurrentApplicationVersionId, func(a *appRecord) error {
		if in.Input == nil {
			return invalid("Input is required.")
		}
		ir, err := s.toInput(a, in.Input)
		if err != nil {
			return err
		}
		a.Inputs = append(a.Inputs, ir)
		return checkCode(a)
	})
	if err != nil {
		return nil, err
	}
	return &analyticsapi.AddApplicationInputResponse{ApplicationARN: ptr(a.arn()), ApplicationVersionId: ptr(a.Version),
		InputDescriptions: s.detail(a).ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.InputDescriptions}, nil
}

func (s *Service) addApplicationOutput(ctx context.Context, in *analyticsapi.AddApplicationOutputRequest) (*analyticsapi.AddApplicationOutputResponse, error) {
	a, err := s.change(ctx, "AddApplicationOutput", deref(in.ApplicationName), in.CurrentApplicationVersionId, func(a *appRecord) error {
		if in.Output == nil {
			return invalid("Output is required.")
		}
		or, err := s.toOutput(a, in.Output)
		if err != nil {
			return err
		}
		a.Outputs = append(a.Outputs, or)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &analyticsapi.AddApplicationOutputResponse{ApplicationARN: ptr(a.arn()), ApplicationVersionId: ptr(a.Version),
		OutputDescriptions: s.detail(a).ApplicationConfigurationDescription.SqlApplicationConfigurationDescription.OutputDescriptions}, nil
}

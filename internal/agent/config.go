package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the agent's configuration: the Kinesis Agent's agent.json.
type Config struct {
	CheckpointFile        string
	CheckpointTTL         time.Duration
	KinesisEndpoint       string
	KinesisRegion         string
	FirehoseEndpoint      string
	AccessKeyID           string
	SecretAccessKey       string
	MaxConnections        int
	ConnectionTimeout     time.Duration
	SocketTimeout         time.Duration
	ShutdownTimeout       time.Duration
	LogLevel              string
	StatusReportingPeriod time.Duration
	// EmitCloudWatchMetrics is accepted for compatibility; the agent does
	// not publish to CloudWatch (see --metrics-listen).
	EmitCloudWatchMetrics bool
	Flows                 []Flow
}

// Flow is one entry of "flows": files matching a glob sent to a stream.
type Flow struct {
	FilePattern             string
	KinesisStream           string
	DeliveryStream          string
	PartitionKeyOption      string // RANDOM or DETERMINISTIC
	InitialPosition         string // START_OF_FILE or END_OF_FILE
	MaxBufferAge            time.Duration
	MaxBufferSizeRecords    int
	MaxBufferSizeBytes      int
	MinTimeBetweenFilePolls time.Duration
	RetryInitialBackoff     time.Duration
	RetryMaxBackoff         time.Duration
	SkipHeaderLines         int
	MultiLineStartPattern   *regexp.Regexp
	FileFooterPattern       *regexp.Regexp
	TruncatedRecordTerm     string
	Processors              []Processor
}

// ID names the flow in the checkpoint and the logs: its destination and
// pattern, as the Java agent's flow id.
func (f *Flow) ID() string {
	if f.DeliveryStream != "" {
		return "fh:" + f.DeliveryStream + ":" + f.FilePattern
	}
	return "kinesis:" + f.KinesisStream + ":" + f.FilePattern
}

// MaxRecordSize is the largest record the destination takes: 1 MiB for
// Kinesis, 1000 KiB for Firehose.
func (f *Flow) MaxRecordSize() int {
	if f.DeliveryStream != "" {
		return 1000 << 10
	}
	return 1 << 20
}

// ConfigError is a configuration mistake; Key names the setting, with the
// flow index when it is a flow's.
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

// LoadConfig reads and parses the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

// values reads keys of one JSON object with the Java agent's leniency:
// numbers and booleans may also be given as strings.
type values struct {
	prefix string
	m      map[string]json.RawMessage
	used   map[string]bool
	errs   []error
}

func newValues(prefix string, raw json.RawMessage) (*values, error) {
	v := &values{prefix: prefix, used: map[string]bool{}}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v.m); err != nil || v.m == nil {
		name := strings.TrimSuffix(prefix, ".")
		if name == "" {
			name = "configuration"
		}
		return nil, &ConfigError{name, "must be a JSON object"}
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, &ConfigError{"configuration", "unexpected data after the JSON object"}
	}
	return v, nil
}

func (v *values) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &ConfigError{v.prefix + key, fmt.Sprintf(format, args...)})
}

func (v *values) raw(key string) (json.RawMessage, bool) {
	v.used[key] = true
	r, ok := v.m[key]
	if ok && string(r) == "null" {
		return nil, false
	}
	return r, ok
}

func (v *values) str(key, def string) string {
	r, ok := v.raw(key)
	if !ok {
		return def
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		v.fail(key, "must be a string, got %s", r)
		return def
	}
	return s
}

// int reads an integer in [lo, hi].
func (v *values) int(key string, def, lo, hi int64) int64 {
	r, ok := v.raw(key)
	if !ok {
		return def
	}
	s := strings.TrimSpace(strings.Trim(string(r), `"`))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			v.fail(key, "must be a whole number, got %s", r)
			return def
		}
		n = int64(f)
	}
	if n < lo || n > hi {
		if hi == math.MaxInt64 {
			v.fail(key, "must be at least %d, got %d", lo, n)
		} else {
			v.fail(key, "must be between %d and %d, got %d", lo, hi, n)
		}
		return def
	}
	return n
}

func (v *values) millis(key string, def time.Duration, lo, hi int64) time.Duration {
	return time.Duration(v.int(key, int64(def/time.Millisecond), lo, hi)) * time.Millisecond
}

func (v *values) bool(key string, def bool) bool {
	r, ok := v.raw(key)
	if !ok {
		return def
	}
	switch strings.ToLower(strings.Trim(string(r), `"`)) {
	case "true":
		return true
	case "false":
		return false
	}
	v.fail(key, "must be true or false, got %s", r)
	return def
}

func (v *values) enum(key, def string, allowed ...string) string {
	s := v.str(key, def)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	v.fail(key, "must be one of %s, got %q", strings.Join(allowed, ", "), s)
	return def
}

func (v *values) regexp(key string) *regexp.Regexp {
	s := v.str(key, "")
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		v.fail(key, "invalid regular expression: %v", err)
		return nil
	}
	return re
}

func (v *values) strings(key string) ([]string, bool) {
	r, ok := v.raw(key)
	if !ok {
		return nil, false
	}
	var ss []string
	if err := json.Unmarshal(r, &ss); err != nil {
		v.fail(key, "must be a list of strings, got %s", r)
		return nil, false
	}
	return ss, true
}

// unknown reports the keys no one asked for.
func (v *values) unknown() {
	var keys []string
	for k := range v.m {
		if !v.used[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.fail(k, "unknown key")
	}
}

// Keys the Java agent reads that tune its JVM thread pools, its SQLite
// checkpoint store or its HTTP client in ways that have no counterpart
// here: accepted so that an agent.json works as is, and ignored.
var ignoredKeys = []string{
	"checkpoints.queryTimeoutSeconds", "checkpoints.connectionTimeoutSeconds",
	"cloudwatch.namespace", "cloudwatch.tagInstance", "cloudwatch.metricsQueueSize", "cloudwatch.endpoint",
	"maxSendingThreads", "maxSendingThreadsPerCore", "sendingThreadsKeepAliveMillis", "sendingThreadsMaxQueueSize",
	"connectionTTLMillis", "useTcpKeepAlive", "useHttpGzip", "userAgent", "userAgentOverride",
	"log.emitMetrics", "log.emitInternalMetrics", "sts.endpoint",
}

var ignoredFlowKeys = []string{
	"maxTimeBetweenFileTrackerRefreshMillis", "publishQueueCapacity",
	"waitOnFullPublishQueueMillis", "waitOnEmptyPublishQueueMillis",
}

// ParseConfig parses an agent.json. Every error names its key (flows[i].key
// for a flow's); all of them are reported at once.
func ParseConfig(b []byte) (*Config, error) {
	v, err := newValues("", b)
	if err != nil {
		return nil, err
	}
	c := &Config{
		CheckpointFile:        v.str("checkpointFile", "/var/run/aws-kinesis-agent/checkpoints"),
		CheckpointTTL:         time.Duration(v.int("checkpointTimeToLiveDays", 7, 1, 36500)) * 24 * time.Hour,
		KinesisEndpoint:       v.str("kinesis.endpoint", ""),
		KinesisRegion:         v.str("kinesis.region", ""),
		FirehoseEndpoint:      v.str("firehose.endpoint", ""),
		AccessKeyID:           v.str("awsAccessKeyId", ""),
		SecretAccessKey:       v.str("awsSecretAccessKey", ""),
		MaxConnections:        int(v.int("maxConnections", 24, 1, 10000)),
		ConnectionTimeout:     v.millis("connectionTimeoutMillis", 10*time.Second, 1, math.MaxInt32),
		SocketTimeout:         v.millis("socketTimeoutMillis", 50*time.Second, 1, math.MaxInt32),
		ShutdownTimeout:       v.millis("shutdownTimeoutMillis", 10*time.Second, 0, math.MaxInt32),
		LogLevel:              v.enum("log.level", "INFO", "TRACE", "DEBUG", "INFO", "WARN", "ERROR"),
		StatusReportingPeriod: time.Duration(v.int("log.statusReportingPeriodSeconds", 30, 1, 86400)) * time.Second,
		EmitCloudWatchMetrics: v.bool("cloudwatch.emitMetrics", true),
	}
	for _, k := range ignoredKeys {
		v.raw(k)
	}
	if c.CheckpointFile == "" {
		v.fail("checkpointFile", "must not be empty")
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		v.fail("awsSecretAccessKey", "awsAccessKeyId and awsSecretAccessKey go together")
	}
	if s := v.str("assumeRoleARN", ""); s != "" {
		v.fail("assumeRoleARN", "assuming a role is not supported; give awsAccessKeyId and awsSecretAccessKey, or leave both out to use the SDK's default credential chain (which honours AWS_ROLE_ARN with web identity and profiles with role_arn)")
	}
	v.raw("assumeRoleExternalId")
	if s := v.str("userDefinedCredentialsProvider.classname", ""); s != "" {
		v.fail("userDefinedCredentialsProvider.classname", "Java credential provider classes are not supported")
	}
	v.raw("userDefinedCredentialsProvider.location")

	if r, ok := v.raw("flows"); ok {
		var flows []json.RawMessage
		if err := json.Unmarshal(r, &flows); err != nil {
			v.fail("flows", "must be a list of objects")
		}
		for i, fr := range flows {
			f, errs := parseFlow(i, fr)
			v.errs = append(v.errs, errs...)
			if f != nil {
				c.Flows = append(c.Flows, *f)
			}
		}
	}
	if len(c.Flows) == 0 && len(v.errs) == 0 {
		v.fail("flows", "at least one flow is required")
	}
	seen := map[string]int{}
	for i := range c.Flows {
		id := c.Flows[i].ID()
		if j, dup := seen[id]; dup {
			v.fail(fmt.Sprintf("flows[%d]", i), "same filePattern and destination as flows[%d]", j)
		}
		seen[id] = i
	}
	v.unknown()
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return c, nil
}

func parseFlow(i int, raw json.RawMessage) (*Flow, []error) {
	prefix := fmt.Sprintf("flows[%d].", i)
	v, err := newValues(prefix, raw)
	if err != nil {
		return nil, []error{err}
	}
	f := &Flow{
		FilePattern:    v.str("filePattern", ""),
		KinesisStream:  v.str("kinesisStream", ""),
		DeliveryStream: v.str("deliveryStream", ""),
	}
	switch {
	case f.FilePattern == "":
		v.fail("filePattern", "is required")
	case !strings.HasPrefix(f.FilePattern, "/"):
		v.fail("filePattern", "must be an absolute path, got %q", f.FilePattern)
	default:
		if _, err := filepath.Match(f.FilePattern, ""); err != nil {
			v.fail("filePattern", "invalid glob: %v", err)
		}
	}
	switch {
	case f.KinesisStream == "" && f.DeliveryStream == "":
		v.fail("kinesisStream", "a flow needs kinesisStream or deliveryStream")
	case f.KinesisStream != "" && f.DeliveryStream != "":
		v.fail("deliveryStream", "a flow has kinesisStream or deliveryStream, not both")
	}
	maxBytes := int64(5 << 20)
	if f.DeliveryStream != "" {
		maxBytes = 4 << 20
	}
	f.PartitionKeyOption = v.enum("partitionKeyOption", "RANDOM", "RANDOM", "DETERMINISTIC")
	f.InitialPosition = v.enum("initialPosition", "END_OF_FILE", "START_OF_FILE", "END_OF_FILE")
	f.MaxBufferAge = v.millis("maxBufferAgeMillis", 60*time.Second, 1000, 900000)
	f.MaxBufferSizeRecords = int(v.int("maxBufferSizeRecords", 500, 1, 500))
	f.MaxBufferSizeBytes = int(v.int("maxBufferSizeBytes", maxBytes, 1, maxBytes))
	f.MinTimeBetweenFilePolls = v.millis("minTimeBetweenFilePollsMillis", 100*time.Millisecond, 1, math.MaxInt32)
	f.RetryInitialBackoff = v.millis("retryInitialBackoffMillis", 100*time.Millisecond, 1, math.MaxInt32)
	f.RetryMaxBackoff = v.millis("retryMaxBackoffMillis", 10*time.Second, 1, math.MaxInt32)
	if f.RetryMaxBackoff < f.RetryInitialBackoff {
		v.fail("retryMaxBackoffMillis", "must not be less than retryInitialBackoffMillis")
	}
	f.SkipHeaderLines = int(v.int("skipHeaderLines", 0, 0, math.MaxInt32))
	f.MultiLineStartPattern = v.regexp("multiLineStartPattern")
	f.FileFooterPattern = v.regexp("fileFooterPattern")
	f.TruncatedRecordTerm = v.str("truncatedRecordTerminator", "\n")
	if len(f.TruncatedRecordTerm) >= f.MaxRecordSize() {
		v.fail("truncatedRecordTerminator", "is longer than a record")
	}
	if n := v.int("aggregatedRecordSizeBytes", 0, 0, 4<<20); n != 0 {
		if f.DeliveryStream == "" {
			v.fail("aggregatedRecordSizeBytes", "applies to firehose flows only")
		} else {
			v.fail("aggregatedRecordSizeBytes", "packing records for Firehose is not supported yet (0 turns it off)")
		}
	}
	for _, k := range ignoredFlowKeys {
		v.raw(k)
	}
	if r, ok := v.raw("dataProcessingOptions"); ok {
		var opts []json.RawMessage
		if err := json.Unmarshal(r, &opts); err != nil {
			v.fail("dataProcessingOptions", "must be a list of objects")
		}
		for j, o := range opts {
			p, errs := parseProcessor(fmt.Sprintf("%sdataProcessingOptions[%d].", prefix, j), o)
			v.errs = append(v.errs, errs...)
			if p != nil {
				f.Processors = append(f.Processors, p)
			}
		}
	}
	v.unknown()
	return f, v.errs
}

// Package config holds Millrace's configuration: one struct filled, in
// increasing order of precedence, from defaults, a config file (TOML or
// YAML), MILLRACE_* environment variables and command-line flags, then
// checked by Validate before anything starts.
//
// The settings table (Settings) is the single description of every setting:
// flags, environment variables, config-file keys, help text and the
// documentation's reference table are all derived from it, so they cannot
// drift apart.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the whole server configuration.
type Config struct {
	// Listen is the address of the API listener (host:port; port 0 picks a
	// free one).
	Listen string `toml:"listen" yaml:"listen"`
	// TLSListen is the address of a second, TLS listener (HTTP/2 by ALPN,
	// and HTTP/1.1); empty: none. TLSCert and TLSKey are its PEM
	// certificate chain and private key (`millrace cert` writes a pair).
	TLSListen string `toml:"tls-listen" yaml:"tls-listen"`
	TLSCert   string `toml:"tls-cert" yaml:"tls-cert"`
	TLSKey    string `toml:"tls-key" yaml:"tls-key"`
	// TLSOnly serves on the TLS listener only: no plain HTTP listener is
	// opened and Listen is not used.
	TLSOnly bool `toml:"tls-only" yaml:"tls-only"`
	// TLSAllowCIDRs is the TLS listener's allow-list (see AllowCIDRs);
	// empty: AllowCIDRs applies to it too.
	TLSAllowCIDRs string `toml:"tls-allow-cidrs" yaml:"tls-allow-cidrs"`
	// DataDir is where the embedded storage engine keeps its files.
	DataDir string `toml:"data-dir" yaml:"data-dir"`
	// InMemory runs the storage engine on an in-memory filesystem: nothing
	// survives a restart.
	InMemory bool `toml:"in-memory" yaml:"in-memory"`
	// Region is the region used when a request's credential scope names none.
	Region string `toml:"region" yaml:"region"`
	// AccountID is the account used when the access key id is not a
	// 12-digit number.
	AccountID string `toml:"account-id" yaml:"account-id"`
	// IteratorTTL is how long a shard iterator stays valid (AWS: 5 minutes).
	IteratorTTL time.Duration `toml:"iterator-ttl" yaml:"iterator-ttl"`
	// CreateDelay, DeleteDelay and UpdateDelay are how long a stream stays
	// CREATING, DELETING and UPDATING before it moves on.
	CreateDelay time.Duration `toml:"create-delay" yaml:"create-delay"`
	DeleteDelay time.Duration `toml:"delete-delay" yaml:"delete-delay"`
	UpdateDelay time.Duration `toml:"update-delay" yaml:"update-delay"`
	// ShardLimit is the per-account, per-region open shard quota.
	ShardLimit int `toml:"shard-limit" yaml:"shard-limit"`
	// OnDemandStreamLimit is the per-account, per-region quota of on-demand
	// streams.
	OnDemandStreamLimit int `toml:"on-demand-stream-limit" yaml:"on-demand-stream-limit"`
	// LambdaConcurrency is the server-wide limit of Lambda invocations
	// running at once (docs/lambda.md).
	LambdaConcurrency int `toml:"lambda-concurrency" yaml:"lambda-concurrency"`
	// LambdaMemoryLimits is auto, on or off: whether function instances
	// run in memory cgroups limited to their MemorySize (docs/lambda.md).
	LambdaMemoryLimits string `toml:"lambda-memory-limits" yaml:"lambda-memory-limits"`
	// LambdaSandbox is auto, on or off: whether function instances run
	// sandboxed, with a private /tmp, read-only code and the data
	// directory out of sight (docs/lambda.md).
	LambdaSandbox string `toml:"lambda-sandbox" yaml:"lambda-sandbox"`
	// FirehoseS3Endpoint is the S3 endpoint Firehose delivery streams
	// write their objects to (empty: S3 deliveries fail and are retried);
	// FirehoseS3AccessKeyID and FirehoseS3SecretAccessKey sign its
	// requests, FirehoseS3Region is the region they are signed for.
	FirehoseS3Endpoint        string `toml:"firehose-s3-endpoint" yaml:"firehose-s3-endpoint"`
	FirehoseS3AccessKeyID     string `toml:"firehose-s3-access-key-id" yaml:"firehose-s3-access-key-id"`
	FirehoseS3SecretAccessKey string `toml:"firehose-s3-secret-access-key" yaml:"firehose-s3-secret-access-key"`
	FirehoseS3Region          string `toml:"firehose-s3-region" yaml:"firehose-s3-region"`
	// AnalyticsIdleGrace is how long after its end an analytics
	// application's ROWTIME window closes when its source is idle, and
	// AnalyticsCheckpointInterval the longest time between an
	// application's checkpoints (docs/analytics.md).
	AnalyticsIdleGrace          time.Duration `toml:"analytics-idle-grace" yaml:"analytics-idle-grace"`
	AnalyticsCheckpointInterval time.Duration `toml:"analytics-checkpoint-interval" yaml:"analytics-checkpoint-interval"`
	// FirehoseGlueTables is the directory of the Glue tables that record
	// format conversion reads its schemas from: <database>.<table>.json
	// files in `aws glue get-table` output form.
	FirehoseGlueTables string `toml:"firehose-glue-tables" yaml:"firehose-glue-tables"`
	// ThroughputLimits is "on" or "off": whether the per-shard limits
	// below are enforced (docs/capacity.md).
	ThroughputLimits        string `toml:"throughput-limits" yaml:"throughput-limits"`
	ShardWriteBytesPerSec   int64  `toml:"shard-write-bytes-per-sec" yaml:"shard-write-bytes-per-sec"`
	ShardWriteRecordsPerSec int    `toml:"shard-write-records-per-sec" yaml:"shard-write-records-per-sec"`
	ShardReadBytesPerSec    int64  `toml:"shard-read-bytes-per-sec" yaml:"shard-read-bytes-per-sec"`
	ShardReadCallsPerSec    int    `toml:"shard-read-calls-per-sec" yaml:"shard-read-calls-per-sec"`
	// Firehose's Direct PUT quotas per delivery stream, enforced while
	// ThroughputLimits is on; 0: AWS's quota for the stream's region.
	FirehosePutRecordsPerSec  int   `toml:"firehose-put-records-per-sec" yaml:"firehose-put-records-per-sec"`
	FirehosePutRequestsPerSec int   `toml:"firehose-put-requests-per-sec" yaml:"firehose-put-requests-per-sec"`
	FirehosePutBytesPerSec    int64 `toml:"firehose-put-bytes-per-sec" yaml:"firehose-put-bytes-per-sec"`
	// Fault injection: the chances that a data-plane call or PutRecords
	// entry fails, and the seed of the draws (0: random).
	FaultThrottleProbability float64 `toml:"fault-throttle-probability" yaml:"fault-throttle-probability"`
	FaultInternalProbability float64 `toml:"fault-internal-probability" yaml:"fault-internal-probability"`
	FaultSeed                int     `toml:"fault-seed" yaml:"fault-seed"`
	// The on-demand scaler (docs/capacity.md).
	OnDemandScaleInterval  time.Duration `toml:"on-demand-scale-interval" yaml:"on-demand-scale-interval"`
	OnDemandScaleWindow    time.Duration `toml:"on-demand-scale-window" yaml:"on-demand-scale-window"`
	OnDemandScaleUpShare   float64       `toml:"on-demand-scale-up-share" yaml:"on-demand-scale-up-share"`
	OnDemandScaleDownShare float64       `toml:"on-demand-scale-down-share" yaml:"on-demand-scale-down-share"`
	OnDemandQuietPeriod    time.Duration `toml:"on-demand-quiet-period" yaml:"on-demand-quiet-period"`
	// SubscriptionLifetime is how long a SubscribeToShard lasts (AWS: 5
	// minutes); SubscriptionHeartbeat the longest an idle one stays silent
	// (AWS: 5 seconds).
	SubscriptionLifetime  time.Duration `toml:"subscription-lifetime" yaml:"subscription-lifetime"`
	SubscriptionHeartbeat time.Duration `toml:"subscription-heartbeat" yaml:"subscription-heartbeat"`
	// MaxRequestBytes caps a request body.
	MaxRequestBytes int64 `toml:"max-request-bytes" yaml:"max-request-bytes"`
	// RetentionCheckInterval is how often expired records are trimmed.
	RetentionCheckInterval time.Duration `toml:"retention-check-interval" yaml:"retention-check-interval"`
	// RetentionHour is how long one hour of a retention period lasts: an
	// hour, except in retention tests and benchmarks, which shorten it so
	// that the 24-hour minimum passes in seconds.
	RetentionHour time.Duration `toml:"retention-hour" yaml:"retention-hour"`
	// ShutdownTimeout bounds the graceful stop.
	ShutdownTimeout time.Duration `toml:"shutdown-timeout" yaml:"shutdown-timeout"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `toml:"log-level" yaml:"log-level"`
	LogFormat string `toml:"log-format" yaml:"log-format"`

	// Auth is auto, on or off: whether requests must carry a valid SigV4
	// signature from declared credentials and pass policy checks.
	Auth string `toml:"auth" yaml:"auth"`
	// AllowCIDRs lists the client networks (comma-separated CIDR blocks)
	// the listeners accept; empty accepts every client.
	AllowCIDRs string `toml:"allow-cidrs" yaml:"allow-cidrs"`
	// Metrics is "on" or "off": whether GET /metrics serves Prometheus
	// metrics. MetricsListen, when set, is a separate plain HTTP listener
	// for them (host:port), and the API listeners no longer serve them.
	Metrics       string `toml:"metrics" yaml:"metrics"`
	MetricsListen string `toml:"metrics-listen" yaml:"metrics-listen"`
	// MetricsRetention is how long the CloudWatch API keeps one-minute
	// aggregates.
	MetricsRetention time.Duration `toml:"metrics-retention" yaml:"metrics-retention"`
	// AuditLog is the audit log file (JSON lines); empty disables it.
	AuditLog string `toml:"audit-log" yaml:"audit-log"`
	// AuditDataEvents also records data-plane calls in the audit log.
	AuditDataEvents bool `toml:"audit-data-events" yaml:"audit-data-events"`
	// AuditLogMaxBytes rotates the audit log at this size (0: never).
	AuditLogMaxBytes int64 `toml:"audit-log-max-bytes" yaml:"audit-log-max-bytes"`
	// AuditLogMaxFiles is how many audit log files are kept, the current
	// one included.
	AuditLogMaxFiles int `toml:"audit-log-max-files" yaml:"audit-log-max-files"`
	// KMSKeyFile is the key file of the local key service behind stream
	// encryption; empty: kms-keys.json in the data directory.
	KMSKeyFile string `toml:"kms-key-file" yaml:"kms-key-file"`
	// KMSMasterKey, base64 of 32 bytes, seals the KMS key file; empty: the
	// file is protected by its permissions only.
	KMSMasterKey string `toml:"kms-master-key" yaml:"kms-master-key"`
	// Cluster mode (docs/cluster.md): ClusterName embeds a NATS server
	// that joins the cluster of that name through ClusterListen and
	// ClusterRoutes, and stores everything in JetStream with
	// ClusterReplicas copies; NATSURL instead connects to an existing NATS
	// cluster. Both empty: the embedded Pebble engine.
	ClusterName       string `toml:"cluster-name" yaml:"cluster-name"`
	ClusterNodeName   string `toml:"cluster-node-name" yaml:"cluster-node-name"`
	ClusterListen     string `toml:"cluster-listen" yaml:"cluster-listen"`
	ClusterRoutes     string `toml:"cluster-routes" yaml:"cluster-routes"`
	ClusterNATSListen string `toml:"cluster-nats-listen" yaml:"cluster-nats-listen"`
	ClusterReplicas   int    `toml:"cluster-replicas" yaml:"cluster-replicas"`
	ClusterTLSCert    string `toml:"cluster-tls-cert" yaml:"cluster-tls-cert"`
	ClusterTLSKey     string `toml:"cluster-tls-key" yaml:"cluster-tls-key"`
	ClusterTLSCA      string `toml:"cluster-tls-ca" yaml:"cluster-tls-ca"`
	// ClusterSystemPassword opens the embedded NATS server's system
	// account to the user "system" ("millrace cluster" commands).
	ClusterSystemPassword string `toml:"cluster-system-password" yaml:"cluster-system-password"`
	// BackupPassword opens the running server's backup endpoint
	// ("millrace backup --url"); empty: the endpoint is off.
	BackupPassword string `toml:"backup-password" yaml:"backup-password"`
	NATSURL        string `toml:"nats-url" yaml:"nats-url"`
	NATSCreds      string `toml:"nats-creds" yaml:"nats-creds"`
	NATSTLSCA      string `toml:"nats-tls-ca" yaml:"nats-tls-ca"`
	NATSTLSCert    string `toml:"nats-tls-cert" yaml:"nats-tls-cert"`
	NATSTLSKey     string `toml:"nats-tls-key" yaml:"nats-tls-key"`
	NATSPrefix     string `toml:"nats-prefix" yaml:"nats-prefix"`
	// IAM holds the accounts, users and groups of the config file; nil
	// when it declares none. A pointer keeps Config comparable.
	IAM *IAM `toml:"-" yaml:"-"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:4567",
		DataDir:     "./millrace-data",
		Region:      "us-east-1",
		AccountID:   "000000000000",
		IteratorTTL: 5 * time.Minute,
		CreateDelay: 100 * time.Millisecond,
		DeleteDelay: 100 * time.Millisecond,
		UpdateDelay: 100 * time.Millisecond,
		// AWS's default open-shard quota in us-east-1, us-west-2 and
		// eu-west-1 (500 elsewhere).
		ShardLimit:          20000,
		OnDemandStreamLimit: 50,
		// AWS's default account quota of concurrent executions.
		LambdaConcurrency: 1000,
		// A record's arrival time is taken before it is readable, by at
		// most an append's latency: 2 s leaves room for a slow fsync.
		AnalyticsIdleGrace:          2 * time.Second,
		AnalyticsCheckpointInterval: 10 * time.Second,
		// Kinesis's per-shard limits, enforced by default so that clients
		// meet their throttling paths before production.
		ThroughputLimits:        "on",
		LambdaMemoryLimits:      "auto",
		LambdaSandbox:           "auto",
		Metrics:                 "on",
		MetricsRetention:        15 * 24 * time.Hour,
		ShardWriteBytesPerSec:   1 << 20,
		ShardWriteRecordsPerSec: 1000,
		ShardReadBytesPerSec:    2 << 20,
		ShardReadCallsPerSec:    5,
		OnDemandScaleInterval:   10 * time.Second,
		OnDemandScaleWindow:     30 * time.Second,
		OnDemandScaleUpShare:    0.5,
		OnDemandScaleDownShare:  0.2,
		OnDemandQuietPeriod:     5 * time.Minute,
		SubscriptionLifetime:    5 * time.Minute,
		SubscriptionHeartbeat:   5 * time.Second,
		// A 10 MiB PutRecords grows by a third when its blobs are base64
		// encoded in JSON; 16 MiB leaves room for that and the envelope.
		MaxRequestBytes:        16 << 20,
		RetentionCheckInterval: time.Minute,
		RetentionHour:          time.Hour,
		ShutdownTimeout:        30 * time.Second,
		LogLevel:               "info",
		LogFormat:              "text",
		Auth:                   AuthAuto,
		AuditLogMaxBytes:       100 << 20,
		AuditLogMaxFiles:       10,
		ClusterReplicas:        3,
		NATSPrefix:             "millrace",
	}
}

// Clustered reports whether the server stores everything in NATS
// JetStream (an embedded clustered server or an existing cluster).
func (c *Config) Clustered() bool { return c.ClusterName != "" || c.NATSURL != "" }

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	// Region names as AWS spells them ("us-east-1", "eu-central-2"), kept
	// loose enough for private or future partitions.
	regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Validate checks every setting and reports each bad one, naming the
// setting as its flag and config key do and quoting the bad value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}

	if c.Listen == "" {
		bad("listen", "must not be empty (host:port, e.g. 127.0.0.1:4567)")
	} else if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port (e.g. 127.0.0.1:4567 or :4567)", c.Listen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("listen", "%q has an invalid port %q (0-65535; 0 picks a free port)", c.Listen, port)
	}
	if !c.InMemory && c.DataDir == "" {
		bad("data-dir", "must not be empty unless in-memory is set")
	}
	if c.KMSMasterKey != "" {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.KMSMasterKey)); err != nil || len(raw) != 32 {
			bad("kms-master-key", "must be 32 bytes in standard base64 (e.g. from `openssl rand -base64 32`)")
		}
	}
	if c.Region == "" {
		bad("region", "must not be empty")
	} else if !regionPattern.MatchString(c.Region) {
		bad("region", "%q is not a region name (e.g. us-east-1)", c.Region)
	}
	if !accountIDPattern.MatchString(c.AccountID) {
		bad("account-id", "%q must be exactly 12 digits", c.AccountID)
	}
	if c.IteratorTTL <= 0 {
		bad("iterator-ttl", "%s must be greater than 0", c.IteratorTTL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"create-delay", c.CreateDelay},
		{"delete-delay", c.DeleteDelay},
		{"update-delay", c.UpdateDelay},
	} {
		if d.v < 0 {
			bad(d.name, "%s must not be negative", d.v)
		}
	}
	if c.ShardLimit <= 0 {
		bad("shard-limit", "%d must be greater than 0", c.ShardLimit)
	}
	if c.OnDemandStreamLimit <= 0 {
		bad("on-demand-stream-limit", "%d must be greater than 0", c.OnDemandStreamLimit)
	}
	if e := c.FirehoseS3Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("firehose-s3-endpoint", "%q is not an http:// or https:// URL", e)
		}
	}
	if c.AnalyticsIdleGrace < 100*time.Millisecond || c.AnalyticsIdleGrace > time.Hour {
		bad("analytics-idle-grace", "%s must be between 100ms and 1h", c.AnalyticsIdleGrace)
	}
	if c.AnalyticsCheckpointInterval < 100*time.Millisecond || c.AnalyticsCheckpointInterval > time.Hour {
		bad("analytics-checkpoint-interval", "%s must be between 100ms and 1h", c.AnalyticsCheckpointInterval)
	}
	if c.LambdaConcurrency <= 0 {
		bad("lambda-concurrency", "%d must be greater than 0", c.LambdaConcurrency)
	}
	switch c.LambdaMemoryLimits {
	case "auto", "on", "off":
	default:
		bad("lambda-memory-limits", "%q must be auto, on or off", c.LambdaMemoryLimits)
	}
	switch c.LambdaSandbox {
	case "auto", "on", "off":
	default:
		bad("lambda-sandbox", "%q must be auto, on or off", c.LambdaSandbox)
	}
	switch c.ThroughputLimits {
	case "on", "off":
	default:
		bad("throughput-limits", "%q must be on or off", c.ThroughputLimits)
	}
	switch c.Metrics {
	case "on", "off":
	default:
		bad("metrics", "%q must be on or off", c.Metrics)
	}
	if c.MetricsRetention < time.Hour || c.MetricsRetention > 455*24*time.Hour {
		bad("metrics-retention", "%s must be between 1h and 10920h (455 days)", c.MetricsRetention)
	}
	if c.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "%q is not host:port (e.g. 127.0.0.1:9464 or :9464)", c.MetricsListen)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("metrics-listen", "%q has an invalid port %q (0-65535; 0 picks a free port)", c.MetricsListen, port)
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"shard-write-bytes-per-sec", c.ShardWriteBytesPerSec},
		{"shard-write-records-per-sec", int64(c.ShardWriteRecordsPerSec)},
		{"shard-read-bytes-per-sec", c.ShardReadBytesPerSec},
		{"shard-read-calls-per-sec", int64(c.ShardReadCallsPerSec)},
	} {
		if n.v <= 0 {
			bad(n.name, "%d must be greater than 0", n.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"firehose-put-records-per-sec", int64(c.FirehosePutRecordsPerSec)},
		{"firehose-put-requests-per-sec", int64(c.FirehosePutRequestsPerSec)},
		{"firehose-put-bytes-per-sec", c.FirehosePutBytesPerSec},
	} {
		if n.v < 0 {
			bad(n.name, "%d must not be negative (0: AWS's quota for the delivery stream's region)", n.v)
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"fault-throttle-probability", c.FaultThrottleProbability},
		{"fault-internal-probability", c.FaultInternalProbability},
	} {
		if !(p.v >= 0 && p.v <= 1) {
			bad(p.name, "%g must be between 0 and 1", p.v)
		}
	}
	if c.FaultThrottleProbability+c.FaultInternalProbability > 1 {
		bad("fault-internal-probability", "%g plus fault-throttle-probability %g must not exceed 1", c.FaultInternalProbability, c.FaultThrottleProbability)
	}
	if c.FaultSeed < 0 {
		bad("fault-seed", "%d must not be negative", c.FaultSeed)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"on-demand-scale-interval", c.OnDemandScaleInterval},
		{"on-demand-scale-window", c.OnDemandScaleWindow},
		{"on-demand-quiet-period", c.OnDemandQuietPeriod},
	} {
		if d.v <= 0 {
			bad(d.name, "%s must be greater than 0", d.v)
		}
	}
	if !(c.OnDemandScaleUpShare > 0 && c.OnDemandScaleUpShare <= 1) {
		bad("on-demand-scale-up-share", "%g must be greater than 0 and at most 1", c.OnDemandScaleUpShare)
	}
	if !(c.OnDemandScaleDownShare > 0 && c.OnDemandScaleDownShare*2 <= c.OnDemandScaleUpShare) {
		bad("on-demand-scale-down-share", "%g must be greater than 0 and at most half of on-demand-scale-up-share (%g), so that a merged shard is not hot at once", c.OnDemandScaleDownShare, c.OnDemandScaleUpShare)
	}
	if c.MaxRequestBytes <= 0 {
		bad("max-request-bytes", "%d must be greater than 0", c.MaxRequestBytes)
	}
	if c.RetentionCheckInterval <= 0 {
		bad("retention-check-interval", "%s must be greater than 0", c.RetentionCheckInterval)
	}
	if c.RetentionHour < time.Millisecond || c.RetentionHour > time.Hour {
		bad("retention-hour", "%s must be between 1ms and 1h", c.RetentionHour)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "%s must be greater than 0", c.ShutdownTimeout)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q must be one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "%q must be text or json", c.LogFormat)
	}
	c.validateSecurity(bad)
	c.validateCluster(bad)
	if c.TLSListen != "" {
		if _, port, err := net.SplitHostPort(c.TLSListen); err != nil {
			bad("tls-listen", "%q is not host:port (e.g. 127.0.0.1:4568 or :4568)", c.TLSListen)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("tls-listen", "%q has an invalid port %q (0-65535; 0 picks a free port)", c.TLSListen, port)
		}
		if c.TLSCert == "" || c.TLSKey == "" {
			bad("tls-listen", "needs tls-cert and tls-key (`millrace cert` writes a self-signed pair)")
		}
	} else if c.TLSCert != "" || c.TLSKey != "" {
		bad("tls-cert", "is set but tls-listen is empty: set tls-listen to serve TLS")
	}
	if c.TLSOnly && c.TLSListen == "" {
		bad("tls-only", "needs a TLS listener: set tls-listen, tls-cert and tls-key")
	}
	if c.TLSAllowCIDRs != "" && c.TLSListen == "" {
		bad("tls-allow-cidrs", "is set but tls-listen is empty: there is no TLS listener to apply it to")
	}
	if c.SubscriptionLifetime <= 0 {
		bad("subscription-lifetime", "%s must be greater than 0", c.SubscriptionLifetime)
	}
	if c.SubscriptionHeartbeat <= 0 {
		bad("subscription-heartbeat", "%s must be greater than 0", c.SubscriptionHeartbeat)
	}
	return errors.Join(errs...)
}

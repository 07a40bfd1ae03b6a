package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// kind is how a setting's value is written and parsed.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindBytes
	kindDuration
	kindFloat
)

func (k kind) String() string {
	switch k {
	case kindBool:
		return "bool"
	case kindInt:
		return "int"
	case kindBytes:
		return "bytes"
	case kindDuration:
		return "duration"
	case kindFloat:
		return "float"
	default:
		return "string"
	}
}

func (k kind) describe() string {
	switch k {
	case kindBool:
		return "a boolean"
	case kindInt:
		return "an integer"
	case kindBytes:
		return "a byte size (integer or string such as \"16MiB\")"
	case kindDuration:
		return "a duration string such as \"100ms\""
	case kindFloat:
		return "a number such as 0.5"
	default:
		return "a string"
	}
}

// Setting describes one configuration setting. Its name is at once the
// command-line flag (--name), the config-file key and, upper-cased with
// MILLRACE_ in front, the environment variable.
type Setting struct {
	// Name is the flag name and config-file key, e.g. "data-dir".
	Name string
	// Help is one sentence saying what the setting does.
	Help string
	kind kind
	// field returns a pointer to the setting's field in c.
	field func(c *Config) any
}

// Env is the environment variable that sets s, e.g. MILLRACE_DATA_DIR.
func (s Setting) Env() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Flag is the command-line flag that sets s, e.g. --data-dir.
func (s Setting) Flag() string { return "--" + s.Name }

// Type names the kind of value s takes: string, bool, int, bytes (an
// integer, optionally with a KiB, MiB or GiB suffix) or duration (a Go
// duration such as 100ms or 5m).
func (s Setting) Type() string { return s.kind.String() }

// IsBool reports whether s is a switch (a flag given without a value).
func (s Setting) IsBool() bool { return s.kind == kindBool }

// Get returns s's value in c, written the way Set accepts it.
func (s Setting) Get(c *Config) string {
	switch p := s.field(c).(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		if s.kind == kindBytes {
			return formatBytes(*p)
		}
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		return formatDuration(*p)
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	}
	panic("config: setting " + s.Name + " has an unsupported field type")
}

// Default returns s's default value, written the way Set accepts it.
func (s Setting) Default() string {
	c := Default()
	return s.Get(&c)
}

// Set parses v and stores it in c. The error describes the value and what
// was expected, without the setting's name (the caller knows where the value
// came from and says so).
func (s Setting) Set(c *Config, v string) error {
	switch p := s.field(c).(type) {
	case *string:
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (use true or false)", v)
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid integer %q", v)
		}
		*p = n
	case *int64:
		var n int64
		var err error
		if s.kind == kindBytes {
			n, err = parseBytes(v)
		} else {
			n, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				err = fmt.Errorf("invalid integer %q", v)
			}
		}
		if err != nil {
			return err
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid duration %q (use a number with a unit, e.g. 100ms, 30s, 5m)", v)
		}
		*p = d
	case *float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		*p = f
	default:
		panic("config: setting " + s.Name + " has an unsupported field type")
	}
	return nil
}

// EnvPrefix starts every environment variable Millrace reads.
const EnvPrefix = "MILLRACE_"

// ConfigFlag is the flag (and, as MILLRACE_CONFIG, the environment variable)
// naming the config file. It is not itself a setting: a config file cannot
// name another one.
const ConfigFlag = "config"

// ConfigEnv is the environment variable naming the config file.
const ConfigEnv = EnvPrefix + "CONFIG"

var settings = []Setting{
	{Name: "listen", kind: kindString,
		Help:  "Address of the API listener, host:port; port 0 picks a free port.",
		field: func(c *Config) any { return &c.Listen }},
	{Name: "data-dir", kind: kindString,
		Help:  "Directory where the storage engine keeps its files; created if missing.",
		field: func(c *Config) any { return &c.DataDir }},
	{Name: "tls-listen", kind: kindString,
		Help:  "Address of an additional TLS listener (HTTP/2 by ALPN and HTTP/1.1), host:port; empty: no TLS listener. Needs tls-cert and tls-key.",
		field: func(c *Config) any { return &c.TLSListen }},
	{Name: "tls-cert", kind: kindString,
		Help:  "PEM certificate (chain) of the TLS listener; `millrace cert` writes a self-signed one for local use.",
		field: func(c *Config) any { return &c.TLSCert }},
	{Name: "tls-key", kind: kindString,
		Help:  "PEM private key of the TLS listener's certificate.",
		field: func(c *Config) any { return &c.TLSKey }},
	{Name: "tls-only", kind: kindBool,
		Help:  "Serve on the TLS listener only: no plain HTTP listener is opened (listen is not used). Needs tls-listen.",
		field: func(c *Config) any { return &c.TLSOnly }},
	{Name: "in-memory", kind: kindBool,
		Help:  "Keep all data in memory (same engine, in-memory filesystem); nothing survives a restart and data-dir is not used.",
		field: func(c *Config) any { return &c.InMemory }},
	{Name: "region", kind: kindString,
		Help:  "Region used when a request's SigV4 credential scope names none.",
		field: func(c *Config) any { return &c.Region }},
	{Name: "account-id", kind: kindString,
		Help:  "Account used when the access key id is not a 12-digit number (a 12-digit access key id selects that account).",
		field: func(c *Config) any { return &c.AccountID }},
	{Name: "iterator-ttl", kind: kindDuration,
		Help:  "How long a shard iterator stays valid (AWS: 5m).",
		field: func(c *Config) any { return &c.IteratorTTL }},
	{Name: "create-delay", kind: kindDuration,
		Help:  "How long a new stream stays CREATING before it becomes ACTIVE; 0 makes it ACTIVE at once.",
		field: func(c *Config) any { return &c.CreateDelay }},
	{Name: "delete-delay", kind: kindDuration,
		Help:  "How long a stream stays DELETING before it disappears; 0 removes it at once.",
		field: func(c *Config) any { return &c.DeleteDelay }},
	{Name: "update-delay", kind: kindDuration,
		Help:  "How long a stream stays UPDATING after a change before it is ACTIVE again; 0 allowed.",
		field: func(c *Config) any { return &c.UpdateDelay }},
	{Name: "shard-limit", kind: kindInt,
		Help:  "Open-shard quota per account and region (AWS default in us-east-1: 20000).",
		field: func(c *Config) any { return &c.ShardLimit }},
	{Name: "on-demand-stream-limit", kind: kindInt,
		Help:  "Quota of on-demand streams per account and region (AWS default: 50).",
		field: func(c *Config) any { return &c.OnDemandStreamLimit }},
	{Name: "lambda-concurrency", kind: kindInt,
		Help:  "Lambda invocations running at once across all functions; beyond it Invoke gets TooManyRequestsException (AWS default account quota: 1000).",
		field: func(c *Config) any { return &c.LambdaConcurrency }},
	{Name: "lambda-memory-limits", kind: kindString,
		Help:  "Whether each Lambda function instance runs in a memory cgroup limited to the function's MemorySize (the OOM killer ends an invocation that goes over, as on AWS): auto (when the machine lets the server create memory cgroups, cgroup v2 or v1; else a warning at start), on (the server does not start without them) or off.",
		field: func(c *Config) any { return &c.LambdaMemoryLimits }},
	{Name: "lambda-sandbox", kind: kindString,
		Help:  "Whether each Lambda function instance runs sandboxed, as on AWS: a private /tmp of the function's EphemeralStorage, its code read-only, the data directory and other instances' code out of sight, an unprivileged user (Linux user and mount namespaces): auto (where the kernel allows it, as root or with unprivileged user namespaces; else a warning at start), on (the server does not start without it) or off (instances run as the server's user with its view of the filesystem).",
		field: func(c *Config) any { return &c.LambdaSandbox }},
	{Name: "firehose-s3-endpoint", kind: kindString,
		Help:  "URL of the S3 server Firehose delivery streams write objects to (path-style requests), e.g. http://127.0.0.1:8333; empty: deliveries to S3 fail and are retried. Analytics applications read their reference data from it too.",
		field: func(c *Config) any { return &c.FirehoseS3Endpoint }},
	{Name: "firehose-s3-access-key-id", kind: kindString,
		Help:  "Access key id that signs Firehose's requests to the S3 server.",
		field: func(c *Config) any { return &c.FirehoseS3AccessKeyID }},
	{Name: "firehose-s3-secret-access-key", kind: kindString,
		Help:  "Secret access key that signs Firehose's requests to the S3 server; set it through the environment (MILLRACE_FIREHOSE_S3_SECRET_ACCESS_KEY) or the config file, not a flag.",
		field: func(c *Config) any { return &c.FirehoseS3SecretAccessKey }},
	{Name: "firehose-s3-region", kind: kindString,
		Help:  "Region Firehose's requests to the S3 server are signed for; empty: the server's region.",
		field: func(c *Config) any { return &c.FirehoseS3Region }},
	{Name: "analytics-idle-grace", kind: kindDuration,
		Help:  "How long after its end a stream analytics window on ROWTIME closes when no records arrive (a record's arrival time is taken up to an append's latency before it can be read).",
		field: func(c *Config) any { return &c.AnalyticsIdleGrace }},
	{Name: "analytics-checkpoint-interval", kind: kindDuration,
		Help:  "Longest time between two checkpoints of a stream analytics application (a window that closes is checkpointed at once).",
		field: func(c *Config) any { return &c.AnalyticsCheckpointInterval }},
	{Name: "firehose-glue-tables", kind: kindString,
		Help:  "Directory of the Glue tables Firehose record format conversion takes its schemas from: one <DatabaseName>.<TableName>.json file per table, in `aws glue get-table` output form, read when a delivery stream is created or updated.",
		field: func(c *Config) any { return &c.FirehoseGlueTables }},
	{Name: "throughput-limits", kind: kindString,
		Help:  "Per-shard throughput limits, as Kinesis enforces them, and Firehose's Direct PUT quotas: on (excess writes and reads get ProvisionedThroughputExceededException, excess Firehose puts ServiceUnavailableException) or off (the hardware is the limit).",
		field: func(c *Config) any { return &c.ThroughputLimits }},
	{Name: "shard-write-bytes-per-sec", kind: kindBytes,
		Help:  "Write limit of one shard in bytes per second, data plus partition keys (AWS: 1MiB).",
		field: func(c *Config) any { return &c.ShardWriteBytesPerSec }},
	{Name: "shard-write-records-per-sec", kind: kindInt,
		Help:  "Write limit of one shard in records per second (AWS: 1000).",
		field: func(c *Config) any { return &c.ShardWriteRecordsPerSec }},
	{Name: "shard-read-bytes-per-sec", kind: kindBytes,
		Help:  "Read limit of one shard in bytes per second for GetRecords (AWS: 2MiB); a larger response blocks the shard's reads until paid back (10 MiB: 5 s).",
		field: func(c *Config) any { return &c.ShardReadBytesPerSec }},
	{Name: "shard-read-calls-per-sec", kind: kindInt,
		Help:  "GetRecords calls per second one shard takes (AWS: 5).",
		field: func(c *Config) any { return &c.ShardReadCallsPerSec }},
	{Name: "firehose-put-records-per-sec", kind: kindInt,
		Help:  "Firehose Direct PUT quota of one delivery stream in records per second, enforced while throughput-limits is on (0: AWS's, 500000 in us-east-1, us-west-2 and eu-west-1, else 100000).",
		field: func(c *Config) any { return &c.FirehosePutRecordsPerSec }},
	{Name: "firehose-put-requests-per-sec", kind: kindInt,
		Help:  "Firehose Direct PUT quota of one delivery stream in PutRecord and PutRecordBatch calls per second, enforced while throughput-limits is on (0: AWS's, 2000 in us-east-1, us-west-2 and eu-west-1, else 1000).",
		field: func(c *Config) any { return &c.FirehosePutRequestsPerSec }},
	{Name: "firehose-put-bytes-per-sec", kind: kindBytes,
		Help:  "Firehose Direct PUT quota of one delivery stream in bytes per second, enforced while throughput-limits is on (0: AWS's, 5MiB in us-east-1, us-west-2 and eu-west-1, else 1MiB).",
		field: func(c *Config) any { return &c.FirehosePutBytesPerSec }},
	{Name: "fault-throttle-probability", kind: kindFloat,
		Help:  "Chance (0 to 1) that a PutRecord, GetRecords or PutRecords entry fails with ProvisionedThroughputExceededException, for resilience testing.",
		field: func(c *Config) any { return &c.FaultThrottleProbability }},
	{Name: "fault-internal-probability", kind: kindFloat,
		Help:  "Chance (0 to 1) that a PutRecord, GetRecords or PutRecords entry fails with InternalFailure, for resilience testing.",
		field: func(c *Config) any { return &c.FaultInternalProbability }},
	{Name: "fault-seed", kind: kindInt,
		Help:  "Seed of the injected faults, to replay a run; 0 picks one at random.",
		field: func(c *Config) any { return &c.FaultSeed }},
	{Name: "on-demand-scale-interval", kind: kindDuration,
		Help:  "How often on-demand shards are measured, and the least time between two scaling actions on one stream.",
		field: func(c *Config) any { return &c.OnDemandScaleInterval }},
	{Name: "on-demand-scale-window", kind: kindDuration,
		Help:  "How long an on-demand shard must stay above on-demand-scale-up-share of its write capacity before it is split.",
		field: func(c *Config) any { return &c.OnDemandScaleWindow }},
	{Name: "on-demand-scale-up-share", kind: kindFloat,
		Help:  "Share of a shard's write capacity (bytes or records) above which an on-demand shard counts as hot.",
		field: func(c *Config) any { return &c.OnDemandScaleUpShare }},
	{Name: "on-demand-scale-down-share", kind: kindFloat,
		Help:  "Share of a shard's write capacity below which an on-demand shard counts as cold; adjacent cold shards are merged.",
		field: func(c *Config) any { return &c.OnDemandScaleDownShare }},
	{Name: "on-demand-quiet-period", kind: kindDuration,
		Help:  "How long two adjacent on-demand shards must stay cold before they are merged (never below 4 open shards).",
		field: func(c *Config) any { return &c.OnDemandQuietPeriod }},
	{Name: "subscription-lifetime", kind: kindDuration,
		Help:  "How long a SubscribeToShard event stream lasts before it ends and the client subscribes again (AWS: 5m).",
		field: func(c *Config) any { return &c.SubscriptionLifetime }},
	{Name: "subscription-heartbeat", kind: kindDuration,
		Help:  "Longest an idle SubscribeToShard stays silent: an event with the continuation sequence number is sent at least this often (AWS: 5s).",
		field: func(c *Config) any { return &c.SubscriptionHeartbeat }},
	{Name: "max-request-bytes", kind: kindBytes,
		Help:  "Largest request body accepted, in bytes (suffixes KiB, MiB, GiB allowed); larger requests are refused.",
		field: func(c *Config) any { return &c.MaxRequestBytes }},
	{Name: "retention-check-interval", kind: kindDuration,
		Help:  "How often records older than their stream's retention period are trimmed (reads never return them either way).",
		field: func(c *Config) any { return &c.RetentionCheckInterval }},
	{Name: "retention-hour", kind: kindDuration,
		Help:  "For retention tests and benchmarks only: how long one hour of a stream's retention period lasts (1s makes the 24-hour minimum 24 seconds); leave at 1h otherwise.",
		field: func(c *Config) any { return &c.RetentionHour }},
	{Name: "shutdown-timeout", kind: kindDuration,
		Help:  "How long a graceful stop waits for in-flight requests before cutting them off.",
		field: func(c *Config) any { return &c.ShutdownTimeout }},
	{Name: "log-level", kind: kindString,
		Help:  "Least severe log level written: debug, info, warn or error.",
		field: func(c *Config) any { return &c.LogLevel }},
	{Name: "log-format", kind: kindString,
		Help:  "Log format on stderr: text or json.",
		field: func(c *Config) any { return &c.LogFormat }},
	{Name: "auth", kind: kindString,
		Help:  "Request authentication and authorization: on (SigV4 checked against the config file's credentials, policies enforced), off (any well-formed signature, no policies) or auto (on when the config file declares users or accounts and data is on disk).",
		field: func(c *Config) any { return &c.Auth }},
	{Name: "allow-cidrs", kind: kindString,
		Help:  "Comma-separated client networks (CIDR blocks or addresses) the plain listener accepts, and the TLS listener too unless tls-allow-cidrs is set; other clients get 403 AccessDeniedException. Empty accepts everyone.",
		field: func(c *Config) any { return &c.AllowCIDRs }},
	{Name: "tls-allow-cidrs", kind: kindString,
		Help:  "Client networks the TLS listener accepts, in the form of allow-cidrs; empty: allow-cidrs applies to the TLS listener too.",
		field: func(c *Config) any { return &c.TLSAllowCIDRs }},
	{Name: "metrics", kind: kindString,
		Help:  "Prometheus metrics at GET /metrics (Kinesis metrics per stream, shard and consumer; requests; storage; Go runtime): on or off. Served without authentication, like /health, to the clients the listener's allow-list accepts.",
		field: func(c *Config) any { return &c.Metrics }},
	{Name: "metrics-listen", kind: kindString,
		Help:  "Address of a separate plain HTTP listener for /metrics (and /health), host:port; empty: /metrics is served on the API listeners. When set, the API listeners do not serve /metrics; not opened when metrics is off.",
		field: func(c *Config) any { return &c.MetricsListen }},
	{Name: "metrics-retention", kind: kindDuration,
		Help:  "How long the CloudWatch API (GetMetricStatistics, GetMetricData, ListMetrics) keeps the one-minute aggregates of the Kinesis metrics, in the data directory; 1h to 10920h (455 days). CloudWatch keeps one-minute data 15 days.",
		field: func(c *Config) any { return &c.MetricsRetention }},
	{Name: "backup-password", kind: kindString,
		Help:  "Password of the server's backup endpoint, which millrace backup --url uses to copy the running server's streams and catalog (a cluster node copies the whole cluster); empty: the endpoint is off. Set it through the environment (MILLRACE_BACKUP_PASSWORD) or the config file, not a flag.",
		field: func(c *Config) any { return &c.BackupPassword }},
	{Name: "audit-log", kind: kindString,
		Help:  "File to write the audit log to (one CloudTrail-style JSON event per line); empty disables it.",
		field: func(c *Config) any { return &c.AuditLog }},
	{Name: "audit-data-events", kind: kindBool,
		Help:  "Also audit data-plane calls (PutRecord(s), GetRecords, GetShardIterator, SubscribeToShard); record data is never logged.",
		field: func(c *Config) any { return &c.AuditDataEvents }},
	{Name: "audit-log-max-bytes", kind: kindBytes,
		Help:  "Size at which the audit log is rotated (0: never).",
		field: func(c *Config) any { return &c.AuditLogMaxBytes }},
	{Name: "audit-log-max-files", kind: kindInt,
		Help:  "How many audit log files are kept, the current one included; the oldest is deleted on rotation.",
		field: func(c *Config) any { return &c.AuditLogMaxFiles }},
	{Name: "kms-key-file", kind: kindString,
		Help:  "Key file of the local key service behind stream encryption (created on first start, mode 0600); empty: kms-keys.json in the data directory. Unused with in-memory.",
		field: func(c *Config) any { return &c.KMSKeyFile }},
	{Name: "kms-master-key", kind: kindString,
		Help:  "Master key (base64 of 32 bytes) that seals the KMS key file; set it through the environment (MILLRACE_KMS_MASTER_KEY), not a flag.",
		field: func(c *Config) any { return &c.KMSMasterKey }},
	{Name: "cluster-name", kind: kindString,
		Help:  "Run as a node of a cluster of this name: a NATS server with JetStream embedded in this process (its files in data-dir/nats) joins the other nodes through cluster-routes, and streams, records and metadata live in JetStream; empty: a single node on the embedded Pebble engine.",
		field: func(c *Config) any { return &c.ClusterName }},
	{Name: "cluster-node-name", kind: kindString,
		Help:  "This node's name in the cluster, unique and stable across restarts; empty: derived from cluster-listen.",
		field: func(c *Config) any { return &c.ClusterNodeName }},
	{Name: "cluster-listen", kind: kindString,
		Help:  "Address where this node takes connections from the other nodes (NATS routes), host:port.",
		field: func(c *Config) any { return &c.ClusterListen }},
	{Name: "cluster-routes", kind: kindString,
		Help:  "The other nodes' cluster-listen addresses, comma-separated nats://host:port URLs.",
		field: func(c *Config) any { return &c.ClusterRoutes }},
	{Name: "cluster-nats-listen", kind: kindString,
		Help:  "Address where the embedded NATS server takes client connections (for NATS tools), host:port; empty: none.",
		field: func(c *Config) any { return &c.ClusterNATSListen }},
	{Name: "cluster-replicas", kind: kindInt,
		Help:  "Copies of every shard and of the metadata in the cluster (1, 3 or 5); writes need a majority of them.",
		field: func(c *Config) any { return &c.ClusterReplicas }},
	{Name: "cluster-tls-cert", kind: kindString,
		Help:  "PEM certificate this node presents to the other nodes; with cluster-tls-key and cluster-tls-ca, traffic between nodes is TLS, verified both ways.",
		field: func(c *Config) any { return &c.ClusterTLSCert }},
	{Name: "cluster-tls-key", kind: kindString,
		Help:  "PEM private key of cluster-tls-cert.",
		field: func(c *Config) any { return &c.ClusterTLSKey }},
	{Name: "cluster-tls-ca", kind: kindString,
		Help:  "PEM certificate(s) of the authority that signed every node's cluster-tls-cert.",
		field: func(c *Config) any { return &c.ClusterTLSCA }},
	{Name: "cluster-system-password", kind: kindString,
		Help:  "Password of the user \"system\" of the embedded NATS server's system account, which millrace cluster status and remove-node use through cluster-nats-listen; empty: no such user. Set it through the environment (MILLRACE_CLUSTER_SYSTEM_PASSWORD) or the config file, not a flag.",
		field: func(c *Config) any { return &c.ClusterSystemPassword }},
	{Name: "nats-url", kind: kindString,
		Help:  "Store everything in an existing NATS JetStream cluster at these URLs (comma-separated nats:// or tls://) instead of embedding a server; excludes cluster-name.",
		field: func(c *Config) any { return &c.NATSURL }},
	{Name: "nats-creds", kind: kindString,
		Help:  "NATS credentials file (user JWT and seed) for nats-url.",
		field: func(c *Config) any { return &c.NATSCreds }},
	{Name: "nats-tls-ca", kind: kindString,
		Help:  "PEM certificate(s) that verify the NATS servers of nats-url; setting it (or nats-tls-cert) turns TLS on.",
		field: func(c *Config) any { return &c.NATSTLSCA }},
	{Name: "nats-tls-cert", kind: kindString,
		Help:  "PEM client certificate for nats-url, with nats-tls-key.",
		field: func(c *Config) any { return &c.NATSTLSCert }},
	{Name: "nats-tls-key", kind: kindString,
		Help:  "PEM private key of nats-tls-cert.",
		field: func(c *Config) any { return &c.NATSTLSKey }},
	{Name: "nats-prefix", kind: kindString,
		Help:  "Prefix of every JetStream stream and bucket Millrace creates, so that several deployments can share one NATS cluster.",
		field: func(c *Config) any { return &c.NATSPrefix }},
}

// Settings returns every setting, in the order help and documentation list
// them.
func Settings() []Setting {
	return append([]Setting(nil), settings...)
}

// Lookup finds a setting by name.
func Lookup(name string) (Setting, bool) {
	for _, s := range settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

var byteUnits = []struct {
	suffix string
	size   int64
}{
	{"GiB", 1 << 30},
	{"MiB", 1 << 20},
	{"KiB", 1 << 10},
	{"B", 1},
}

// parseBytes reads a byte count: digits, optionally followed by B, KiB, MiB
// or GiB.
func parseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			mult = u.size
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid byte size %q (use an integer, optionally with KiB, MiB or GiB, e.g. 16MiB)", v)
	}
	return n * mult, nil
}

func formatBytes(n int64) string {
	for _, u := range byteUnits[:3] {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration writes d as time.ParseDuration reads it, without the
// trailing zero units of Duration.String ("5m", not "5m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

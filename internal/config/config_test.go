package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// load parses args as the command line and loads with env.
func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return f.Load(envFrom(env))
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	want := Config{
		Listen: "127.0.0.1:4567", DataDir: "./millrace-data", Region: "us-east-1",
		AccountID: "000000000000", IteratorTTL: 5 * time.Minute,
		CreateDelay: 100 * time.Millisecond, DeleteDelay: 100 * time.Millisecond,
		UpdateDelay: 100 * time.Millisecond, ShardLimit: 20000, OnDemandStreamLimit: 50,
		LambdaConcurrency: 1000, LambdaMemoryLimits: "auto", LambdaSandbox: "auto", AnalyticsIdleGrace: 2 * time.Second, AnalyticsCheckpointInterval: 10 * time.Second,
		MaxRequestBytes: 16 << 20, RetentionCheckInterval: time.Minute, RetentionHour: time.Hour,
		ShutdownTimeout: 30 * time.Second, LogLevel: "info", LogFormat: "text",
		Auth: "auto", AuditLogMaxBytes: 100 << 20, AuditLogMaxFiles: 10,
		ThroughputLimits: "on", Metrics: "on", MetricsRetention: 15 * 24 * time.Hour, ShardWriteBytesPerSec: 1 << 20, ShardWriteRecordsPerSec: 1000,
		ShardReadBytesPerSec: 2 << 20, ShardReadCallsPerSec: 5,
		OnDemandScaleInterval: 10 * time.Second, OnDemandScaleWindow: 30 * time.Second,
		OnDemandScaleUpShare: 0.5, OnDemandScaleDownShare: 0.2, OnDemandQuietPeriod: 5 * time.Minute,
		SubscriptionLifetime: 5 * time.Minute, SubscriptionHeartbeat: 5 * time.Second,
		ClusterReplicas: 3, NATSPrefix: "millrace",
	}
	if c != want {
		t.Fatalf("Default() = %+v, want %+v", c, want)
	}
	got, err := load(t, nil, nil)
	if err != nil || got != want {
		t.Fatalf("load with nothing set = %+v, %v; want defaults", got, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // every line of the error must contain this
	}{
		{"empty listen", func(c *Config) { c.Listen = "" }, "listen: must not be empty"},
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, `listen: "localhost" is not host:port`},
		{"listen bad port", func(c *Config) { c.Listen = "127.0.0.1:99999" }, `listen: "127.0.0.1:99999" has an invalid port "99999"`},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data-dir: must not be empty"},
		{"empty region", func(c *Config) { c.Region = "" }, "region: must not be empty"},
		{"bad region", func(c *Config) { c.Region = "US East" }, `region: "US East" is not a region name`},
		{"short account", func(c *Config) { c.AccountID = "1234" }, `account-id: "1234" must be exactly 12 digits`},
		{"letters in account", func(c *Config) { c.AccountID = "12345678901a" }, `account-id: "12345678901a"`},
		{"zero ttl", func(c *Config) { c.IteratorTTL = 0 }, "iterator-ttl: 0s must be greater than 0"},
		{"negative create delay", func(c *Config) { c.CreateDelay = -time.Second }, "create-delay: -1s must not be negative"},
		{"negative delete delay", func(c *Config) { c.DeleteDelay = -time.Millisecond }, "delete-delay: -1ms must not be negative"},
		{"negative update delay", func(c *Config) { c.UpdateDelay = -time.Millisecond }, "update-delay: -1ms must not be negative"},
		{"zero shard limit", func(c *Config) { c.ShardLimit = 0 }, "shard-limit: 0 must be greater than 0"},
		{"negative Firehose quota", func(c *Config) { c.FirehosePutBytesPerSec = -1 }, "firehose-put-bytes-per-sec: -1 must not be negative"},
		{"negative on-demand limit", func(c *Config) { c.OnDemandStreamLimit = -1 }, "on-demand-stream-limit: -1 must be greater than 0"},
		{"zero lambda concurrency", func(c *Config) { c.LambdaConcurrency = 0 }, "lambda-concurrency: 0 must be greater than 0"},
		{"bad lambda memory limits", func(c *Config) { c.LambdaMemoryLimits = "yes" }, `lambda-memory-limits: "yes" must be auto, on or off`},
		{"bad lambda sandbox", func(c *Config) { c.LambdaSandbox = "yes" }, `lambda-sandbox: "yes" must be auto, on or off`},
		{"firehose S3 endpoint not a URL", func(c *Config) { c.FirehoseS3Endpoint = "127.0.0.1:9000" }, "firehose-s3-endpoint: \"127.0.0.1:9000\" is not an http:// or https:// URL"},
		{"zero request size", func(c *Config) { c.MaxRequestBytes = 0 }, "max-request-bytes: 0 must be greater than 0"},
		{"zero retention interval", func(c *Config) { c.RetentionCheckInterval = 0 }, "retention-check-interval: 0s must be greater than 0"},
		{"zero retention hour", func(c *Config) { c.RetentionHour = 0 }, "retention-hour: 0s must be between 1ms and 1h"},
		{"short metrics retention", func(c *Config) { c.MetricsRetention = time.Minute }, "metrics-retention: 1m0s must be between 1h and 10920h (455 days)"},
		{"zero shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown-timeout: 0s must be greater than 0"},
		{"bad log level", func(c *Config) { c.LogLevel = "verbose" }, `log-level: "verbose" must be one of debug, info, warn, error`},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, `log-format: "xml" must be text or json`},
		{"cluster without listen", func(c *Config) { c.ClusterName = "c"; c.ClusterRoutes = "nats://h:1" }, "cluster-listen: must be set with cluster-name"},
		{"cluster without routes", func(c *Config) { c.ClusterName = "c"; c.ClusterListen = "127.0.0.1:6222" }, "cluster-routes: must list the other nodes (cluster-replicas is 3)"},
		{"bad route", func(c *Config) { c.ClusterName = "c"; c.ClusterListen = "h:1"; c.ClusterRoutes = "h:2" }, `cluster-routes: "h:2" is not a nats://host:port URL`},
		{"cluster and nats-url", func(c *Config) {
			c.ClusterName = "c"
			c.ClusterListen = "h:1"
			c.ClusterRoutes = "nats://h:2"
			c.NATSURL = "nats://h:3"
		}, "nats-url: is set together with cluster-name"},
		{"routes without cluster", func(c *Config) { c.ClusterRoutes = "nats://h:2" }, "cluster-routes: is set but cluster-name is empty"},
		{"two replicas", func(c *Config) { c.ClusterReplicas = 2 }, "cluster-replicas: 2 must be 1, 3 or 5"},
		{"half cluster TLS", func(c *Config) {
			c.ClusterName = "c"
			c.ClusterListen = "h:1"
			c.ClusterRoutes = "nats://h:2"
			c.ClusterTLSCert = "x"
		}, "cluster-tls-cert, cluster-tls-key and cluster-tls-ca go together"},
		{"creds without url", func(c *Config) { c.NATSCreds = "x" }, "nats-creds: is set but nats-url is empty"},
		{"bad metrics", func(c *Config) { c.Metrics = "yes" }, `metrics: "yes" must be on or off`},
		{"metrics-listen without port", func(c *Config) { c.MetricsListen = "localhost" }, `metrics-listen: "localhost" is not host:port`},
		{"metrics-listen bad port", func(c *Config) { c.MetricsListen = ":70000" }, `metrics-listen: ":70000" has an invalid port "70000"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}

	t.Run("zero delays allowed", func(t *testing.T) {
		c := Default()
		c.CreateDelay, c.DeleteDelay, c.UpdateDelay = 0, 0, 0
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("in-memory needs no data dir", func(t *testing.T) {
		c := Default()
		c.InMemory, c.DataDir = true, ""
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("every problem reported", func(t *testing.T) {
		c := Default()
		c.Region, c.AccountID, c.ShardLimit = "", "x", 0
		err := c.Validate()
		for _, want := range []string{"region:", "account-id:", "shard-limit:"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate() = %v, want it to mention %s", err, want)
			}
		}
	})
}

func TestPrecedence(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"millrace.toml", `
region = "eu-west-1"
account-id = "111111111111"
shard-limit = 10
create-delay = "1s"
in-memory = true
`},
		{"millrace.yaml", `
region: eu-west-1
account-id: "111111111111"
shard-limit: 10
create-delay: 1s
in-memory: true
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.name, tc.file)
			env := map[string]string{
				"MILLRACE_ACCOUNT_ID":   "222222222222",
				"MILLRACE_SHARD_LIMIT":  "20",
				"MILLRACE_CREATE_DELAY": "2s",
				"MILLRACE_LOG_LEVEL":    "", // empty counts as unset
			}
			got, err := load(t, []string{"--config", path, "--shard-limit=30", "-in-memory=false"}, env)
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			want.Region = "eu-west-1"       // file over default
			want.AccountID = "222222222222" // env over file
			want.CreateDelay = 2 * time.Second
			want.ShardLimit = 30  // flag over env and file
			want.InMemory = false // flag over file
			if got != want {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	fromEnv := writeFile(t, "env.toml", `region = "ap-south-1"`)
	fromFlag := writeFile(t, "flag.yml", `region: sa-east-1`)
	env := map[string]string{ConfigEnv: fromEnv}

	got, err := load(t, nil, env)
	if err != nil || got.Region != "ap-south-1" {
		t.Fatalf("MILLRACE_CONFIG: region %q, err %v; want ap-south-1", got.Region, err)
	}
	got, err = load(t, []string{"--config=" + fromFlag}, env)
	if err != nil || got.Region != "sa-east-1" {
		t.Fatalf("--config over MILLRACE_CONFIG: region %q, err %v; want sa-east-1", got.Region, err)
	}
	got, err = load(t, []string{"--config="}, env)
	if err != nil || got.Region != "us-east-1" {
		t.Fatalf("--config= disables the file: region %q, err %v; want us-east-1", got.Region, err)
	}
}

func TestEverySettingFromEverySource(t *testing.T) {
	// A value different from each default, written as the user would.
	values := map[string]string{
		"listen": "0.0.0.0:9000", "data-dir": "/var/lib/millrace", "in-memory": "true",
		"region": "eu-central-1", "account-id": "123456789012", "iterator-ttl": "1m",
		"create-delay": "0s", "delete-delay": "1s", "update-delay": "250ms",
		"shard-limit": "500", "on-demand-stream-limit": "10", "lambda-concurrency": "5", "lambda-memory-limits": "off", "lambda-sandbox": "off", "max-request-bytes": "32MiB",
		"firehose-s3-endpoint": "http://127.0.0.1:9000", "firehose-s3-access-key-id": "AKID", "firehose-s3-secret-access-key": "SECRET", "firehose-s3-region": "us-west-2", "firehose-glue-tables": "/etc/millrace/glue",
		"analytics-idle-grace": "5s", "analytics-checkpoint-interval": "1m",
		"retention-check-interval": "10s", "retention-hour": "1s", "shutdown-timeout": "5s",
		"log-level": "debug", "log-format": "json",
		"auth": "off", "metrics": "off", "metrics-listen": "127.0.0.1:9464", "metrics-retention": "48h", "allow-cidrs": "10.0.0.0/8,127.0.0.1", "audit-log": "/var/log/millrace-audit.jsonl",
		"audit-data-events": "true", "audit-log-max-bytes": "1MiB", "audit-log-max-files": "3",
		"kms-key-file": "/etc/millrace/kms.json", "kms-master-key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"throughput-limits": "off", "shard-write-bytes-per-sec": "2MiB", "shard-write-records-per-sec": "2000",
		"shard-read-bytes-per-sec": "4MiB", "shard-read-calls-per-sec": "10",
		"firehose-put-records-per-sec": "1000", "firehose-put-requests-per-sec": "50", "firehose-put-bytes-per-sec": "2MiB",
		"fault-throttle-probability": "0.25", "fault-internal-probability": "0.5", "fault-seed": "7",
		"on-demand-scale-interval": "1s", "on-demand-scale-window": "5s", "on-demand-scale-up-share": "0.8",
		"on-demand-scale-down-share": "0.3", "on-demand-quiet-period": "1m",
		"tls-listen": "0.0.0.0:9443", "tls-cert": "/etc/millrace/cert.pem", "tls-key": "/etc/millrace/key.pem",
		"tls-only": "true", "tls-allow-cidrs": "192.168.0.0/16",
		"subscription-lifetime": "30s", "subscription-heartbeat": "1s",
		"cluster-name": "prod", "cluster-node-name": "n1", "cluster-listen": "10.0.0.1:6222",
		"cluster-routes": "nats://10.0.0.2:6222,nats://10.0.0.3:6222", "cluster-nats-listen": "127.0.0.1:4222",
		"cluster-replicas": "5", "cluster-tls-cert": "/etc/millrace/node.pem", "cluster-tls-key": "/etc/millrace/node-key.pem",
		"cluster-tls-ca": "/etc/millrace/ca.pem", "nats-url": "tls://nats.example:4222", "nats-creds": "/etc/millrace/nats.creds",
		"nats-tls-ca": "/etc/millrace/nats-ca.pem", "nats-tls-cert": "/etc/millrace/nats-client.pem",
		"nats-tls-key": "/etc/millrace/nats-client-key.pem", "nats-prefix": "staging", "cluster-system-password": "pw", "backup-password": "bpw",
	}
	// A node either embeds a NATS server or connects to one, and keeps
	// data in memory only alone: three passes set every setting.
	connect := map[string]bool{"nats-url": true, "nats-creds": true, "nats-tls-ca": true, "nats-tls-cert": true, "nats-tls-key": true}
	for _, s := range Settings() {
		if _, ok := values[s.Name]; !ok {
			t.Fatalf("test has no value for setting %s", s.Name)
		}
	}
	t.Run("embedded", func(t *testing.T) {
		checkEverySource(t, values, func(name string) bool { return !connect[name] && name != "in-memory" })
	})
	t.Run("single", func(t *testing.T) {
		checkEverySource(t, values, func(name string) bool { return !connect[name] && !strings.HasPrefix(name, "cluster-") })
	})
	t.Run("connect", func(t *testing.T) {
		checkEverySource(t, values, func(name string) bool {
			return connect[name] || !strings.HasPrefix(name, "cluster-") && name != "in-memory"
		})
	})
}

// checkEverySource sets the settings that use selects to values through
// each source and checks that each reads back.
func checkEverySource(t *testing.T, values map[string]string, use func(string) bool) {
	var toml, yaml strings.Builder
	var args []string
	env := map[string]string{}
	for _, s := range Settings() {
		if !use(s.Name) {
			continue
		}
		v, ok := values[s.Name]
		if !ok {
			t.Fatalf("test has no value for setting %s", s.Name)
		}
		if v == s.Default() {
			t.Fatalf("test value for %s equals the default", s.Name)
		}
		toml.WriteString(s.Name + " = " + tomlLiteral(s, v) + "\n")
		yaml.WriteString(s.Name + ": " + tomlLiteral(s, v) + "\n")
		args = append(args, s.Flag()+"="+v)
		env[s.Env()] = v
	}
	sources := map[string]func() (Config, error){
		"toml": func() (Config, error) {
			return load(t, []string{"--config", writeFile(t, "c.toml", toml.String())}, nil)
		},
		"yaml": func() (Config, error) {
			return load(t, []string{"--config", writeFile(t, "c.yaml", yaml.String())}, nil)
		},
		"env":   func() (Config, error) { return load(t, nil, env) },
		"flags": func() (Config, error) { return load(t, args, nil) },
	}
	for name, get := range sources {
		t.Run(name, func(t *testing.T) {
			c, err := get()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range Settings() {
				if !use(s.Name) {
					continue
				}
				if got := s.Get(&c); got != values[s.Name] {
					t.Errorf("%s = %q, want %q", s.Name, got, values[s.Name])
				}
			}
		})
	}
}

func tomlLiteral(s Setting, v string) string {
	switch s.kind {
	case kindBool, kindInt, kindFloat:
		return v
	}
	return `"` + v + `"`
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"unknown key toml", "c.toml", "regoin = \"x\"\n", []string{`unknown key "regoin"`, "known keys: listen, data-dir"}},
		{"unknown key yaml", "c.yaml", "datadir: /x\n", []string{`unknown key "datadir"`}},
		{"snake case suggestion", "c.toml", "data_dir = \"/x\"\n", []string{`unknown key "data_dir"; did you mean "data-dir"?`}},
		{"toml syntax", "c.toml", "region = \n", []string{"c.toml", "line 1"}},
		{"yaml syntax", "c.yaml", "region: [\n", []string{"c.yaml", "yaml:"}},
		{"duration without unit", "c.toml", "create-delay = 100\n", []string{"create-delay: 100 has no unit", `"100ms"`}},
		{"bad duration", "c.yaml", "iterator-ttl: soon\n", []string{`iterator-ttl: invalid duration "soon"`}},
		{"string for int", "c.toml", "shard-limit = \"many\"\n", []string{`shard-limit: invalid integer "many"`}},
		{"bool for int", "c.yaml", "shard-limit: true\n", []string{"shard-limit: must be an integer, not bool true"}},
		{"fraction for int", "c.yaml", "shard-limit: 1.5\n", []string{"shard-limit: must be an integer"}},
		{"int for bool", "c.toml", "in-memory = 1\n", []string{"in-memory: must be a boolean"}},
		{"number for string", "c.yaml", "account-id: 000000000000\n", []string{"account-id: must be a string, not the number 0; quote it"}},
		{"empty yaml value", "c.yaml", "region:\n", []string{"region: has no value"}},
		{"nested table", "c.toml", "[server]\nlisten = \":1\"\n", []string{`unknown key "server"`}},
		{"invalid after load", "c.toml", "account-id = \"12\"\n", []string{`account-id: "12" must be exactly 12 digits`}},
		{"unknown extension", "c.json", "{}", []string{`unknown format ".json"; use .toml, .yaml or .yml`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.content)
			_, err := load(t, []string{"--config", path}, nil)
			if err == nil {
				t.Fatalf("load succeeded, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := load(t, []string{"--config", filepath.Join(t.TempDir(), "nope.toml")}, nil)
		if err == nil || !strings.Contains(err.Error(), "nope.toml") || !os.IsNotExist(unwrapAll(err)) {
			t.Fatalf("err = %v, want a not-exist error naming the file", err)
		}
	})
	t.Run("empty file is fine", func(t *testing.T) {
		for _, name := range []string{"e.toml", "e.yaml"} {
			if _, err := load(t, []string{"--config", writeFile(t, name, "")}, nil); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestFlagAndEnvErrors(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	AddFlags(fs)
	err := fs.Parse([]string{"--iterator-ttl", "forever"})
	if err == nil || !strings.Contains(err.Error(), "iterator-ttl") || !strings.Contains(err.Error(), `invalid duration "forever"`) {
		t.Fatalf("flag error = %v", err)
	}

	_, err = load(t, nil, map[string]string{"MILLRACE_IN_MEMORY": "yes please"})
	if err == nil || !strings.Contains(err.Error(), `environment variable MILLRACE_IN_MEMORY: invalid boolean "yes please"`) {
		t.Fatalf("env error = %v", err)
	}
	_, err = load(t, []string{"--region="}, nil)
	if err == nil || !strings.Contains(err.Error(), "region: must not be empty") {
		t.Fatalf("empty region flag error = %v", err)
	}
}

func TestBoolFlagWithoutValue(t *testing.T) {
	c, err := load(t, []string{"--in-memory"}, nil)
	if err != nil || !c.InMemory {
		t.Fatalf("--in-memory: InMemory %v, err %v", c.InMemory, err)
	}
}

func TestByteSizes(t *testing.T) {
	for in, want := range map[string]int64{
		"16777216": 16 << 20, "16MiB": 16 << 20, "16 MiB": 16 << 20, "1GiB": 1 << 30,
		"512KiB": 512 << 10, "100B": 100, "1000": 1000,
	} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "16MB", "-", "99999999999GiB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded, want error", in)
		}
	}
	for n, want := range map[int64]string{16 << 20: "16MiB", 1 << 30: "1GiB", 2048: "2KiB", 1000: "1000", 0: "0"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSettingsCoverConfig checks that the settings table and the Config
// struct agree: one setting per field, named as the field's file tags.
func TestSettingsCoverConfig(t *testing.T) {
	typ := reflect.TypeOf(Config{})
	fields := 0
	for i := 0; i < typ.NumField(); i++ {
		if typ.Field(i).Tag.Get("toml") != "-" { // sections such as IAM
			fields++
		}
	}
	if got := len(Settings()); got != fields {
		t.Errorf("%d settings for %d Config fields", got, fields)
	}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := f.Tag.Get("toml")
		if name == "-" {
			continue
		}
		if y := f.Tag.Get("yaml"); y != name {
			t.Errorf("field %s: toml tag %q, yaml tag %q", f.Name, name, y)
		}
		s, ok := Lookup(name)
		if !ok {
			t.Errorf("field %s (%q) has no setting", f.Name, name)
			continue
		}
		var c Config
		want := reflect.ValueOf(&c).Elem().Field(i).Addr().Interface()
		if got := s.field(&c); got != want {
			t.Errorf("setting %s points at the wrong field", name)
		}
		if s.Help == "" || !strings.HasSuffix(s.Help, ".") {
			t.Errorf("setting %s: help %q should be a sentence", name, s.Help)
		}
		if def := s.Default(); def != "" {
			c2 := Config{}
			if err := s.Set(&c2, def); err != nil || s.Get(&c2) != def {
				t.Errorf("setting %s: default %q does not round-trip: %v", name, def, err)
			}
		}
	}
}

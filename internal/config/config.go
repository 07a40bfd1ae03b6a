// Package config holds Millrace's configuration: one struct filled, in
// increasing order of precedence, from defaults, a config file (TOML or
// YAML), MILLRACE_* environment variables and command-line flags, then
// checked by Validate before anything starts.
package config

import "time"

// Config is the whole server configuration.
type Config struct {
	// Listen is the address of the API listener (host:port; port 0 picks a
	// free one).
	Listen string `toml:"listen" yaml:"listen"`
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
	// MaxRequestBytes caps a request body.
	MaxRequestBytes int64 `toml:"max-request-bytes" yaml:"max-request-bytes"`
	// RetentionCheckInterval is how often expired records are trimmed.
	RetentionCheckInterval time.Duration `toml:"retention-check-interval" yaml:"retention-check-interval"`
	// ShutdownTimeout bounds the graceful stop.
	ShutdownTimeout time.Duration `toml:"shutdown-timeout" yaml:"shutdown-timeout"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `toml:"log-level" yaml:"log-level"`
	LogFormat string `toml:"log-format" yaml:"log-format"`
}

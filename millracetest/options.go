package millracetest

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/millrace/millrace/internal/config"
)

// An Option changes how New starts the server. Later options override
// earlier ones of the same kind, except WithUsers, whose users add up.
type Option func(*options)

// options are the choices the Options made; apply turns them into the
// server's configuration.
type options struct {
	limits     *Limits
	faults     *Faults
	users      []User
	dataDir    string
	stateDelay time.Duration
	logger     *slog.Logger
}

// Limits are per-shard throughput limits. A zero field keeps Kinesis's
// limit: 1 MiB/s and 1,000 records/s of writes, 2 MiB/s and 5 calls/s of
// GetRecords per shard. Each limit is a token bucket holding one second of
// its rate, so an idle shard takes a one-second burst and refuses the rest
// with ProvisionedThroughputExceededException (for PutRecords, per entry).
type Limits struct {
	WriteBytesPerSec   int64
	WriteRecordsPerSec int
	ReadBytesPerSec    int64
	ReadCallsPerSec    int
}

// WithThroughputLimits enforces per-shard throughput limits, as Kinesis
// does; they are off by default (see the package documentation for why).
// WithThroughputLimits(Limits{}) enforces Kinesis's own limits; lower ones,
// such as Limits{WriteRecordsPerSec: 10}, make throttling easy to reach in
// a test whatever the speed of the machine.
func WithThroughputLimits(l Limits) Option {
	return func(o *options) { o.limits = &l }
}

// Faults make data-plane calls fail at random, for tests of retry and
// error-handling code. Each PutRecord and GetRecords call, and each
// PutRecords entry, is throttled (ProvisionedThroughputExceededException)
// with chance ThrottleProbability, or else fails with InternalFailure with
// chance InternalProbability; a failed PutRecords entry carries the code
// in its ErrorCode, as on AWS, and writes nothing. Each probability is between 0 and 1, and
// their sum is at most 1. Seed makes the sequence of draws repeatable; 0
// picks a random seed.
type Faults struct {
	ThrottleProbability float64
	InternalProbability float64
	Seed                int64
}

// WithFaults injects faults into data-plane calls. With a probability of 1
// every call fails the same way, which makes a test of an error path
// deterministic.
func WithFaults(f Faults) Option {
	return func(o *options) { o.faults = &f }
}

// User is an IAM user declared by WithUsers.
type User struct {
	// Name is the user name, as in arn:aws:iam::000000000000:user/Name.
	Name string
	// AccessKeyID and SecretAccessKey are the user's credentials.
	AccessKeyID     string
	SecretAccessKey string
	// Policies are the user's identity-based IAM policies, as JSON
	// documents, such as AllowAll. A user without policies is denied
	// every action, as on AWS.
	Policies []string
}

// AllowAll is an IAM policy document that allows every Kinesis and
// DynamoDB action on every resource.
const AllowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:*","dynamodb:*"],"Resource":"*"}]}`

// WithUsers turns authentication on, as in production mode: every request
// must carry a valid SigV4 signature made with one of the users' keys, and
// is allowed only if the user's policies allow it. A request signed with an
// unknown key is refused with UnrecognizedClientException, one with a wrong
// secret with InvalidSignatureException, an unsigned one with
// MissingAuthenticationTokenException, and one the policies do not allow
// with AccessDeniedException. Policies are evaluated for Kinesis calls;
// DynamoDB calls need a valid signature only. AWSConfig signs as the first
// user. The users are in account 000000000000.
func WithUsers(users ...User) Option {
	return func(o *options) { o.users = append(o.users, users...) }
}

// WithDataDir keeps the server's data in dir, durably (a record is on disk
// before it is acknowledged), instead of in memory: the data survives
// Restart, and a later server started on the same dir sees it. dir must be
// empty, missing (it is created) or hold the data of an earlier Millrace
// server, and only one server may use it at a time. Pass t.TempDir() to have
// it removed when the test ends.
func WithDataDir(dir string) Option {
	return func(o *options) { o.dataDir = dir }
}

// WithStateDelay keeps a stream CREATING, DELETING or UPDATING for d before
// it moves on, for tests of code that waits for a stream to become ACTIVE
// (such as kinesis.NewStreamExistsWaiter). By default there is no delay.
func WithStateDelay(d time.Duration) Option {
	return func(o *options) { o.stateDelay = d }
}

// WithLogger sends the server's logs, at every level, to logger. By default
// its warnings and errors go to the test's log.
func WithLogger(logger *slog.Logger) Option {
	return func(o *options) { o.logger = logger }
}

// check reports the options the server's configuration cannot express, in
// the options' own terms; the server checks the values.
func (o *options) check() error {
	var errs []error
	keys := map[string]string{}
	for i, u := range o.users {
		who := fmt.Sprintf("WithUsers: user %d (%q)", i+1, u.Name)
		switch {
		case u.Name == "":
			errs = append(errs, fmt.Errorf("%s has no Name", who))
		case u.AccessKeyID == "" || u.SecretAccessKey == "":
			errs = append(errs, fmt.Errorf("%s needs both AccessKeyID and SecretAccessKey", who))
		case keys[u.AccessKeyID] != "":
			errs = append(errs, fmt.Errorf("%s has access key id %s, which user %q has too", who, u.AccessKeyID, keys[u.AccessKeyID]))
		default:
			keys[u.AccessKeyID] = u.Name
		}
	}
	if o.stateDelay < 0 {
		errs = append(errs, fmt.Errorf("WithStateDelay: %s must not be negative", o.stateDelay))
	}
	if o.faults != nil && o.faults.Seed < 0 {
		errs = append(errs, fmt.Errorf("WithFaults: Seed %d must not be negative", o.faults.Seed))
	}
	return errors.Join(errs...)
}

// apply sets the server's configuration from the options, over the test
// defaults servertest set (durable storage in t.TempDir(), no delays,
// limits off).
func (o *options) apply(c *config.Config) {
	c.InMemory = o.dataDir == ""
	if o.dataDir != "" {
		c.DataDir = o.dataDir
	}
	c.CreateDelay, c.DeleteDelay, c.UpdateDelay = o.stateDelay, o.stateDelay, o.stateDelay
	if l := o.limits; l != nil {
		c.ThroughputLimits = "on"
		if l.WriteBytesPerSec != 0 {
			c.ShardWriteBytesPerSec = l.WriteBytesPerSec
		}
		if l.WriteRecordsPerSec != 0 {
			c.ShardWriteRecordsPerSec = l.WriteRecordsPerSec
		}
		if l.ReadBytesPerSec != 0 {
			c.ShardReadBytesPerSec = l.ReadBytesPerSec
		}
		if l.ReadCallsPerSec != 0 {
			c.ShardReadCallsPerSec = l.ReadCallsPerSec
		}
	}
	if f := o.faults; f != nil {
		c.FaultThrottleProbability = f.ThrottleProbability
		c.FaultInternalProbability = f.InternalProbability
		c.FaultSeed = int(f.Seed)
	}
	if len(o.users) > 0 {
		c.Auth = config.AuthOn
		iam := &config.IAM{}
		for _, u := range o.users {
			cu := config.User{
				Name:       u.Name,
				AccessKeys: []config.AccessKey{{ID: u.AccessKeyID, Secret: u.SecretAccessKey}},
			}
			for i, p := range u.Policies {
				cu.Policies = append(cu.Policies, config.PolicyConfig{Name: fmt.Sprintf("policy-%d", i+1), Document: p})
			}
			iam.Users = append(iam.Users, cu)
		}
		c.IAM = iam
	}
}

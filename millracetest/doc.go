// Package millracetest runs a Millrace server inside a Go test, so that
// code written against the AWS Kinesis Data Streams API (and the DynamoDB
// subset KCL lease tables use) can be tested with the real aws-sdk-go-v2
// clients, without Docker, a network or an AWS account.
//
// New starts the server in the test's own process, on a free port of
// 127.0.0.1, and stops it when the test ends. Its AWSConfig returns an
// aws.Config that every service client built from it uses unchanged:
//
//	srv := millracetest.New(t)
//	streams := kinesis.NewFromConfig(srv.AWSConfig())
//	leases := dynamodb.NewFromConfig(srv.AWSConfig())
//
// # What a test gets by default
//
// The defaults are chosen so that a test sees the same result on a fast
// laptop and on a loaded CI machine:
//
//   - Storage in memory: nothing is written to disk, and each server
//     starts empty. WithDataDir keeps the data in a directory instead, so
//     that it survives Server.Restart.
//   - No state delays: a stream is ACTIVE as soon as CreateStream returns
//     (and gone as soon as DeleteStream returns), so a test need not wait.
//     WithStateDelay brings the CREATING, DELETING and UPDATING states back
//     for code that must handle them.
//   - Per-shard throughput limits off. Kinesis limits each shard to 1 MiB/s
//     and 1,000 records/s of writes and 2 MiB/s and 5 calls/s of reads;
//     whether a burst of writes fits under such a limit depends on how fast
//     the machine runs the test, which makes tests flaky. A test of
//     throttling handling turns them on with WithThroughputLimits (with
//     low rates, a burst larger than one second's worth is throttled on any
//     machine), or gets throttling at a chosen rate, independent of
//     timing, with WithFaults.
//   - Authentication off ("dev mode"): any well-formed credentials are
//     accepted, in account 000000000000. WithUsers turns on signature
//     checks and IAM policy evaluation, as in production mode.
//   - The server's warnings and errors in the test's log (t.Log);
//     WithLogger sends its logs elsewhere.
//
// # The aws.Config
//
// AWSConfig is built field by field rather than with config.LoadDefaultConfig,
// so that nothing in the environment (AWS_PROFILE, AWS_REGION,
// ~/.aws/config) changes what a test does: region us-east-1, static
// credentials (AWS's documented example key, or the first key of
// WithUsers), BaseEndpoint set to the server's endpoint (every service
// client copies aws.Config.BaseEndpoint into its own options) and an HTTP
// client whose connections are dropped when the server stops or restarts.
// Retries are the SDK's defaults, as in production; a test that wants to
// see the first answer sets RetryMaxAttempts to 1. To sign as someone else,
// copy the config and set Credentials:
//
//	cfg := srv.AWSConfig()
//	cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, "")
//
// A server belongs to one test, but its clients may be used from any
// goroutine, and tests that each start their own server may run in
// parallel (t.Parallel): every server has its own port and its own data.
package millracetest

package millracetest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/millrace/millrace/internal/server/servertest"
)

// Region is the region of the aws.Config that AWSConfig returns. Requests
// signed for any other region are served too, each region holding its own
// streams, as on AWS.
const Region = "us-east-1"

// Server is a Millrace server started by New for one test.
type Server struct {
	t   testing.TB
	srv *servertest.Server
	// accessKeyID and secretAccessKey sign the requests of AWSConfig.
	accessKeyID, secretAccessKey string
}

// New starts a server for t, waits until it serves requests and stops it
// when t and its subtests have finished (t.Cleanup). A server that cannot
// start (a bad option, an unusable data directory) fails t with the reason.
// See the package documentation for what the options change.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		t.Fatalf("millracetest: %v", err)
	}
	s := &Server{
		t:               t,
		srv:             servertest.StartWithLogger(t, o.logger, o.apply),
		accessKeyID:     exampleAccessKeyID,
		secretAccessKey: exampleSecretAccessKey,
	}
	if len(o.users) > 0 {
		s.accessKeyID, s.secretAccessKey = o.users[0].AccessKeyID, o.users[0].SecretAccessKey
	}
	return s
}

// AWS's documented example key pair. Its id is not a 12-digit number, so in
// dev mode its requests land in the default account, 000000000000.
const (
	exampleAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	exampleSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// Endpoint is the server's endpoint URL, such as "http://127.0.0.1:41234",
// for clients configured by hand (other SDKs, the AWS CLI's --endpoint-url).
// It stays the same across Restart. GET Endpoint()+"/health" answers 200
// while the server runs.
func (s *Server) Endpoint() string { return s.srv.URL }

// AWSConfig returns a configuration for aws-sdk-go-v2 service clients of
// this server, such as kinesis.NewFromConfig(srv.AWSConfig()): region
// Region, static credentials (the first key of WithUsers, or else AWS's
// example key, which dev mode accepts), BaseEndpoint set to Endpoint, the
// SDK's default retries, and an HTTP client of its own whose idle
// connections are closed when the server stops or restarts. Each call
// returns a new configuration; changing one does not change the others.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.accessKeyID, s.secretAccessKey, ""),
		BaseEndpoint: aws.String(s.srv.URL),
		HTTPClient:   s.srv.HTTPClient(),
	}
}

// Restart stops the server gracefully and starts it again on the same
// endpoint, as a process restart would: clients built earlier keep
// working. With WithDataDir every stream, record and table survives; in
// memory (the default) the restarted server starts empty. A failed start
// fails the test.
func (s *Server) Restart() {
	s.t.Helper()
	s.srv.Restart(s.t)
}

// Stop stops the server gracefully before the test ends, for a test of how
// code behaves when Kinesis goes away: requests in flight finish, and later
// ones fail to connect. The test's cleanup stops the server anyway, so
// calling Stop is never required; calling it twice does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.srv.Stop(s.t)
}

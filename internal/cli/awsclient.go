package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/millrace/millrace/internal/sdkhttp"
)

// defaultEndpoint is where the stream tools connect when neither --endpoint
// nor AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL says otherwise: a local
// Millrace with its default listener.
const defaultEndpoint = "http://127.0.0.1:4567"

// Credentials used when none are configured (the AWS documentation's example
// key, which a Millrace in dev mode accepts), and the region used when none
// is configured.
const (
	fallbackAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	fallbackSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	fallbackRegion          = "us-east-1"
)

// awsFlags are the connection flags of the stream tools (tail, put,
// streams).
type awsFlags struct {
	endpoint string
	region   string
	profile  string
}

const awsFlagsHelp = `Connection: the tools use the public Kinesis API through aws-sdk-go-v2, so
they work against AWS as well as Millrace. Credentials, region and profile
are found as by the AWS CLI (environment, ~/.aws/config and credentials,
container and instance roles). With no credentials configured they sign
with the example key AKIAIOSFODNN7EXAMPLE, which a Millrace in dev mode
accepts; with no region, us-east-1. The endpoint is --endpoint, else
AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL, else ` + defaultEndpoint + `;
--endpoint aws uses the SDK's own resolution (AWS's regional endpoint, or
the profile's endpoint_url).
`

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.endpoint, "endpoint", "", "Kinesis endpoint URL, or aws for AWS's own (default: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, else "+defaultEndpoint+").")
	fs.StringVar(&a.region, "region", "", "Region (default: the configured one, else "+fallbackRegion+").")
	fs.StringVar(&a.profile, "profile", "", "Named profile of the shared AWS config and credentials files.")
}

// kinesisClient builds the client the flags describe.
func (a *awsFlags) kinesisClient(ctx context.Context, lookupEnv func(string) (string, bool)) (*kinesis.Client, error) {
	var opts []func(*config.LoadOptions) error
	if a.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.profile))
	}
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	opts = append(opts,
		// The SDK's warnings (such as the instance metadata service
		// falling back to IMDSv1 while credentials are looked for) are
		// noise on a terminal.
		config.WithLogger(logging.Nop{}),
		config.WithRetryer(func() aws.Retryer {
			// Throttling is expected (the tools read and write at the
			// shard limits) and is retried with backoff by the tools
			// themselves: no client-side retry quota that could turn it
			// into a failure.
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	// Every call's body without io.WriterTo: see sdkhttp.
	cfg.HTTPClient = sdkhttp.PlainBodies(cfg.HTTPClient)
	if cfg.Region == "" {
		cfg.Region = fallbackRegion
	}
	if !credentialsConfigured(ctx, cfg) {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(fallbackAccessKeyID, fallbackSecretAccessKey, "")
	}
	endpoint := a.endpoint
	if endpoint == "" {
		endpoint = defaultEndpoint
		for _, k := range []string{"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"} {
			if v, ok := lookupEnv(k); ok && v != "" {
				endpoint = "" // the SDK reads it
			}
		}
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" && endpoint != "aws" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// credentialsConfigured reports whether cfg's credential chain yields
// credentials within a short time (the instance metadata service, last in
// the chain, is not there on most machines).
func credentialsConfigured(ctx context.Context, cfg aws.Config) bool {
	if cfg.Credentials == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cfg.Credentials.Retrieve(ctx)
	return err == nil
}

// isThrottle reports whether err is Kinesis refusing a call for throughput
// or call-rate limits, which the tools wait out rather than fail on.
func isThrottle(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ProvisionedThroughputExceededException", "LimitExceededException",
		"ThrottlingException", "KMSThrottlingException":
		return true
	}
	return false
}

// errorCode is err's AWS error code, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// backoff is an exponential delay with full jitter, from 100 ms to 5 s.
type backoff struct{ n int }

func (b *backoff) next() time.Duration {
	d := 100 * time.Millisecond << min(b.n, 6)
	d = min(d, 5*time.Second)
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeFlagsHelp prints fs's flags with their help and defaults after
// intro, in the style of the other commands' help.
func writeFlagsHelp(w io.Writer, intro string, fs *flag.FlagSet) {
	var b strings.Builder
	b.WriteString(intro)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			typ = ""
		}
		fmt.Fprintf(&b, "  --%s %s\n        %s", f.Name, typ, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			fmt.Fprintf(&b, " Default %s.", f.DefValue)
		}
		b.WriteString("\n")
	})
	b.WriteString("  -h, --help\n        Show this help.\n")
	io.WriteString(w, strings.ReplaceAll(b.String(), " \n", "\n"))
}

// parseFlags parses args into fs, flags and positional arguments in any
// order, and returns the positional arguments; --help prints help and
// returns done.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, help func(io.Writer)) (pos []string, done bool, err error) {
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help(stdout)
				return nil, true, nil
			}
			return nil, false, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, false, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/millrace/millrace/internal/analytics"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/firehose/s3"
)

// firehoseS3 is the S3 client Firehose writes objects with, or nil when
// no S3 endpoint is configured.
func firehoseS3(cfg config.Config) s3.Putter {
	if cfg.FirehoseS3Endpoint == "" {
		return nil
	}
	return s3.ClientPutter{Client: s3Client(cfg)}
}

// analyticsS3 reads analytics applications' reference data from the same
// S3 server, or is nil when none is configured.
func analyticsS3(cfg config.Config) analytics.ObjectReader {
	if cfg.FirehoseS3Endpoint == "" {
		return nil
	}
	return analytics.S3Reader{Client: s3Client(cfg)}
}

// s3Client is a client of the configured S3 server.
func s3Client(cfg config.Config) *awss3.Client {
	region := cfg.FirehoseS3Region
	if region == "" {
		region = cfg.Region
	}
	return awss3.New(awss3.Options{
		BaseEndpoint: aws.String(cfg.FirehoseS3Endpoint),
		UsePathStyle: true,
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.FirehoseS3AccessKeyID, cfg.FirehoseS3SecretAccessKey, ""),
		// Checksums only when the operation needs them: S3-compatible
		// servers differ in the trailing checksums they accept.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// lambdaInvoker invokes transform functions through the server's own
// Lambda API, as Firehose calls Lambda, in-process (awsproto.InProcess):
// the requests go through the router's authentication, authorization and
// audit as a client's do. In dev mode the account is the function ARN's
// (a 12-digit access key id selects it); with auth on the context
// carries the role session Firehose acts as.
type lambdaInvoker struct {
	http    *http.Client
	clients sync.Map // account/region -> *awslambda.Client
}

var _ firehose.Invoker = (*lambdaInvoker)(nil)

// inProcessEndpoint is the base URL of in-process clients; no connection
// is ever made to it.
const inProcessEndpoint = "http://millrace.internal"

func newLambdaInvoker(router http.Handler) *lambdaInvoker {
	return &lambdaInvoker{http: &http.Client{Transport: awsproto.InProcess(router)}}
}

func (l *lambdaInvoker) Invoke(ctx context.Context, functionARN string, payload []byte) ([]byte, error) {
	parts := strings.SplitN(functionARN, ":", 7)
	if len(parts) < 7 || parts[2] != "lambda" {
		return nil, fmt.Errorf("%q is not a Lambda function ARN", functionARN)
	}
	region, account := parts[3], parts[4]
	key := account + "/" + region
	c, ok := l.clients.Load(key)
	if !ok {
		c, _ = l.clients.LoadOrStore(key, awslambda.New(awslambda.Options{
			Region: region, BaseEndpoint: aws.String(inProcessEndpoint), RetryMaxAttempts: 1, HTTPClient: l.http,
			Credentials: credentials.NewStaticCredentialsProvider(account, "firehose", ""),
		}))
	}
	out, err := c.(*awslambda.Client).Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(functionARN), Payload: payload})
	if err != nil {
		return nil, err
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("the function failed (%s): %s", aws.ToString(out.FunctionError), out.Payload)
	}
	return out.Payload, nil
}

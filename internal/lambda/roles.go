package lambda

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/awsproto"
)

// servicePrincipal is who Lambda acts as when it assumes a function's
// execution role, as role trust policies name it.
const servicePrincipal = "lambda.amazonaws.com"

// inProcessEndpoint is the base URL of in-process clients; no connection
// is ever made to it.
const inProcessEndpoint = "http://millrace.internal"

// roleClients are the in-process clients event source mappings write
// their on-failure destinations with when roles are enforced: requests go
// through the router (Options.Router) as a session of the function's
// execution role.
type roleClients struct {
	http    *http.Client
	kinesis sync.Map // region -> *awskinesis.Client
}

func newRoleClients(router http.Handler) *roleClients {
	return &roleClients{http: &http.Client{Transport: awsproto.InProcess(router)}}
}

func (c *roleClients) kinesisClient(region string) *awskinesis.Client {
	if k, ok := c.kinesis.Load(region); ok {
		return k.(*awskinesis.Client)
	}
	k, _ := c.kinesis.LoadOrStore(region, awskinesis.New(awskinesis.Options{
		Region: region, BaseEndpoint: aws.String(inProcessEndpoint), RetryMaxAttempts: 1, HTTPClient: c.http,
		// In-process requests made as a role session are not
		// authenticated by their signature.
		Credentials: credentials.NewStaticCredentialsProvider("lambda", "lambda", ""),
	}))
	return k.(*awskinesis.Client)
}

// putAsRole writes a record to a Kinesis stream as a session of the
// function's execution role: the role must trust lambda.amazonaws.com,
// and its policies must allow kinesis:PutRecord on the stream.
func (s *Service) putAsRole(ctx context.Context, f *function, streamARN, partitionKey string, data []byte) error {
	rctx, err := s.opts.Roles.AssumeRole(ctx, awsproto.AssumeRoleRequest{RoleARN: f.Role, Service: servicePrincipal,
		SessionName: f.Name, SourceARN: f.arn()})
	if err != nil {
		return fmt.Errorf("the function's execution role %s cannot be assumed: %w", f.Role, err)
	}
	parts := strings.SplitN(streamARN, ":", 6)
	if len(parts) != 6 {
		return fmt.Errorf("%q is not a stream ARN", streamARN)
	}
	_, err = s.roles.kinesisClient(parts[3]).PutRecord(rctx, &awskinesis.PutRecordInput{
		StreamARN: aws.String(streamARN), PartitionKey: aws.String(partitionKey), Data: data})
	return err
}

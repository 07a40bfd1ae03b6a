package lambda

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/awsproto"
)

// servicePrincipal is who Lambda acts as when it assumes a function's
// execution role, as role trust policies name it.
const servicePrincipal = "lambda.amazonaws.com"

// inProcessEndpoint is the base URL of in-process clients; no connection
// is ever made to it.
const inProcessEndpoint = "http://millrace.internal"

// roleClients are the in-process clients event source mappings act with
// when roles are enforced (checking that the execution role may read the
// source, writing to on-failure destinations): requests go through the
// router (Options.Router) as a session of the function's execution role.
type roleClients struct {
	http    *http.Client
	kinesis sync.Map // region -> *awskinesis.Client
	lambda  sync.Map // region -> *awslambda.Client
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

func (c *roleClients) lambdaClient(region string) *awslambda.Client {
	if l, ok := c.lambda.Load(region); ok {
		return l.(*awslambda.Client)
	}
	l, _ := c.lambda.LoadOrStore(region, awslambda.New(awslambda.Options{
		Region: region, BaseEndpoint: aws.String(inProcessEndpoint), RetryMaxAttempts: 1, HTTPClient: c.http,
		Credentials: credentials.NewStaticCredentialsProvider("lambda", "lambda", ""),
	}))
	return l.(*awslambda.Client)
}

// assumeExecutionRole returns a context whose in-process requests act as
// a session of the function's execution role.
func (s *Service) assumeExecutionRole(ctx context.Context, f *function) (context.Context, error) {
	rctx, err := s.opts.Roles.AssumeRole(ctx, awsproto.AssumeRoleRequest{RoleARN: f.Role, Service: servicePrincipal,
		SessionName: f.Name, SourceARN: f.arn()})
	if err != nil {
		return nil, fmt.Errorf("the function's execution role %s cannot be assumed: %w", f.Role, err)
	}
	return rctx, nil
}

// putAsRole writes a record to a Kinesis stream as a session of the
// function's execution role: the role must trust lambda.amazonaws.com,
// and its policies must allow kinesis:PutRecord on the stream.
func (s *Service) putAsRole(ctx context.Context, f *function, streamARN, partitionKey string, data []byte) error {
	rctx, err := s.assumeExecutionRole(ctx, f)
	if err != nil {
		return err
	}
	parts := strings.SplitN(streamARN, ":", 6)
	if len(parts) != 6 {
		return fmt.Errorf("%q is not a stream ARN", streamARN)
	}
	_, err = s.roles.kinesisClient(parts[3]).PutRecord(rctx, &awskinesis.PutRecordInput{
		StreamARN: aws.String(streamARN), PartitionKey: aws.String(partitionKey), Data: data})
	return err
}

// invokeAsRole queues an asynchronous invocation of a Lambda function
// (the on-failure destination) as a session of the mapped function's
// execution role: its policies must allow lambda:InvokeFunction on the
// destination.
func (s *Service) invokeAsRole(ctx context.Context, f *function, destARN string, payload []byte) error {
	rctx, err := s.assumeExecutionRole(ctx, f)
	if err != nil {
		return err
	}
	parts := strings.SplitN(destARN, ":", 7)
	if len(parts) < 7 {
		return fmt.Errorf("%q is not a function ARN", destARN)
	}
	_, err = s.roles.lambdaClient(parts[3]).Invoke(rctx, &awslambda.InvokeInput{
		FunctionName: aws.String(destARN), InvocationType: lambdatypes.InvocationTypeEvent, Payload: payload})
	return err
}

// checkSourceAccess checks, as Lambda does when a mapping is created or
// updated, that the function's execution role may read the mapping's
// stream: each read the poller needs (DescribeStream,
// DescribeStreamSummary, ListShards, GetShardIterator, GetRecords) is
// made once in-process as a session of the role, so that the role's
// policies and the stream's resource policy are both evaluated, and the
// calls are in the audit log. A denial is the InvalidParameterValueException
// Lambda answers.
func (s *Service) checkSourceAccess(ctx context.Context, m *mapping) error {
	f, _, err := s.load(ctx, m.Account, m.Region, m.FunctionName)
	if err != nil {
		return err
	}
	if f == nil {
		return errNotFound(m.FunctionName)
	}
	rctx, err := s.assumeExecutionRole(ctx, f)
	if err != nil {
		return errInvalid("The role defined for the function cannot be assumed by Lambda.")
	}
	k := s.roles.kinesisClient(m.Region)
	stream := aws.String(m.streamArn())
	// denied reports whether err is the authorizer's refusal; other
	// errors mean the call was authorized.
	denied := func(action string, err error) error {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException" {
			return errInvalid("The provided execution role does not have permissions to call %s on Kinesis", action)
		}
		return nil
	}
	_, err = k.DescribeStream(rctx, &awskinesis.DescribeStreamInput{StreamARN: stream, Limit: aws.Int32(1)})
	if e := denied("DescribeStream", err); e != nil {
		return e
	}
	_, err = k.DescribeStreamSummary(rctx, &awskinesis.DescribeStreamSummaryInput{StreamARN: stream})
	if e := denied("DescribeStreamSummary", err); e != nil {
		return e
	}
	shards, err := k.ListShards(rctx, &awskinesis.ListShardsInput{StreamARN: stream, MaxResults: aws.Int32(1)})
	if e := denied("ListShards", err); e != nil {
		return e
	}
	// GetShardIterator and GetRecords name a shard: the first one, read
	// from its tip so that nothing is returned.
	shardID := aws.String("shardId-000000000000")
	if err == nil && len(shards.Shards) > 0 {
		shardID = shards.Shards[0].ShardId
	}
	it, err := k.GetShardIterator(rctx, &awskinesis.GetShardIteratorInput{StreamARN: stream, ShardId: shardID,
		ShardIteratorType: kinesistypes.ShardIteratorTypeLatest})
	if e := denied("GetShardIterator", err); e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("checking the execution role's access to %s: %w", m.EventSourceArn, err)
	}
	_, err = k.GetRecords(rctx, &awskinesis.GetRecordsInput{StreamARN: stream, ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	return denied("GetRecords", err)
}

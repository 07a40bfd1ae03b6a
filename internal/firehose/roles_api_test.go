package firehose_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/iam"
)

// roleDirectory declares the roles "firehose" (trusted by Firehose) and
// "lambda" (trusted by Lambda only) in account 123456789012.
func roleDirectory(t *testing.T) *iam.Directory {
	t.Helper()
	cfg := config.Default()
	cfg.AccountID = "123456789012"
	trust := func(service string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole"}}`
	}
	cfg.IAM = &config.IAM{Roles: []config.Role{
		{Name: "firehose", AssumeRolePolicy: trust("firehose.amazonaws.com")},
		{Name: "lambda", AssumeRolePolicy: trust("lambda.amazonaws.com")},
	}}
	d, err := iam.NewDirectory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRolesCheckedAtCreate: with roles enforced, CreateDeliveryStream and
// UpdateDestination refuse a destination, Lambda processor or Kinesis
// source role that Firehose cannot assume, with InvalidArgumentException.
func TestRolesCheckedAtCreate(t *testing.T) {
	e := newEnv(t, func(o *firehose.Options) {
		o.Roles = roleDirectory(t)
		o.Lambda = &stubInvoker{}
	})
	c := e.firehose()
	ctx := t.Context()
	const trusted, untrusted, missing = "arn:aws:iam::123456789012:role/firehose", "arn:aws:iam::123456789012:role/lambda", "arn:aws:iam::123456789012:role/none"
	lambdaProc := func(role string) func(*fhtypes.ExtendedS3DestinationConfiguration) {
		return func(d *fhtypes.ExtendedS3DestinationConfiguration) {
			params := []fhtypes.ProcessorParameter{{ParameterName: fhtypes.ProcessorParameterNameLambdaArn, ParameterValue: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f")}}
			if role != "" {
				params = append(params, fhtypes.ProcessorParameter{ParameterName: fhtypes.ProcessorParameterNameRoleArn, ParameterValue: aws.String(role)})
			}
			d.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeLambda, Parameters: params}}}
		}
	}
	withRole := func(role string) func(*fhtypes.ExtendedS3DestinationConfiguration) {
		return func(d *fhtypes.ExtendedS3DestinationConfiguration) { d.RoleARN = aws.String(role) }
	}
	for name, dest := range map[string]*fhtypes.ExtendedS3DestinationConfiguration{
		"unknown destination role":   s3Dest("b", withRole(missing)),
		"destination role of lambda": s3Dest("b", withRole(untrusted)),
		"processor role of lambda":   s3Dest("b", lambdaProc(untrusted)),
		"processor inherits":         s3Dest("b", withRole(untrusted), lambdaProc("")),
	} {
		_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("refused"), ExtendedS3DestinationConfiguration: dest})
		if msg := apiError(t, err, "InvalidArgumentException"); !strings.HasPrefix(msg, "Firehose is unable to assume role arn:aws:iam::123456789012:role/") {
			t.Errorf("%s: %s", name, msg)
		}
	}
	// A trusted destination role, with a processor of its own.
	createS3(t, c, "ok", s3Dest("b", lambdaProc(trusted)))
	waitActive(t, c, "ok")

	d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("ok")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("ok"), CurrentDeliveryStreamVersionId: d.DeliveryStreamDescription.VersionId,
		DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{RoleARN: aws.String(untrusted)}})
	if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, untrusted) {
		t.Errorf("update: %s", msg)
	}

	// The Kinesis source's role.
	if _, err := e.kinesis().CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("src"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("from-kinesis"),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{
			KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/src"), RoleARN: aws.String(missing)},
		ExtendedS3DestinationConfiguration: s3Dest("b")})
	if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, "KinesisStreamSourceConfiguration.RoleARN") {
		t.Errorf("source role: %s", msg)
	}
}

// stubInvoker answers every invocation with an empty list of records.
type stubInvoker struct{}

func (stubInvoker) Invoke(context.Context, string, []byte) ([]byte, error) {
	return []byte(`{"records":[]}`), nil
}

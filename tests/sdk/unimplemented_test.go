package sdk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// Operations that later work brings (mode changes, channels) must fail with a
// clear API error rather than pretend to succeed, and must change nothing.
func TestNotYetImplementedOperations(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "fixed", 2)
	name := aws.String("fixed")
	arn := aws.String(streamARN("fixed"))

	calls := map[string]func(ctx context.Context) error{
		"UpdateStreamWarmThroughput": func(ctx context.Context) error {
			_, err := c.UpdateStreamWarmThroughput(ctx, &kinesis.UpdateStreamWarmThroughputInput{StreamName: name, WarmThroughputMiBps: aws.Int32(10)})
			return err
		},
		"UpdateStreamRecordDistributionStrategy": func(ctx context.Context) error {
			_, err := c.UpdateStreamRecordDistributionStrategy(ctx, &kinesis.UpdateStreamRecordDistributionStrategyInput{StreamARN: arn, RecordDistributionStrategy: types.RecordDistributionStrategyAuto})
			return err
		},
	}
	for op, call := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := call(ctx)
		cancel()
		if err == nil {
			t.Errorf("%s succeeded; it must return an error until it is implemented", op)
			continue
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v is not an AWS API error", op, err)
			continue
		}
		if ae.ErrorCode() == "" || ae.ErrorMessage() == "" || ae.ErrorCode() == "InternalFailure" {
			t.Errorf("%s: unclear error %q %q", op, ae.ErrorCode(), ae.ErrorMessage())
		}
	}

	// Nothing changed: still two open provisioned shards, ACTIVE, and no
	// encryption.
	out, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: name})
	if err != nil {
		t.Fatal(err)
	}
	d := out.StreamDescription
	if len(d.Shards) != 2 || d.StreamStatus != types.StreamStatusActive ||
		d.StreamModeDetails == nil || d.StreamModeDetails.StreamMode != types.StreamModeProvisioned ||
		(d.EncryptionType != "" && d.EncryptionType != types.EncryptionTypeNone) {
		t.Errorf("stream changed: %d shards, %s, %+v, encryption %s", len(d.Shards), d.StreamStatus, d.StreamModeDetails, d.EncryptionType)
	}
}

package sdk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// registerConsumer registers a consumer and waits until it is ACTIVE.
func registerConsumer(t *testing.T, c *kinesis.Client, stream, name string) string {
	t.Helper()
	out, err := c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String(streamARN(stream)), ConsumerName: aws.String(name),
	})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer(%s): %v", name, err)
	}
	arn := aws.ToString(out.Consumer.ConsumerARN)
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeStreamConsumer: %v", err)
		}
		if d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			return arn
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s still %s", name, d.ConsumerDescription.ConsumerStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsumerOperations(t *testing.T) {
	t.Parallel()
	srv, c := start(t, withDelays(200*time.Millisecond, 200*time.Millisecond))
	createStream(t, c, "efo", 1)
	sarn := aws.String(streamARN("efo"))

	reg, err := c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{
		StreamARN: sarn, ConsumerName: aws.String("app"), Tags: map[string]string{"team": "data"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cons := reg.Consumer
	arn := aws.ToString(cons.ConsumerARN)
	wantPrefix := streamARN("efo") + "/consumer/app:"
	if !strings.HasPrefix(arn, wantPrefix) || arn != fmt.Sprintf("%s%d", wantPrefix, cons.ConsumerCreationTimestamp.Unix()) ||
		cons.ConsumerStatus != types.ConsumerStatusCreating {
		t.Fatalf("registered %s %s at %v", arn, cons.ConsumerStatus, cons.ConsumerCreationTimestamp)
	}
	_, err = c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{StreamARN: sarn, ConsumerName: aws.String("app")})
	wantCode(t, err, "ResourceInUseException")

	registerConsumer(t, c, "efo", "app2")
	for _, in := range []*kinesis.DescribeStreamConsumerInput{
		{ConsumerARN: aws.String(arn)},
		{StreamARN: sarn, ConsumerName: aws.String("app")},
		{ConsumerARN: aws.String(arn), StreamARN: sarn, ConsumerName: aws.String("app")},
	} {
		d, err := c.DescribeStreamConsumer(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		cd := d.ConsumerDescription
		if aws.ToString(cd.ConsumerARN) != arn || aws.ToString(cd.StreamARN) != streamARN("efo") || cd.ConsumerStatus != types.ConsumerStatusActive {
			t.Fatalf("described %+v", cd)
		}
	}
	_, err = c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn), ConsumerName: aws.String("app2")})
	wantCode(t, err, "InvalidArgumentException")
	_, err = c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{StreamARN: sarn, ConsumerName: aws.String("nobody")})
	wantCode(t, err, "ResourceNotFoundException")

	// Pagination: one per page, the token carries on.
	var names []string
	in := &kinesis.ListStreamConsumersInput{StreamARN: sarn, MaxResults: aws.Int32(1)}
	for {
		out, err := c.ListStreamConsumers(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range out.Consumers {
			names = append(names, aws.ToString(x.ConsumerName))
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if fmt.Sprint(names) != "[app app2]" {
		t.Fatalf("listed %v", names)
	}
	_, err = c.ListStreamConsumers(t.Context(), &kinesis.ListStreamConsumersInput{StreamARN: sarn, NextToken: aws.String("bogus")})
	wantCode(t, err, "InvalidArgumentException")

	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("efo")})
	if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount) != 2 {
		t.Fatalf("ConsumerCount %v, %v", sum.StreamDescriptionSummary.ConsumerCount, err)
	}

	// Tags on the consumer's ARN are the consumer's own.
	if _, err := c.TagResource(t.Context(), &kinesis.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"env": "test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(t.Context(), &kinesis.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(t.Context(), &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("consumer tags %+v, %v", tags, err)
	}
	stags, err := c.ListTagsForResource(t.Context(), &kinesis.ListTagsForResourceInput{ResourceARN: sarn})
	if err != nil || len(stags.Tags) != 0 {
		t.Fatalf("stream tags %+v, %v", stags, err)
	}

	// DeleteStream refuses while consumers exist.
	_, err = c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("efo")})
	wantCode(t, err, "ResourceInUseException")
	wantMessage(t, err, "because there are consumers associated with this data stream", "EnforceConsumerDeletion")

	// Consumers survive a restart.
	srv.Restart(t)
	if _, err := c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)}); err != nil {
		t.Fatalf("after restart: %v", err)
	}

	if _, err := c.DeregisterStreamConsumer(t.Context(), &kinesis.DeregisterStreamConsumerInput{StreamARN: sarn, ConsumerName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
	if err == nil && d.ConsumerDescription.ConsumerStatus != types.ConsumerStatusDeleting {
		t.Fatalf("after deregister: %s", d.ConsumerDescription.ConsumerStatus)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := c.DescribeStreamConsumer(t.Context(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		if err != nil {
			wantCode(t, err, "ResourceNotFoundException")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deregistered consumer never went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("efo"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatalf("DeleteStream enforcing consumer deletion: %v", err)
	}
}

func TestConsumerLimits(t *testing.T) {
	t.Parallel()
	_, c := start(t, withDelays(0, 0))
	createStream(t, c, "many", 1)
	for i := 0; i < 20; i++ {
		registerConsumer(t, c, "many", fmt.Sprintf("c%02d", i))
	}
	_, err := c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN("many")), ConsumerName: aws.String("c20")})
	wantCode(t, err, "LimitExceededException")
	_, err = c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN("nope")), ConsumerName: aws.String("c")})
	wantCode(t, err, "ResourceNotFoundException")
}

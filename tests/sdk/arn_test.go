package sdk_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Every operation that takes StreamName also takes StreamARN alone (the
// KPL and newer SDKs send the ARN), and both together when they agree.
func TestStreamARNInPlaceOfName(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "byarn", 2)
	arn := aws.String(streamARN("byarn"))
	ctx := t.Context()

	check := func(op string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s with StreamARN: %v", op, err)
		}
	}

	ds, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: arn})
	check("DescribeStream", err)
	if err == nil && aws.ToString(ds.StreamDescription.StreamName) != "byarn" {
		t.Errorf("DescribeStream by ARN named %s", aws.ToString(ds.StreamDescription.StreamName))
	}
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
	check("DescribeStreamSummary", err)
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn, StreamName: aws.String("byarn")})
	check("DescribeStreamSummary with both", err)
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn})
	check("ListShards", err)
	if err == nil && len(ls.Shards) != 2 {
		t.Errorf("ListShards by ARN: %d shards", len(ls.Shards))
	}

	pr, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: arn, PartitionKey: aws.String("k"), Data: []byte("one"), ExplicitHashKey: aws.String("0")})
	check("PutRecord", err)
	_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: arn, Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k"), Data: []byte("two"), ExplicitHashKey: aws.String("0")},
	}})
	check("PutRecords", err)
	gsi, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamARN: arn, ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	check("GetShardIterator", err)
	if err == nil {
		gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: arn, ShardIterator: gsi.ShardIterator})
		check("GetRecords", err)
		if err == nil && (len(gr.Records) != 2 || pr == nil || aws.ToString(gr.Records[0].SequenceNumber) != aws.ToString(pr.SequenceNumber)) {
			t.Errorf("GetRecords by ARN: %d records", len(gr.Records))
		}
	}

	_, err = c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamARN: arn, Tags: map[string]string{"a": "1"}})
	check("AddTagsToStream", err)
	lt, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamARN: arn})
	check("ListTagsForStream", err)
	if err == nil && tagMap(lt.Tags)["a"] != "1" {
		t.Errorf("ListTagsForStream by ARN = %v", tagMap(lt.Tags))
	}
	_, err = c.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamARN: arn, TagKeys: []string{"a"}})
	check("RemoveTagsFromStream", err)

	_, err = c.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamARN: arn, RetentionPeriodHours: aws.Int32(48)})
	check("IncreaseStreamRetentionPeriod", err)
	_, err = c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamARN: arn, RetentionPeriodHours: aws.Int32(24)})
	check("DecreaseStreamRetentionPeriod", err)
	_, err = c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamARN: arn, ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
	check("EnableEnhancedMonitoring", err)
	_, err = c.DisableEnhancedMonitoring(ctx, &kinesis.DisableEnhancedMonitoringInput{StreamARN: arn, ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
	check("DisableEnhancedMonitoring", err)
	_, err = c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: arn, MaxRecordSizeInKiB: aws.Int32(1024)})
	check("UpdateMaxRecordSize", err)
	waitActive(t, c, "byarn")

	// An ARN naming a stream that does not exist, or another account's
	// stream of the same name, is not found.
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String(streamARN("missing"))})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/byarn")})
	if err == nil {
		t.Error("another account's ARN resolved to this account's stream")
	}
	// StreamName and StreamARN that disagree are not silently resolved to
	// one of them.
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn, StreamName: aws.String("other")})
	if err == nil {
		t.Error("conflicting StreamName and StreamARN accepted")
	}
	// A malformed ARN fails the model's pattern.
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:12:stream/x")})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")
	// Neither name nor ARN.
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	_, err = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: arn})
	check("DeleteStream", err)
	waitGone(t, c, "byarn")
}

package sdk_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func retention(t *testing.T, c *kinesis.Client, name string) int32 {
	t.Helper()
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToInt32(out.StreamDescriptionSummary.RetentionPeriodHours)
}

func TestRetentionPeriod(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "ret", 1)
	inc := func(h int32) error {
		_, err := c.IncreaseStreamRetentionPeriod(t.Context(), &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("ret"), RetentionPeriodHours: aws.Int32(h)})
		return err
	}
	dec := func(h int32) error {
		_, err := c.DecreaseStreamRetentionPeriod(t.Context(), &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("ret"), RetentionPeriodHours: aws.Int32(h)})
		return err
	}

	if err := inc(48); err != nil {
		t.Fatal(err)
	}
	if got := retention(t, c, "ret"); got != 48 {
		t.Fatalf("retention = %d, want 48", got)
	}
	if err := inc(8760); err != nil {
		t.Fatalf("increase to the 8760 h maximum: %v", err)
	}
	err := inc(8761)
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.")
	if err := dec(72); err != nil {
		t.Fatal(err)
	}
	if got := retention(t, c, "ret"); got != 72 {
		t.Fatalf("retention = %d, want 72", got)
	}

	err = inc(48)
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Requested retention period (48 hours) for stream ret can not be shorter than existing retention period (72 hours). Use DecreaseRetentionPeriod API.")
	err = dec(100)
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Requested retention period (100 hours) for stream ret can not be longer than existing retention period (72 hours). Use IncreaseRetentionPeriod API.")
	err = dec(23)
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.")
	err = inc(1)
	wantErr[*types.InvalidArgumentException](t, err)

	if err := dec(24); err != nil {
		t.Fatalf("decrease to the 24 h minimum: %v", err)
	}
	if got := retention(t, c, "ret"); got != 24 {
		t.Errorf("retention = %d, want 24", got)
	}
	_, err = c.IncreaseStreamRetentionPeriod(t.Context(), &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("nope"), RetentionPeriodHours: aws.Int32(48)})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.DecreaseStreamRetentionPeriod(t.Context(), &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("nope"), RetentionPeriodHours: aws.Int32(24)})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestStreamTags(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "tagged", 1)
	_, err := c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("tagged"),
		Tags: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": ""}})
	if err != nil {
		t.Fatal(err)
	}
	// Adding an existing key overwrites its value.
	if _, err := c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("tagged"), Tags: map[string]string{"a": "one"}}); err != nil {
		t.Fatal(err)
	}

	out, err := c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "one", "b": "2", "c": "3", "d": "4", "e": ""}
	if got := tagMap(out.Tags); !reflect.DeepEqual(got, want) || aws.ToBool(out.HasMoreTags) {
		t.Errorf("tags = %v more=%v, want %v", got, aws.ToBool(out.HasMoreTags), want)
	}

	// Limit and ExclusiveStartTagKey page through the tags once each.
	seen := map[string]string{}
	var start *string
	for range 10 {
		page, err := c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("tagged"), Limit: aws.Int32(2), ExclusiveStartTagKey: start})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tags) > 2 {
			t.Fatalf("%d tags with Limit 2", len(page.Tags))
		}
		for _, tg := range page.Tags {
			if _, dup := seen[aws.ToString(tg.Key)]; dup {
				t.Errorf("tag %s listed twice", aws.ToString(tg.Key))
			}
			seen[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if !aws.ToBool(page.HasMoreTags) {
			break
		}
		start = page.Tags[len(page.Tags)-1].Key
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("paged tags = %v, want %v", seen, want)
	}

	// Removing keys, including one that does not exist, is fine.
	if _, err := c.RemoveTagsFromStream(t.Context(), &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("tagged"), TagKeys: []string{"a", "b", "zzz"}}); err != nil {
		t.Fatal(err)
	}
	out, err = c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(out.Tags); !reflect.DeepEqual(got, map[string]string{"c": "3", "d": "4", "e": ""}) {
		t.Errorf("after remove: %v", got)
	}

	// Characters outside "letters, digits, white space, _ . : / = + - @".
	_, err = c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("tagged"), Tags: map[string]string{"bad;key": "v"}})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("tagged"), Tags: map[string]string{"k": "bad%value"}})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("nope"), Tags: map[string]string{"k": "v"}})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.RemoveTagsFromStream(t.Context(), &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("nope"), TagKeys: []string{"k"}})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("tagged"), Limit: aws.Int32(51)})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	// More than 50 tags on one stream exceeds the documented quota.
	many := map[string]string{}
	for i := range 51 {
		many["k"+strconv.Itoa(i)] = "v"
	}
	_, err = c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("tagged"), Tags: many})
	wantCode(t, err, "InvalidArgumentException", "LimitExceededException", "ValidationException")
}

func TestResourceTags(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "res", 1)
	arn := streamARN("res")
	if _, err := c.TagResource(t.Context(), &kinesis.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"x": "1", "y": "2"}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListTagsForResource(t.Context(), &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(out.Tags); !reflect.DeepEqual(got, map[string]string{"x": "1", "y": "2"}) {
		t.Errorf("ListTagsForResource = %v", got)
	}
	// The stream and resource tag APIs see the same tags.
	st, err := c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("res")})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(st.Tags); !reflect.DeepEqual(got, map[string]string{"x": "1", "y": "2"}) {
		t.Errorf("ListTagsForStream after TagResource = %v", got)
	}
	if _, err := c.UntagResource(t.Context(), &kinesis.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	out, err = c.ListTagsForResource(t.Context(), &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(out.Tags); !reflect.DeepEqual(got, map[string]string{"y": "2"}) {
		t.Errorf("after UntagResource = %v", got)
	}

	missing := streamARN("nope")
	_, err = c.TagResource(t.Context(), &kinesis.TagResourceInput{ResourceARN: aws.String(missing), Tags: map[string]string{"x": "1"}})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.UntagResource(t.Context(), &kinesis.UntagResourceInput{ResourceARN: aws.String(missing), TagKeys: []string{"x"}})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.ListTagsForResource(t.Context(), &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(missing)})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.ListTagsForResource(t.Context(), &kinesis.ListTagsForResourceInput{ResourceARN: aws.String("arn:aws:s3:::bucket")})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")
}

func TestDescribeLimits(t *testing.T) {
	t.Parallel()
	s, c := start(t, withShardLimit(40))
	createStream(t, c, "l1", 3)
	createStream(t, c, "l2", 2)
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("l3"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "l3")
	out, err := c.DescribeLimits(t.Context(), &kinesis.DescribeLimitsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.ShardLimit) != 40 || aws.ToInt32(out.OpenShardCount) != 9 || aws.ToInt32(out.OnDemandStreamCount) != 1 {
		t.Errorf("limits = shard limit %d, open %d, on-demand %d; want 40, 9, 1",
			aws.ToInt32(out.ShardLimit), aws.ToInt32(out.OpenShardCount), aws.ToInt32(out.OnDemandStreamCount))
	}
	if want := s.Config.OnDemandStreamLimit; aws.ToInt32(out.OnDemandStreamCountLimit) != int32(want) || want <= 0 {
		t.Errorf("OnDemandStreamCountLimit = %d, configured %d", aws.ToInt32(out.OnDemandStreamCountLimit), want)
	}
}

func TestAccountSettings(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	out, err := c.DescribeAccountSettings(t.Context(), &kinesis.DescribeAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if m := out.MinimumThroughputBillingCommitment; m != nil && m.Status != types.MinimumThroughputBillingCommitmentOutputStatusDisabled {
		t.Errorf("initial commitment = %+v, want DISABLED or none", m)
	}
	up, err := c.UpdateAccountSettings(t.Context(), &kinesis.UpdateAccountSettingsInput{
		MinimumThroughputBillingCommitment: &types.MinimumThroughputBillingCommitmentInput{Status: types.MinimumThroughputBillingCommitmentInputStatusEnabled},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := up.MinimumThroughputBillingCommitment; m == nil || m.Status != types.MinimumThroughputBillingCommitmentOutputStatusEnabled {
		t.Errorf("UpdateAccountSettings returned %+v", m)
	}
	out, err = c.DescribeAccountSettings(t.Context(), &kinesis.DescribeAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if m := out.MinimumThroughputBillingCommitment; m == nil || m.Status != types.MinimumThroughputBillingCommitmentOutputStatusEnabled {
		t.Errorf("after enabling: %+v", m)
	}
	_, err = c.UpdateAccountSettings(t.Context(), &kinesis.UpdateAccountSettingsInput{
		MinimumThroughputBillingCommitment: &types.MinimumThroughputBillingCommitmentInput{Status: "MAYBE"},
	})
	wantCode(t, err, "ValidationException")
}

func TestUpdateMaxRecordSize(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "grow", 1)
	big := bytes.Repeat([]byte{7}, oneMiB+512*1024)

	_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("grow"), PartitionKey: aws.String("k"), Data: big})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	if _, err := c.UpdateMaxRecordSize(t.Context(), &kinesis.UpdateMaxRecordSizeInput{StreamARN: aws.String(streamARN("grow")), MaxRecordSizeInKiB: aws.Int32(2048)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "grow")
	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("grow")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(sum.StreamDescriptionSummary.MaxRecordSizeInKiB); got != 2048 {
		t.Errorf("MaxRecordSizeInKiB = %d, want 2048", got)
	}
	out := put(t, c, "grow", "k", big)
	recs := readShard(t, c, "grow", shardID(0))
	if len(recs) != 1 || !bytes.Equal(recs[0].Data, big) || aws.ToString(recs[0].SequenceNumber) != aws.ToString(out.SequenceNumber) {
		t.Errorf("1.5 MiB record not read back intact (%d records)", len(recs))
	}
	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("grow"), PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte{7}, 2*oneMiB)})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	for _, bad := range []int32{1023, 10241} {
		_, err = c.UpdateMaxRecordSize(t.Context(), &kinesis.UpdateMaxRecordSizeInput{StreamARN: aws.String(streamARN("grow")), MaxRecordSizeInKiB: aws.Int32(bad)})
		wantCode(t, err, "ValidationException")
	}
	_, err = c.UpdateMaxRecordSize(t.Context(), &kinesis.UpdateMaxRecordSizeInput{StreamARN: aws.String(streamARN("nope")), MaxRecordSizeInKiB: aws.Int32(2048)})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestEnhancedMonitoring(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "mon", 1)
	en, err := c.EnableEnhancedMonitoring(t.Context(), &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("mon"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameOutgoingRecords}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(en.StreamName) != "mon" || aws.ToString(en.StreamARN) != streamARN("mon") {
		t.Errorf("name/ARN = %s %s", aws.ToString(en.StreamName), aws.ToString(en.StreamARN))
	}
	if got := sortedMetrics(en.CurrentShardLevelMetrics); len(got) != 0 {
		t.Errorf("current = %v, want []", got)
	}
	if got := sortedMetrics(en.DesiredShardLevelMetrics); !slices.Equal(got, []string{"IncomingBytes", "OutgoingRecords"}) {
		t.Errorf("desired = %v", got)
	}
	desc, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("mon")})
	if err != nil {
		t.Fatal(err)
	}
	if em := desc.StreamDescription.EnhancedMonitoring; len(em) != 1 || !slices.Equal(sortedMetrics(em[0].ShardLevelMetrics), []string{"IncomingBytes", "OutgoingRecords"}) {
		t.Errorf("DescribeStream EnhancedMonitoring = %+v", em)
	}

	dis, err := c.DisableEnhancedMonitoring(t.Context(), &kinesis.DisableEnhancedMonitoringInput{StreamName: aws.String("mon"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedMetrics(dis.CurrentShardLevelMetrics); !slices.Equal(got, []string{"IncomingBytes", "OutgoingRecords"}) {
		t.Errorf("disable: current = %v", got)
	}
	if got := sortedMetrics(dis.DesiredShardLevelMetrics); !slices.Equal(got, []string{"OutgoingRecords"}) {
		t.Errorf("disable: desired = %v", got)
	}

	// ALL stands for all seven metrics.
	en, err = c.EnableEnhancedMonitoring(t.Context(), &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("mon"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	allSeven := []string{"IncomingBytes", "IncomingRecords", "IteratorAgeMilliseconds", "OutgoingBytes", "OutgoingRecords",
		"ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded"}
	if got := sortedMetrics(en.DesiredShardLevelMetrics); !slices.Equal(got, allSeven) && !slices.Equal(got, []string{"ALL"}) {
		t.Errorf("enable ALL: desired = %v", got)
	}
	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("mon")})
	if err != nil {
		t.Fatal(err)
	}
	if em := sum.StreamDescriptionSummary.EnhancedMonitoring; len(em) != 1 || len(em[0].ShardLevelMetrics) == 0 {
		t.Errorf("summary EnhancedMonitoring = %+v", em)
	}
	dis, err = c.DisableEnhancedMonitoring(t.Context(), &kinesis.DisableEnhancedMonitoringInput{StreamName: aws.String("mon"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	if got := dis.DesiredShardLevelMetrics; len(got) != 0 {
		t.Errorf("disable ALL: desired = %v", got)
	}

	_, err = c.EnableEnhancedMonitoring(t.Context(), &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("mon"),
		ShardLevelMetrics: []types.MetricsName{"Bogus"}})
	wantCode(t, err, "ValidationException")
	_, err = c.EnableEnhancedMonitoring(t.Context(), &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("nope"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func sortedMetrics(ms []types.MetricsName) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	slices.Sort(out)
	return out
}

func TestResourcePolicy(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "pol", 1)
	arn := streamARN("pol")
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"r","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["kinesis:GetRecords","kinesis:GetShardIterator"],"Resource":"` + arn + `"}]}`

	if _, err := c.PutResourcePolicy(t.Context(), &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(arn), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetResourcePolicy(t.Context(), &kinesis.GetResourcePolicyInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, aws.ToString(out.Policy), policy) {
		t.Errorf("policy = %s, want %s", aws.ToString(out.Policy), policy)
	}
	if _, err := c.DeleteResourcePolicy(t.Context(), &kinesis.DeleteResourcePolicyInput{ResourceARN: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	// AWS answers "{}" for a stream without a policy (LocalStack's
	// AWS-validated snapshot).
	out, err = c.GetResourcePolicy(t.Context(), &kinesis.GetResourcePolicyInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, aws.ToString(out.Policy), "{}") {
		t.Errorf("policy after delete = %q, want {}", aws.ToString(out.Policy))
	}

	_, err = c.PutResourcePolicy(t.Context(), &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(arn), Policy: aws.String("{not json")})
	wantCode(t, err, "InvalidArgumentException", "ValidationException")
	out, err = c.GetResourcePolicy(t.Context(), &kinesis.GetResourcePolicyInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, aws.ToString(out.Policy), "{}") {
		t.Errorf("invalid policy was stored: %q", aws.ToString(out.Policy))
	}

	missing := streamARN("nope")
	_, err = c.PutResourcePolicy(t.Context(), &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(missing), Policy: aws.String(policy)})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.GetResourcePolicy(t.Context(), &kinesis.GetResourcePolicyInput{ResourceARN: aws.String(missing)})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.DeleteResourcePolicy(t.Context(), &kinesis.DeleteResourcePolicyInput{ResourceARN: aws.String(missing)})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Errorf("%q is not JSON: %v", a, err)
		return false
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%q is not JSON: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

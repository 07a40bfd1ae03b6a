package sdk_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
)

func TestCreateStreamProvisioned(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	before := time.Now().Add(-time.Second)
	createStream(t, c, "orders", 3)

	out, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	d := out.StreamDescription
	if aws.ToString(d.StreamName) != "orders" || aws.ToString(d.StreamARN) != streamARN("orders") {
		t.Errorf("name/ARN = %s %s", aws.ToString(d.StreamName), aws.ToString(d.StreamARN))
	}
	if d.StreamStatus != types.StreamStatusActive {
		t.Errorf("status = %s", d.StreamStatus)
	}
	if d.StreamModeDetails == nil || d.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
		t.Errorf("mode = %+v, want PROVISIONED", d.StreamModeDetails)
	}
	if aws.ToInt32(d.RetentionPeriodHours) != 24 {
		t.Errorf("retention = %d, want 24", aws.ToInt32(d.RetentionPeriodHours))
	}
	if d.StreamCreationTimestamp == nil || d.StreamCreationTimestamp.Before(before) || d.StreamCreationTimestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("creation timestamp = %v", d.StreamCreationTimestamp)
	}
	if aws.ToBool(d.HasMoreShards) {
		t.Error("HasMoreShards = true for 3 shards")
	}
	if d.EncryptionType != "" && d.EncryptionType != types.EncryptionTypeNone {
		t.Errorf("encryption = %s", d.EncryptionType)
	}
	if len(d.Shards) != 3 {
		t.Fatalf("%d shards, want 3", len(d.Shards))
	}
	for i, s := range d.Shards {
		if aws.ToString(s.ShardId) != shardID(i) {
			t.Errorf("shard %d id = %s", i, aws.ToString(s.ShardId))
		}
		if s.SequenceNumberRange == nil || s.SequenceNumberRange.StartingSequenceNumber == nil {
			t.Errorf("shard %d has no starting sequence number", i)
		} else if s.SequenceNumberRange.EndingSequenceNumber != nil {
			t.Errorf("open shard %d has ending sequence number %s", i, *s.SequenceNumberRange.EndingSequenceNumber)
		}
		if s.ParentShardId != nil {
			t.Errorf("shard %d has parent %s", i, *s.ParentShardId)
		}
	}
}

// AWS's initial ranges for 3 shards (reference §2.2), each floor(2^128/3)
// wide, the last ending at 2^128-1.
func TestCreateStreamHashRanges(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "ranges", 3)
	want := [][2]string{
		{"0", "113427455640312821154458202477256070484"},
		{"113427455640312821154458202477256070485", "226854911280625642308916404954512140969"},
		{"226854911280625642308916404954512140970", "340282366920938463463374607431768211455"},
	}
	out, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("ranges")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamDescription.Shards) != 3 {
		t.Fatalf("%d shards", len(out.StreamDescription.Shards))
	}
	for i, s := range out.StreamDescription.Shards {
		got := [2]string{aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey)}
		if got != want[i] {
			t.Errorf("shard %d range = %v, want %v", i, got, want[i])
		}
	}

	// Other counts follow the same rule, including powers of two where
	// floor((2^128-1)/N) would be off by one.
	for _, n := range []int{1, 2, 4, 7} {
		name := fmt.Sprintf("ranges-%d", n)
		createStream(t, c, name, int32(n))
		shards := listShards(t, c, name)
		wantR := initialRanges(n)
		if len(shards) != n {
			t.Fatalf("%s: %d shards", name, len(shards))
		}
		for i, s := range shards {
			if aws.ToString(s.HashKeyRange.StartingHashKey) != wantR[i][0].String() ||
				aws.ToString(s.HashKeyRange.EndingHashKey) != wantR[i][1].String() {
				t.Errorf("%s shard %d = [%s, %s], want [%s, %s]", name, i,
					aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey),
					wantR[i][0], wantR[i][1])
			}
		}
	}
}

func TestCreateStreamOnDemand(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{
		StreamName:        aws.String("ondemand"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "ondemand")
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("ondemand")})
	if err != nil {
		t.Fatal(err)
	}
	s := out.StreamDescriptionSummary
	if s.StreamModeDetails == nil || s.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
		t.Errorf("mode = %+v, want ON_DEMAND", s.StreamModeDetails)
	}
	if aws.ToInt32(s.OpenShardCount) != 4 {
		t.Errorf("open shards = %d, want 4", aws.ToInt32(s.OpenShardCount))
	}
	if n := len(listShards(t, c, "ondemand")); n != 4 {
		t.Errorf("ListShards: %d shards, want 4", n)
	}

	// LocalStack recorded against AWS that a CreateStream with only a name
	// also yields 4 shards (on-demand).
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("nameonly")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "nameonly")
	if n := len(listShards(t, c, "nameonly")); n != 4 {
		t.Errorf("name-only stream: %d shards, want 4", n)
	}
}

func TestCreateStreamMaxRecordSizeAndTags(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{
		StreamName:         aws.String("big"),
		ShardCount:         aws.Int32(1),
		MaxRecordSizeInKiB: aws.Int32(2048),
		Tags:               map[string]string{"team": "payments", "env": "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "big")
	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(sum.StreamDescriptionSummary.MaxRecordSizeInKiB); got != 2048 {
		t.Errorf("MaxRecordSizeInKiB = %d, want 2048", got)
	}
	tags, err := c.ListTagsForStream(t.Context(), &kinesis.ListTagsForStreamInput{StreamName: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(tags.Tags); len(got) != 2 || got["team"] != "payments" || got["env"] != "test" {
		t.Errorf("tags = %v", got)
	}

	// The default max record size is 1 MiB.
	createStream(t, c, "small", 1)
	sum, err = c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(sum.StreamDescriptionSummary.MaxRecordSizeInKiB); got != 1024 {
		t.Errorf("default MaxRecordSizeInKiB = %d, want 1024", got)
	}
}

func TestCreateStreamErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t, withShardLimit(5))
	createStream(t, c, "dup", 1)

	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("dup"), ShardCount: aws.Int32(1)})
	wantErr[*types.ResourceInUseException](t, err)
	wantMessage(t, err, "Stream dup under account "+defaultAccount+" already exists.")

	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("bad name!"), ShardCount: aws.Int32(1)})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")

	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(string(long)), ShardCount: aws.Int32(1)})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128")

	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("zero"), ShardCount: aws.Int32(0)})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, "at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1")

	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("tiny"), ShardCount: aws.Int32(1), MaxRecordSizeInKiB: aws.Int32(512)})
	wantCode(t, err, "ValidationException")

	// 1 shard is in use; 5 more would make 6 > 5.
	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("toomany"), ShardCount: aws.Int32(5)})
	wantErr[*types.LimitExceededException](t, err)
	wantMessage(t, err, "shard limit", "Limit: 5")
	// Up to the limit is fine.
	createStream(t, c, "fits", 4)
	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("onemore"), ShardCount: aws.Int32(1)})
	wantErr[*types.LimitExceededException](t, err)

	// Nothing was created by the failed calls.
	out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.StreamNames; !slices.Equal(got, []string{"dup", "fits"}) {
		t.Errorf("streams = %v, want [dup fits]", got)
	}
}

func TestDeleteStream(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "gone", 2)
	put(t, c, "gone", "k", []byte("v"))
	if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("gone"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "gone")
	_, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("gone")})
	wantErr[*types.ResourceNotFoundException](t, err)
	wantMessage(t, err, "Stream gone under account "+defaultAccount+" not found.")

	_, err = c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("gone")})
	wantErr[*types.ResourceNotFoundException](t, err)

	// The name can be reused, and the new stream starts empty.
	createStream(t, c, "gone", 1)
	if recs := readShard(t, c, "gone", shardID(0)); len(recs) != 0 {
		t.Errorf("recreated stream has %d records", len(recs))
	}
}

func TestDescribeStreamPaging(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "paged", 5)

	out, err := c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("paged"), Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.StreamDescription
	if len(d.Shards) != 2 || !aws.ToBool(d.HasMoreShards) {
		t.Fatalf("Limit 2: %d shards, HasMoreShards %v", len(d.Shards), aws.ToBool(d.HasMoreShards))
	}
	out, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{
		StreamName: aws.String("paged"), ExclusiveStartShardId: aws.String(shardID(1)), Limit: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids := shardIDs(out.StreamDescription.Shards); !slices.Equal(ids, []string{shardID(2), shardID(3)}) {
		t.Errorf("after %s: %v", shardID(1), ids)
	}
	out, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{
		StreamName: aws.String("paged"), ExclusiveStartShardId: aws.String(shardID(3)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids := shardIDs(out.StreamDescription.Shards); !slices.Equal(ids, []string{shardID(4)}) || aws.ToBool(out.StreamDescription.HasMoreShards) {
		t.Errorf("after %s: %v more=%v", shardID(3), ids, aws.ToBool(out.StreamDescription.HasMoreShards))
	}

	// The SDK paginator walks all shards with HasMoreShards.
	p := kinesis.NewDescribeStreamPaginator(c, &kinesis.DescribeStreamInput{StreamName: aws.String("paged"), Limit: aws.Int32(2)})
	var all []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, shardIDs(page.StreamDescription.Shards)...)
	}
	if want := []string{shardID(0), shardID(1), shardID(2), shardID(3), shardID(4)}; !slices.Equal(all, want) || pages != 3 {
		t.Errorf("paginator: %d pages %v, want 3 pages %v", pages, all, want)
	}

	// Limit may be up to 10000, but one call returns at most 100 shards.
	createStream(t, c, "wide", 150)
	out, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("wide"), Limit: aws.Int32(10000)})
	if err != nil {
		t.Fatalf("Limit 10000: %v", err)
	}
	if n := len(out.StreamDescription.Shards); n != 100 || !aws.ToBool(out.StreamDescription.HasMoreShards) {
		t.Errorf("150 shards, Limit 10000: %d shards, HasMoreShards %v; want 100, true", n, aws.ToBool(out.StreamDescription.HasMoreShards))
	}
	out, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("wide")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.StreamDescription.Shards); n != 100 {
		t.Errorf("150 shards, no Limit: %d shards, want 100", n)
	}
	// ListShards returns up to 1000 by default.
	if n := len(listShards(t, c, "wide")); n != 150 {
		t.Errorf("ListShards of 150 shards: %d", n)
	}
	_, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("paged"), Limit: aws.Int32(0)})
	wantCode(t, err, "ValidationException")

	_, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestDescribeStreamSummary(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "summ", 3)
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("summ")})
	if err != nil {
		t.Fatal(err)
	}
	s := out.StreamDescriptionSummary
	if aws.ToString(s.StreamName) != "summ" || aws.ToString(s.StreamARN) != streamARN("summ") {
		t.Errorf("name/ARN = %s %s", aws.ToString(s.StreamName), aws.ToString(s.StreamARN))
	}
	if s.StreamStatus != types.StreamStatusActive || aws.ToInt32(s.OpenShardCount) != 3 || aws.ToInt32(s.RetentionPeriodHours) != 24 {
		t.Errorf("status %s, open shards %d, retention %d", s.StreamStatus, aws.ToInt32(s.OpenShardCount), aws.ToInt32(s.RetentionPeriodHours))
	}
	if aws.ToInt32(s.ConsumerCount) != 0 {
		t.Errorf("consumers = %d", aws.ToInt32(s.ConsumerCount))
	}
	// StreamId makes SDKs route requests to AWS even with a custom
	// endpoint, so it must never be returned.
	if s.StreamId != nil {
		t.Errorf("StreamId returned: %s", *s.StreamId)
	}
	if len(s.EnhancedMonitoring) != 1 || len(s.EnhancedMonitoring[0].ShardLevelMetrics) != 0 {
		t.Errorf("EnhancedMonitoring = %+v, want [{ShardLevelMetrics: []}]", s.EnhancedMonitoring)
	}
	if s.StreamCreationTimestamp == nil {
		t.Error("no creation timestamp")
	}

	_, err = c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)
	wantMessage(t, err, "Stream nope under account "+defaultAccount+" not found.")
}

func TestListStreams(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 0 || aws.ToBool(out.HasMoreStreams) {
		t.Errorf("empty server lists %v more=%v", out.StreamNames, aws.ToBool(out.HasMoreStreams))
	}

	names := []string{"e", "a", "d", "b", "c"}
	for _, n := range names {
		createStream(t, c, n, 1)
	}
	out, err = c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.StreamNames, []string{"a", "b", "c", "d", "e"}) || aws.ToBool(out.HasMoreStreams) {
		t.Errorf("ListStreams = %v more=%v", out.StreamNames, aws.ToBool(out.HasMoreStreams))
	}
	if len(out.StreamSummaries) != 5 {
		t.Fatalf("%d summaries", len(out.StreamSummaries))
	}
	for _, s := range out.StreamSummaries {
		if aws.ToString(s.StreamARN) != streamARN(aws.ToString(s.StreamName)) || s.StreamStatus != types.StreamStatusActive ||
			s.StreamModeDetails == nil || s.StreamModeDetails.StreamMode != types.StreamModeProvisioned || s.StreamCreationTimestamp == nil {
			t.Errorf("summary %+v", s)
		}
	}

	// Limit and ExclusiveStartStreamName.
	out, err = c.ListStreams(t.Context(), &kinesis.ListStreamsInput{Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.StreamNames, []string{"a", "b"}) || !aws.ToBool(out.HasMoreStreams) || aws.ToString(out.NextToken) == "" {
		t.Errorf("Limit 2 = %v more=%v token=%q", out.StreamNames, aws.ToBool(out.HasMoreStreams), aws.ToString(out.NextToken))
	}
	token := out.NextToken
	out, err = c.ListStreams(t.Context(), &kinesis.ListStreamsInput{ExclusiveStartStreamName: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.StreamNames, []string{"d", "e"}) || aws.ToBool(out.HasMoreStreams) {
		t.Errorf("after c = %v more=%v", out.StreamNames, aws.ToBool(out.HasMoreStreams))
	}

	// NextToken continues where the first page stopped.
	out, err = c.ListStreams(t.Context(), &kinesis.ListStreamsInput{NextToken: token, Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.StreamNames, []string{"c", "d"}) {
		t.Errorf("NextToken page = %v, want [c d]", out.StreamNames)
	}

	// The SDK paginator (NextToken based) visits every stream once.
	p := kinesis.NewListStreamsPaginator(c, &kinesis.ListStreamsInput{Limit: aws.Int32(2)})
	var all []string
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(page.StreamNames) > 2 {
			t.Errorf("page of %d with Limit 2", len(page.StreamNames))
		}
		all = append(all, page.StreamNames...)
	}
	if !slices.Equal(all, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("paginator = %v", all)
	}

	_, err = c.ListStreams(t.Context(), &kinesis.ListStreamsInput{NextToken: aws.String("garbage-token")})
	wantCode(t, err, "InvalidArgumentException", "ExpiredNextTokenException", "ValidationException")
}

// A stream is CREATING for the configured delay; data-plane calls are
// rejected until it is ACTIVE, as on AWS.
func TestStreamStatesAndWaiters(t *testing.T) {
	t.Parallel()
	_, c := start(t, withDelays(1500*time.Millisecond, 1500*time.Millisecond))
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("slow"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.StreamDescriptionSummary.StreamStatus; st != types.StreamStatusCreating {
		t.Fatalf("status right after CreateStream = %s, want CREATING", st)
	}
	ls, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.StreamSummaries) != 1 || ls.StreamSummaries[0].StreamStatus != types.StreamStatusCreating {
		t.Errorf("ListStreams during CREATING: %+v", ls.StreamSummaries)
	}
	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("slow"), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String("slow"), Tags: map[string]string{"a": "b"}})
	wantErr[*types.ResourceInUseException](t, err)

	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 20 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	desc, err := w.WaitForOutput(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("slow")}, 20*time.Second)
	if err != nil {
		t.Fatalf("StreamExists waiter: %v", err)
	}
	if desc.StreamDescription.StreamStatus != types.StreamStatusActive {
		t.Errorf("waiter returned status %s", desc.StreamDescription.StreamStatus)
	}
	put(t, c, "slow", "k", []byte("now active"))

	if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	sum, err = c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("slow")})
	if err != nil {
		t.Fatalf("DescribeStreamSummary right after DeleteStream: %v", err)
	}
	if st := sum.StreamDescriptionSummary.StreamStatus; st != types.StreamStatusDeleting {
		t.Errorf("status right after DeleteStream = %s, want DELETING", st)
	}
	_, err = c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("slow")})
	if err != nil {
		wantCode(t, err, "ResourceInUseException", "ResourceNotFoundException")
	}
	nw := kinesis.NewStreamNotExistsWaiter(c, func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay = 20 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := nw.Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("slow")}, 20*time.Second); err != nil {
		t.Fatalf("StreamNotExists waiter: %v", err)
	}
	_, err = c.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("slow")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

// With no delays, the waiters return on their first poll.
func TestWaitersNoDelay(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("quick"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	opt := func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	}
	if err := kinesis.NewStreamExistsWaiter(c, opt).Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("quick")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("quick")}); err != nil {
		t.Fatal(err)
	}
	nopt := func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	}
	if err := kinesis.NewStreamNotExistsWaiter(c, nopt).Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String("quick")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func shardIDs(shards []types.Shard) []string {
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = aws.ToString(s.ShardId)
	}
	return ids
}

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// CreateStream: "You can create up to five streams simultaneously in the
// CREATING state"; a sixth gets LimitExceededException.
func TestCreatingStreamsLimit(t *testing.T) {
	t.Parallel()
	_, c := start(t, withDelays(3*time.Second, 0))
	for i := range 5 {
		if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(fmt.Sprintf("c%d", i)), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("c4")})
	if err != nil {
		t.Fatal(err)
	}
	if sum.StreamDescriptionSummary.StreamStatus != types.StreamStatusCreating {
		t.Skipf("the machine was too slow: c4 is already %s", sum.StreamDescriptionSummary.StreamStatus)
	}
	_, err = c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("c5"), ShardCount: aws.Int32(1)})
	wantErr[*types.LimitExceededException](t, err)
}

func TestOnDemandStreamLimit(t *testing.T) {
	t.Parallel()
	_, c := start(t, func(cfg *config.Config) { cfg.OnDemandStreamLimit = 1 })
	od := &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("od1"), StreamModeDetails: od}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "od1")
	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("od2"), StreamModeDetails: od})
	wantErr[*types.LimitExceededException](t, err)
	// Provisioned streams do not count against it.
	createStream(t, c, "prov", 1)
}

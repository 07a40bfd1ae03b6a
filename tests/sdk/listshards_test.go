package sdk_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestListShardsPaging(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "ls", 5)
	all := []string{shardID(0), shardID(1), shardID(2), shardID(3), shardID(4)}

	out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("ls")})
	if err != nil {
		t.Fatal(err)
	}
	if ids := shardIDs(out.Shards); !slices.Equal(ids, all) || out.NextToken != nil {
		t.Errorf("ListShards = %v token=%v", ids, aws.ToString(out.NextToken))
	}
	for i, s := range out.Shards {
		r := initialRanges(5)[i]
		if aws.ToString(s.HashKeyRange.StartingHashKey) != r[0].String() || aws.ToString(s.HashKeyRange.EndingHashKey) != r[1].String() {
			t.Errorf("shard %d range [%s, %s]", i, aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
		}
		if s.SequenceNumberRange == nil || s.SequenceNumberRange.StartingSequenceNumber == nil {
			t.Errorf("shard %d has no sequence number range", i)
		}
	}

	// MaxResults and NextToken: the token alone continues the listing.
	var got []string
	var token *string
	pages := 0
	for {
		in := &kinesis.ListShardsInput{MaxResults: aws.Int32(2)}
		if token == nil {
			in.StreamName = aws.String("ls")
		} else {
			in.NextToken = token
		}
		out, err := c.ListShards(t.Context(), in)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(out.Shards) > 2 {
			t.Errorf("page of %d with MaxResults 2", len(out.Shards))
		}
		got = append(got, shardIDs(out.Shards)...)
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, all) || pages != 3 {
		t.Errorf("paged = %v in %d pages, want %v in 3", got, pages, all)
	}

	out, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("ls"), ExclusiveStartShardId: aws.String(shardID(2))})
	if err != nil {
		t.Fatal(err)
	}
	if ids := shardIDs(out.Shards); !slices.Equal(ids, all[3:]) {
		t.Errorf("after %s = %v", shardID(2), ids)
	}

	// StreamCreationTimestamp matching the stream is accepted.
	sum, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("ls")})
	if err != nil {
		t.Fatal(err)
	}
	out, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("ls"), StreamCreationTimestamp: sum.StreamDescriptionSummary.StreamCreationTimestamp})
	if err != nil {
		t.Fatalf("with StreamCreationTimestamp: %v", err)
	}
	if len(out.Shards) != 5 {
		t.Errorf("with StreamCreationTimestamp: %d shards", len(out.Shards))
	}
}

func TestListShardsErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "lse", 3)
	first, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("lse"), MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if first.NextToken == nil {
		t.Fatal("no NextToken with MaxResults 1 of 3 shards")
	}

	// NextToken cannot be combined with StreamName, ExclusiveStartShardId or
	// StreamCreationTimestamp.
	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("lse"), NextToken: first.NextToken})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "NextToken and StreamName cannot be provided together.")
	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{NextToken: first.NextToken, ExclusiveStartShardId: aws.String(shardID(0))})
	wantErr[*types.InvalidArgumentException](t, err)
	now := time.Now()
	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{NextToken: first.NextToken, StreamCreationTimestamp: &now})
	wantErr[*types.InvalidArgumentException](t, err)

	// Neither NextToken nor a stream.
	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "NextToken")

	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{NextToken: aws.String("not-a-token")})
	wantCode(t, err, "InvalidArgumentException", "ExpiredNextTokenException")

	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)

	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("lse"), MaxResults: aws.Int32(0)})
	wantCode(t, err, "ValidationException", "InvalidArgumentException")

	// The token still works after the rejected calls.
	out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{NextToken: first.NextToken})
	if err != nil {
		t.Fatal(err)
	}
	if ids := shardIDs(out.Shards); !slices.Equal(ids, []string{shardID(1), shardID(2)}) {
		t.Errorf("token page = %v", ids)
	}
}

// Without resharding every shard is open from the stream's creation, so
// each filter that looks at open shards returns all of them.
func TestListShardsFilters(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "lsf", 3)
	all := []string{shardID(0), shardID(1), shardID(2)}
	now := time.Now()
	hourAgo := now.Add(-time.Hour)
	cases := []struct {
		name   string
		filter types.ShardFilter
		want   []string
	}{
		{"AFTER_SHARD_ID", types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(shardID(0))}, all[1:]},
		{"AFTER_SHARD_ID last", types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(shardID(2))}, nil},
		{"AT_TRIM_HORIZON", types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, all},
		{"FROM_TRIM_HORIZON", types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, all},
		{"AT_LATEST", types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, all},
		{"AT_TIMESTAMP", types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: &now}, all},
		{"FROM_TIMESTAMP", types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: &now}, all},
		{"FROM_TIMESTAMP before creation", types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: &hourAgo}, all},
	}
	for _, tc := range cases {
		out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("lsf"), ShardFilter: &tc.filter})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if ids := shardIDs(out.Shards); !slices.Equal(ids, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, ids, tc.want)
		}
	}

	// Filters that need a parameter reject a request without it.
	for _, f := range []types.ShardFilter{
		{Type: types.ShardFilterTypeAfterShardId},
		{Type: types.ShardFilterTypeAtTimestamp},
		{Type: types.ShardFilterTypeFromTimestamp},
	} {
		_, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("lsf"), ShardFilter: &f})
		if err == nil {
			t.Errorf("%s without its parameter succeeded", f.Type)
			continue
		}
		wantCode(t, err, "InvalidArgumentException", "ValidationException")
	}
}

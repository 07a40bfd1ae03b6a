package streams

import (
	"testing"
	"time"
)

func ids(p *ShardPage) []string {
	var out []string
	for _, sh := range p.Shards {
		out = append(out, sh.ID())
	}
	return out
}

func equalIDs(got []string, want ...int) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		if got[i] != (&Shard{Index: uint32(w)}).ID() {
			return false
		}
	}
	return true
}

func TestListShardsPagination(t *testing.T) {
	e := newEnv(t)
	e.create("s", 5)
	p, err := e.s.ListShards(ListShardsParams{Ref: ref("s"), MaxResults: 2})
	if err != nil || !equalIDs(ids(p), 0, 1) || p.NextToken == "" {
		t.Fatalf("page 1: %v %v %q", ids(p), err, p.NextToken)
	}
	p, err = e.s.ListShards(ListShardsParams{Ref: StreamRef{Account: "999999999999"}, NextToken: p.NextToken, MaxResults: 2})
	if err != nil || !equalIDs(ids(p), 2, 3) || p.NextToken == "" {
		t.Fatalf("page 2: %v %v", ids(p), err)
	}
	tok := p.NextToken
	p, err = e.s.ListShards(ListShardsParams{NextToken: tok, MaxResults: 2})
	if err != nil || !equalIDs(ids(p), 4) || p.NextToken != "" {
		t.Fatalf("page 3: %v %v %q", ids(p), err, p.NextToken)
	}
	// Exactly a full last page has no token.
	p, _ = e.s.ListShards(ListShardsParams{Ref: ref("s"), MaxResults: 5})
	if len(p.Shards) != 5 || p.NextToken != "" {
		t.Errorf("full page: %v %q", ids(p), p.NextToken)
	}
	p, _ = e.s.ListShards(ListShardsParams{Ref: ref("s"), ExclusiveStartShardID: "shardId-000000000002"})
	if !equalIDs(ids(p), 3, 4) {
		t.Errorf("ExclusiveStartShardId: %v", ids(p))
	}
	ct := time.UnixMilli(e.describe("s").CreatedAt)
	if p, err = e.s.ListShards(ListShardsParams{Ref: ref("s"), StreamCreationTimestamp: &ct}); err != nil || len(p.Shards) != 5 {
		t.Errorf("matching StreamCreationTimestamp: %v", err)
	}
	wrong := ct.Add(-time.Hour)
	_, err = e.s.ListShards(ListShardsParams{Ref: ref("s"), StreamCreationTimestamp: &wrong})
	wantErr(t, err, KindNotFound, "Stream s under account 123456789012 not found.")

	// Token expiry.
	e.clk.advance(301 * time.Second)
	_, err = e.s.ListShards(ListShardsParams{NextToken: tok})
	wantErr(t, err, KindExpiredNextToken, "")
}

func TestListShardsArgumentRules(t *testing.T) {
	e := newEnv(t)
	e.create("s", 3)
	p, _ := e.s.ListShards(ListShardsParams{Ref: ref("s"), MaxResults: 1})
	tok := p.NextToken
	ct := time.Now()
	for _, c := range []struct {
		p   ListShardsParams
		msg string
	}{
		{ListShardsParams{Ref: StreamRef{Account: acct, Region: region}}, "Either NextToken or StreamName should be provided."},
		{ListShardsParams{Ref: ref("s"), NextToken: tok}, "NextToken and StreamName cannot be provided together."},
		{ListShardsParams{Ref: StreamRef{ARN: "arn:aws:kinesis:us-east-1:123456789012:stream/s"}, NextToken: tok}, "NextToken and StreamARN cannot be provided together."},
		{ListShardsParams{NextToken: tok, StreamCreationTimestamp: &ct}, "NextToken and StreamCreationTimestamp cannot be provided together."},
		{ListShardsParams{NextToken: tok, ExclusiveStartShardID: "shardId-000000000000"}, "NextToken and ExclusiveStartShardId cannot be provided together."},
		{ListShardsParams{NextToken: "garbage"}, "Invalid NextToken."},
		{ListShardsParams{Ref: ref("s"), Filter: &ShardFilter{Type: FilterAfterShardID}}, "Must specify ShardId"},
		{ListShardsParams{Ref: ref("s"), Filter: &ShardFilter{Type: FilterAtTimestamp}}, "Must specify Timestamp"},
		{ListShardsParams{Ref: ref("s"), Filter: &ShardFilter{Type: FilterFromTimestamp}}, "Must specify Timestamp"},
		{ListShardsParams{Ref: ref("s"), MaxResults: 10001}, "MaxResults"},
	} {
		_, err := e.s.ListShards(c.p)
		wantErr(t, err, KindInvalidArgument, c.msg)
	}
	_, err := e.s.ListShards(ListShardsParams{Ref: ref("missing")})
	wantErr(t, err, KindNotFound, "Stream missing under account 123456789012 not found.")
	// Via ARN.
	p, err = e.s.ListShards(ListShardsParams{Ref: StreamRef{ARN: "arn:aws:kinesis:us-east-1:123456789012:stream/s"}})
	if err != nil || len(p.Shards) != 3 {
		t.Errorf("by ARN: %v %v", ids(p), err)
	}
}

func TestListShardsFilters(t *testing.T) {
	e := newEnv(t)
	e.create("s", 1)
	created := e.clk.now()
	e.clk.advance(time.Hour)
	splitAt := e.clk.now()
	splitShard0(t, e, "s") // shard 0 closed now, children 1 and 2
	e.clk.advance(time.Hour)
	ts := func(t time.Time) *time.Time { return &t }
	for _, c := range []struct {
		f    *ShardFilter
		want []int
	}{
		{nil, []int{0, 1, 2}},
		{&ShardFilter{Type: FilterFromTrimHorizon}, []int{0, 1, 2}},
		{&ShardFilter{Type: FilterAtTrimHorizon}, []int{0}},
		{&ShardFilter{Type: FilterAtLatest}, []int{1, 2}},
		{&ShardFilter{Type: FilterAfterShardID, ShardID: "shardId-000000000000"}, []int{1, 2}},
		{&ShardFilter{Type: FilterAtTimestamp, Timestamp: ts(created.Add(time.Minute))}, []int{0}},
		{&ShardFilter{Type: FilterAtTimestamp, Timestamp: ts(created.Add(-time.Hour))}, []int{0}},
		{&ShardFilter{Type: FilterAtTimestamp, Timestamp: ts(splitAt)}, []int{1, 2}},
		{&ShardFilter{Type: FilterFromTimestamp, Timestamp: ts(created)}, []int{0, 1, 2}},
		{&ShardFilter{Type: FilterFromTimestamp, Timestamp: ts(splitAt.Add(time.Minute))}, []int{1, 2}},
	} {
		p, err := e.s.ListShards(ListShardsParams{Ref: ref("s"), Filter: c.f})
		if err != nil || !equalIDs(ids(p), c.want...) {
			t.Errorf("filter %+v: %v %v, want %v", c.f, ids(p), err, c.want)
		}
	}
	// A filtered listing keeps its filter across pages.
	p, err := e.s.ListShards(ListShardsParams{Ref: ref("s"), MaxResults: 1, Filter: &ShardFilter{Type: FilterAtLatest}})
	if err != nil || !equalIDs(ids(p), 1) || p.NextToken == "" {
		t.Fatalf("page 1: %v %v", ids(p), err)
	}
	p, err = e.s.ListShards(ListShardsParams{NextToken: p.NextToken, Filter: &ShardFilter{Type: FilterFromTrimHorizon}})
	if err != nil || !equalIDs(ids(p), 2) || p.NextToken != "" {
		t.Fatalf("page 2: %v %v", ids(p), err)
	}
	// Once the closed shard's records have all expired, it is no longer
	// listed, and the trim horizon lies after the split.
	e.clk.advance(24 * time.Hour)
	for _, f := range []*ShardFilter{nil, {Type: FilterAtTrimHorizon}} {
		p, err = e.s.ListShards(ListShardsParams{Ref: ref("s"), Filter: f})
		if err != nil || !equalIDs(ids(p), 1, 2) {
			t.Errorf("after expiry, filter %+v: %v %v", f, ids(p), err)
		}
	}
}

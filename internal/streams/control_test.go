package streams

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestShardAndCreatingLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ShardLimit, o.OnDemandStreamLimit = 10, 1 })
	ctx := context.Background()
	e.create("a", 6)
	err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "b", ShardCount: 5})
	wantErr(t, err, KindLimitExceeded, "This request would exceed the shard limit for the account 123456789012 in us-east-1. Current shard count for the account: 6. Limit: 10. Number of additional shards that would have resulted from this request: 5. Refer to the AWS Service Limits page (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.")
	e.create("b", 4)
	// Another account has its own quota.
	if err := e.s.CreateStream(ctx, CreateParams{Account: "999999999999", Region: region, Name: "b", ShardCount: 10}); err != nil {
		t.Fatal(err)
	}
	l := e.s.DescribeLimits(acct, region)
	if l != (Limits{ShardLimit: 10, OpenShardCount: 10, OnDemandStreamCount: 0, OnDemandStreamCountLimit: 1}) {
		t.Fatalf("limits %+v", l)
	}
	// Deleting gives the shards back.
	if err := e.s.DeleteStream(ctx, ref("a"), false); err != nil {
		t.Fatal(err)
	}
	e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "od", Mode: ModeOnDemand})
	err = e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "od2", Mode: ModeOnDemand})
	wantErr(t, err, KindLimitExceeded, "on-demand stream limit")

	slow := newEnv(t, func(o *Options) { o.CreateDelay = time.Hour })
	for i := 0; i < maxCreating; i++ {
		slow.create(fmt.Sprintf("c%d", i), 1)
	}
	err = slow.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "c9", ShardCount: 1})
	wantErr(t, err, KindLimitExceeded, "CREATING")
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 1, Tags: map[string]string{"env": "test"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AddTags(ctx, ref("s"), map[string]string{"b": "2", "a": "1", "env": "prod", "ü @:/=+-._": ""}); err != nil {
		t.Fatal(err)
	}
	p, err := e.s.ListTags(ref("s"), "", 2)
	if err != nil || !p.HasMore || len(p.Tags) != 2 || p.Tags[0] != (Tag{"a", "1"}) || p.Tags[1] != (Tag{"b", "2"}) {
		t.Fatalf("page 1: %+v %v", p, err)
	}
	p, _ = e.s.ListTags(ref("s"), "b", 10)
	if p.HasMore || len(p.Tags) != 2 || p.Tags[0] != (Tag{"env", "prod"}) {
		t.Fatalf("page 2: %+v", p)
	}
	for _, bad := range []string{"a;b", "tab\t", "new\nline", "comma,"} {
		wantErr(t, e.s.AddTags(ctx, ref("s"), map[string]string{bad: "v"}), KindInvalidArgument, "Some tags contain invalid characters")
	}
	wantErr(t, e.s.AddTags(ctx, ref("s"), map[string]string{"k": "50%"}), KindInvalidArgument,
		"Failed to add tags to stream s under account 123456789012 because some tags contained illegal characters.")
	many := map[string]string{}
	for i := 0; i < 47; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	wantErr(t, e.s.AddTags(ctx, ref("s"), many), KindInvalidArgument, "cannot have more than 50 tags")
	delete(many, "k00")
	if err := e.s.AddTags(ctx, ref("s"), many); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
	if err := e.s.RemoveTags(ctx, ref("s"), []string{"a", "nope"}); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.s.ListTags(ref("s"), "", 0); len(p.Tags) != 49 || p.HasMore {
		t.Fatalf("%d tags after remove", len(p.Tags))
	}
	// Tags survive a restart.
	e.restart()
	if p, _ := e.s.ListTags(ref("s"), "", 0); len(p.Tags) != 49 {
		t.Fatalf("%d tags after restart", len(p.Tags))
	}
}

func TestRetention(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 2)
	wantErr(t, e.s.IncreaseRetention(ctx, ref("s"), 23), KindInvalidArgument, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.")
	wantErr(t, e.s.IncreaseRetention(ctx, ref("s"), 8761), KindInvalidArgument, "Maximum allowed retention period is 8760 hours.")
	if err := e.s.IncreaseRetention(ctx, ref("s"), 48); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.IncreaseRetention(ctx, ref("s"), 36), KindInvalidArgument,
		"Requested retention period (36 hours) for stream s can not be shorter than existing retention period (48 hours). Use DecreaseRetentionPeriod API.")
	wantErr(t, e.s.DecreaseRetention(ctx, ref("s"), 72), KindInvalidArgument, "can not be longer than existing retention period (48 hours)")
	if err := e.s.DecreaseRetention(ctx, ref("s"), 24); err != nil {
		t.Fatal(err)
	}
	st := e.describe("s")
	now := e.clk.now()
	if st.RetentionHours != 24 || st.RetentionCutoff(now) != now.Add(-24*time.Hour).UnixMilli() {
		t.Fatalf("retention %d, cutoff %d", st.RetentionHours, st.RetentionCutoff(now))
	}
	// Increasing does not bring back what had expired.
	if err := e.s.IncreaseRetention(ctx, ref("s"), 100); err != nil {
		t.Fatal(err)
	}
	if got := e.describe("s").RetentionCutoff(now); got != now.Add(-24*time.Hour).UnixMilli() {
		t.Fatalf("cutoff moved back to %d", got)
	}
	if got := e.describe("s").RetentionCutoff(now.Add(100 * time.Hour)); got != now.UnixMilli() {
		t.Fatalf("cutoff later: %d", got)
	}
	// The background trim uses the cutoff on every shard.
	e.s.trimAll(ctx)
	for i := range st.Shards {
		if got, ok := e.log.trimmedAt(st.Key(uint32(i))); !ok || got != now.Add(-24*time.Hour).UnixMilli() {
			t.Fatalf("shard %d trimmed at %d (%v)", i, got, ok)
		}
	}
}

func TestRetentionLoopTrims(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RetentionCheckInterval = time.Millisecond })
	e.create("s", 1)
	st := e.describe("s")
	eventually(t, "a trim", func() bool { _, ok := e.log.trimmedAt(st.Key(0)); return ok })
}

func TestListStreamsPagination(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"d", "b", "a", "c", "e"} {
		e.create(n, 1)
	}
	var names []string
	p, err := e.s.ListStreams(ListParams{Account: acct, Region: region, Limit: 2})
	for {
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range p.Streams {
			names = append(names, st.Name)
		}
		if !p.HasMore {
			break
		}
		if p.NextToken == "" {
			t.Fatal("HasMore without NextToken")
		}
		p, err = e.s.ListStreams(ListParams{Account: acct, Region: region, Limit: 2, NextToken: p.NextToken})
	}
	if strings.Join(names, ",") != "a,b,c,d,e" {
		t.Fatalf("names %v", names)
	}
	p, _ = e.s.ListStreams(ListParams{Account: acct, Region: region, Limit: 100, ExclusiveStart: "c"})
	if len(p.Streams) != 2 || p.HasMore || p.NextToken != "" {
		t.Fatalf("after c: %+v", p)
	}
	first, _ := e.s.ListStreams(ListParams{Account: acct, Region: region, Limit: 1})
	_, err = e.s.ListStreams(ListParams{Account: "999999999999", Region: region, Limit: 1, NextToken: first.NextToken})
	wantErr(t, err, KindInvalidArgument, "Invalid NextToken")
	_, err = e.s.ListStreams(ListParams{Account: acct, Region: region, Limit: 1, NextToken: "garbage"})
	wantErr(t, err, KindInvalidArgument, "Invalid NextToken")
	e.clk.advance(301 * time.Second)
	_, err = e.s.ListStreams(ListParams{Account: acct, Region: region, Limit: 1, NextToken: first.NextToken})
	wantErr(t, err, KindExpiredNextToken, "has expired")
}

func TestAccountSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if a := e.s.AccountSettings(acct, region); a.Commitment != CommitmentDisabled || a.StartedAt != 0 {
		t.Fatalf("initial %+v", a)
	}
	a, err := e.s.SetMinimumThroughputCommitment(ctx, acct, region, true)
	start := e.clk.now().UnixMilli()
	if err != nil || a.Commitment != CommitmentEnabled || a.StartedAt != start || a.EarliestAllowedEnd != start+24*3600*1000 {
		t.Fatalf("enable: %+v %v", a, err)
	}
	e.clk.advance(time.Hour)
	a, _ = e.s.SetMinimumThroughputCommitment(ctx, acct, region, false)
	if a.Commitment != CommitmentEnabledUntilEarliestEnd || a.EndedAt != start+24*3600*1000 {
		t.Fatalf("early disable: %+v", a)
	}
	e.restart()
	e.clk.advance(24 * time.Hour)
	if a := e.s.AccountSettings(acct, region); a.Commitment != CommitmentDisabled {
		t.Fatalf("after the commitment ended: %+v", a)
	}
	if a := e.s.AccountSettings(acct, "eu-west-1"); a.Commitment != CommitmentDisabled {
		t.Fatalf("other region: %+v", a)
	}
}

func TestPolicies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	r, err := ResourceRef(StreamARN(region, acct, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.s.GetPolicy(r); err != nil || p != "{}" {
		t.Fatalf("no policy: %q %v", p, err)
	}
	wantErr(t, e.s.DeletePolicy(ctx, r), KindNotFound, "No resource policy")
	for _, bad := range []string{"not json", "[]", `{"Version":"2012-10-17"}`, `{"Statement":"x"}`} {
		wantErr(t, e.s.PutPolicy(ctx, r, bad), KindInvalidArgument, "Policy")
	}
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kinesis:GetRecords","Resource":"*"}]}`
	if err := e.s.PutPolicy(ctx, r, pol); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.s.GetPolicy(r); p != pol {
		t.Fatalf("policy %q", p)
	}
	if err := e.s.DeletePolicy(ctx, r); err != nil {
		t.Fatal(err)
	}
	_, err = ResourceRef("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1")
	wantErr(t, err, KindNotFound, "Consumer")
}

func TestEnhancedMonitoring(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	res, err := e.s.SetEnhancedMonitoring(ctx, ref("s"), []string{"IncomingBytes"}, true)
	if err != nil || len(res.Current) != 0 || strings.Join(res.Desired, ",") != "IncomingBytes" {
		t.Fatalf("%+v %v", res, err)
	}
	res, _ = e.s.SetEnhancedMonitoring(ctx, ref("s"), []string{MetricAll}, true)
	if len(res.Current) != 1 || len(res.Desired) != 7 {
		t.Fatalf("ALL: %+v", res)
	}
	res, _ = e.s.SetEnhancedMonitoring(ctx, ref("s"), []string{MetricAll}, false)
	if len(res.Current) != 7 || len(res.Desired) != 0 || len(e.describe("s").ShardLevelMetrics) != 0 {
		t.Fatalf("disable ALL: %+v", res)
	}
}

func TestUpdateMaxRecordSize(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	wantErr(t, e.s.UpdateMaxRecordSize(ctx, ref("s"), 1023), KindInvalidArgument, "MaxRecordSizeInKiB")
	if err := e.s.UpdateMaxRecordSize(ctx, ref("s"), 10240); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if got := e.describe("s").MaxRecordSizeKiB; got != 10240 {
		t.Fatalf("max record size %d", got)
	}
}

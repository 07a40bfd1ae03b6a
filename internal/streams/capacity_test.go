package streams

import (
	"context"
	"testing"
)

func TestUpdateStreamMode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withLimits)
	e.create("s", 2)
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("s"), ModeProvisioned, -1), KindInvalidArgument, "already in PROVISIONED mode")
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("s"), ModeProvisioned, 5), KindInvalidArgument, "only be specified when updating the stream mode to ON_DEMAND")
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("s"), "FAST", -1), KindValidation, "streamModeDetails.streamMode")
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("nope"), ModeOnDemand, -1), KindNotFound, "Stream nope under account")

	if err := e.s.UpdateStreamMode(ctx, ref("s"), ModeOnDemand, -1); err != nil {
		t.Fatal(err)
	}
	st := e.describe("s")
	if st.Mode != ModeOnDemand || st.Status != StatusActive || len(st.OpenShards()) != 2 {
		t.Fatalf("after switch: mode %s status %s open %d; want ON_DEMAND ACTIVE 2 (shards kept)", st.Mode, st.Status, len(st.OpenShards()))
	}
	if l := e.s.DescribeLimits(acct, region); l.OnDemandStreamCount != 1 {
		t.Fatalf("on-demand streams %d, want 1", l.OnDemandStreamCount)
	}
	// Resharding by API is refused in on-demand mode.
	wantErr(t, e.s.SplitShard(ctx, ref("s"), "shardId-000000000000", "1000"), KindValidation, "On-Demand mode")

	if err := e.s.UpdateStreamMode(ctx, ref("s"), ModeProvisioned, -1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("s"), ModeOnDemand, -1), KindLimitExceeded, "2 times in the last 24 hours")
	e.clk.advance(modeSwitchWindow)
	if err := e.s.UpdateStreamMode(ctx, ref("s"), ModeOnDemand, -1); err != nil {
		t.Fatalf("switch a day later: %v", err)
	}
}

func TestUpdateStreamModeStaysUpdatingAndCountsTheQuota(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withLimits, func(o *Options) { o.OnDemandStreamLimit = 1; o.UpdateDelay = 1 << 40 })
	e.create("a", 1)
	e.create("b", 1)
	if err := e.s.UpdateStreamMode(ctx, ref("a"), ModeOnDemand, -1); err != nil {
		t.Fatal(err)
	}
	if st := e.describe("a"); st.Status != StatusUpdating || st.Mode != ModeOnDemand {
		t.Fatalf("status %s mode %s, want UPDATING ON_DEMAND", st.Status, st.Mode)
	}
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("a"), ModeProvisioned, -1), KindInUse, "not ACTIVE, instead in state UPDATING")
	wantErr(t, e.s.UpdateStreamMode(ctx, ref("b"), ModeOnDemand, -1), KindLimitExceeded, "on-demand stream limit")
}

func TestWarmThroughput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, withLimits)
	e.create("p", 1)
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "od"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.UpdateStreamWarmThroughput(ctx, ref("od"), 10)
	wantErr(t, err, KindInvalidArgument, "MinimumThroughputBillingCommitment to be ENABLED")
	err = e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "w", Mode: ModeOnDemand, WarmThroughputMiBps: 10})
	wantErr(t, err, KindInvalidArgument, "MinimumThroughputBillingCommitment")

	if _, err := e.s.SetMinimumThroughputCommitment(ctx, acct, region, true); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.UpdateStreamWarmThroughput(ctx, ref("p"), 10)
	wantErr(t, err, KindInvalidArgument, "only for streams in ON_DEMAND mode")
	_, err = e.s.UpdateStreamWarmThroughput(ctx, ref("od"), MaxWarmThroughputMiBps+1)
	wantErr(t, err, KindLimitExceeded, "exceeds the limit of 10240 MiBps")

	st, err := e.s.UpdateStreamWarmThroughput(ctx, ref("od"), 10)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := e.s.WarmThroughput(st)
	if !ok || w.TargetMiBps != 10 || w.CurrentMiBps != 10 || len(st.OpenShards()) != 10 {
		t.Fatalf("warm %+v (%v), open %d; want target 10, current 10, 10 shards", w, ok, len(st.OpenShards()))
	}
	if _, ok := e.s.WarmThroughput(e.describe("p")); ok {
		t.Fatal("a provisioned stream reports warm throughput")
	}

	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "w", Mode: ModeOnDemand, WarmThroughputMiBps: 6}); err != nil {
		t.Fatal(err)
	}
	if st := e.describe("w"); len(st.OpenShards()) != 6 || st.WarmThroughputMiBps != 6 {
		t.Fatalf("created with 6 MiBps: %d shards, target %d", len(st.OpenShards()), st.WarmThroughputMiBps)
	}
	err = e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "x", ShardCount: 2, WarmThroughputMiBps: 6})
	wantErr(t, err, KindInvalidArgument, "only for streams in ON_DEMAND mode")

	// Switching a provisioned stream to on-demand with a target scales it.
	if err := e.s.UpdateStreamMode(ctx, ref("p"), ModeOnDemand, 8); err != nil {
		t.Fatal(err)
	}
	if st := e.describe("p"); len(st.OpenShards()) != 8 || st.WarmThroughputMiBps != 8 || st.Mode != ModeOnDemand {
		t.Fatalf("switched with 8 MiBps: %d shards, target %d, mode %s", len(st.OpenShards()), st.WarmThroughputMiBps, st.Mode)
	}
	// Back to provisioned: the target goes, the shards stay.
	if err := e.s.UpdateStreamMode(ctx, ref("p"), ModeProvisioned, -1); err != nil {
		t.Fatal(err)
	}
	if st := e.describe("p"); len(st.OpenShards()) != 8 || st.WarmThroughputMiBps != 0 {
		t.Fatalf("back to provisioned: %d shards, target %d", len(st.OpenShards()), st.WarmThroughputMiBps)
	}
}

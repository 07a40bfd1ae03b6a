package streams

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func streamARN(name string) string { return StreamARN(region, acct, name) }

func (e *env) register(name, consumer string) ConsumerInfo {
	e.t.Helper()
	c, err := e.s.RegisterConsumer(context.Background(), RegisterConsumerParams{StreamARN: streamARN(name), Name: consumer})
	if err != nil {
		e.t.Fatalf("RegisterConsumer(%s): %v", consumer, err)
	}
	return c
}

func TestConsumerLifecycle(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CreateDelay, o.DeleteDelay = time.Second, time.Second })
	ctx := context.Background()
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.RegisterConsumer(ctx, RegisterConsumerParams{StreamARN: streamARN("s"), Name: "c"})
	wantErr(t, err, KindInUse, "not ACTIVE")
	e.clk.advance(time.Second)
	eventually(t, "stream ACTIVE", func() bool { return e.describe("s").Status == StatusActive })

	c := e.register("s", "c")
	wantARN := fmt.Sprintf("%s/consumer/c:%d", streamARN("s"), e.clk.now().Unix())
	if c.ARN != wantARN || c.Status != StatusCreating || c.StreamARN != streamARN("s") {
		t.Fatalf("registered %+v, want ARN %s CREATING", c, wantARN)
	}
	_, err = e.s.Subscribe(ctx, SubscribeParams{ConsumerARN: c.ARN, ShardID: "shardId-000000000000", Type: TrimHorizon})
	wantErr(t, err, KindInUse, "not ACTIVE, instead in state CREATING")
	_, err = e.s.RegisterConsumer(ctx, RegisterConsumerParams{StreamARN: streamARN("s"), Name: "c"})
	wantErr(t, err, KindInUse, "already exists")

	// The transition is stored state plus a deadline: a restart keeps it.
	e.restart(func(o *Options) { o.CreateDelay, o.DeleteDelay = time.Second, time.Second })
	e.clk.advance(time.Second)
	for _, ref := range []ConsumerRef{{ARN: c.ARN}, {StreamARN: streamARN("s"), Name: "c"}, {ARN: c.ARN, StreamARN: streamARN("s"), Name: "c"}} {
		d, err := e.s.DescribeConsumer(ref)
		if err != nil || d.Status != StatusActive || d.ARN != c.ARN {
			t.Fatalf("Describe(%+v) = %+v, %v; want ACTIVE", ref, d, err)
		}
	}
	_, err = e.s.DescribeConsumer(ConsumerRef{ARN: c.ARN, Name: "other"})
	wantErr(t, err, KindInvalidArgument, "do not refer to the same consumer")
	_, err = e.s.DescribeConsumer(ConsumerRef{Name: "c"})
	wantErr(t, err, KindInvalidArgument, "Either ConsumerARN or both")
	_, err = e.s.DescribeConsumer(ConsumerRef{ARN: strings.Replace(c.ARN, ":"+fmt.Sprint(c.CreatedAt/1000), ":1", 1)})
	wantErr(t, err, KindNotFound, "not found")
	if n := e.describe("s").ConsumerCount(e.clk.now()); n != 1 {
		t.Fatalf("ConsumerCount %d, want 1", n)
	}

	err = e.s.DeleteStream(ctx, ref("s"), false)
	wantErr(t, err, KindInUse, "because there are consumers associated with this data stream")

	if err := e.s.DeregisterConsumer(ctx, ConsumerRef{ARN: c.ARN}); err != nil {
		t.Fatal(err)
	}
	if d, err := e.s.DescribeConsumer(ConsumerRef{ARN: c.ARN}); err != nil || d.Status != StatusDeleting {
		t.Fatalf("after deregister: %+v, %v; want DELETING", d, err)
	}
	e.clk.advance(time.Second)
	_, err = e.s.DescribeConsumer(ConsumerRef{ARN: c.ARN})
	wantErr(t, err, KindNotFound, "Consumer "+c.ARN+" not found.")
	err = e.s.DeregisterConsumer(ctx, ConsumerRef{ARN: c.ARN})
	wantErr(t, err, KindNotFound, "not found")
	if err := e.s.DeleteStream(ctx, ref("s"), false); err != nil {
		t.Fatalf("DeleteStream without consumers: %v", err)
	}
}

func TestConsumerLimitsAndList(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CreateDelay = time.Second })
	ctx := context.Background()
	e.create("s", 1)
	e.clk.advance(time.Second)
	eventually(t, "stream ACTIVE", func() bool { return e.describe("s").Status == StatusActive })
	for i := 0; i < maxConsumersCreating; i++ {
		e.register("s", fmt.Sprintf("c%02d", i))
	}
	_, err := e.s.RegisterConsumer(ctx, RegisterConsumerParams{StreamARN: streamARN("s"), Name: "sixth"})
	wantErr(t, err, KindLimitExceeded, "CREATING")
	for i := maxConsumersCreating; i < MaxConsumersPerStream; i++ {
		e.clk.advance(time.Second)
		e.register("s", fmt.Sprintf("c%02d", i))
	}
	e.clk.advance(time.Second)
	_, err = e.s.RegisterConsumer(ctx, RegisterConsumerParams{StreamARN: streamARN("s"), Name: "extra"})
	wantErr(t, err, KindLimitExceeded, "20 registered consumers")

	var names []string
	token := ""
	for pages := 0; ; pages++ {
		page, err := e.s.ListConsumers(ListConsumersParams{StreamARN: streamARN("s"), MaxResults: 7, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Consumers {
			names = append(names, c.Name)
			if c.Status != StatusActive {
				t.Fatalf("%s is %s, want ACTIVE", c.Name, c.Status)
			}
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if len(names) != MaxConsumersPerStream || names[0] != "c00" || names[19] != "c19" {
		t.Fatalf("listed %v", names)
	}
	e.clk.advance(301 * time.Second)
	_, err = e.s.ListConsumers(ListConsumersParams{StreamARN: streamARN("s"), NextToken: token})
	wantErr(t, err, KindExpiredNextToken, "expired")
	_, err = e.s.ListConsumers(ListConsumersParams{StreamARN: streamARN("s"), NextToken: "garbage"})
	wantErr(t, err, KindInvalidArgument, "Invalid NextToken")
	wrong := time.UnixMilli(e.describe("s").CreatedAt).Add(-time.Hour)
	_, err = e.s.ListConsumers(ListConsumersParams{StreamARN: streamARN("s"), StreamCreated: &wrong})
	wantErr(t, err, KindNotFound, "not found")

	if err := e.s.DeleteStream(ctx, ref("s"), true); err != nil {
		t.Fatalf("DeleteStream enforcing consumer deletion: %v", err)
	}
}

func TestConsumerTagsAndPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("s", 1)
	c := e.register("s", "c")
	if err := e.s.AddConsumerTags(ctx, c.ARN, map[string]string{"b": "2", "a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RemoveConsumerTags(ctx, c.ARN, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.s.ListConsumerTags(c.ARN)
	if err != nil || len(tags) != 1 || tags[0] != (Tag{"a", "1"}) {
		t.Fatalf("tags %v, %v", tags, err)
	}
	if st := e.describe("s"); len(st.Tags) != 0 {
		t.Fatalf("consumer tags leaked to the stream: %v", st.Tags)
	}
	err = e.s.AddConsumerTags(ctx, c.ARN+"0", map[string]string{"a": "1"})
	wantErr(t, err, KindNotFound, "not found")

	p := `{"Version":"2012-10-17","Statement":[]}`
	if err := e.s.PutConsumerPolicy(ctx, c.ARN, p); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.GetConsumerPolicy(c.ARN); err != nil || got != p {
		t.Fatalf("policy %q, %v", got, err)
	}
	if err := e.s.DeleteConsumerPolicy(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	err = e.s.DeleteConsumerPolicy(ctx, c.ARN)
	wantErr(t, err, KindNotFound, "No resource policy")
}

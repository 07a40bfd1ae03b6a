package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

const shard0 = "shardId-000000000000"

func subOpts(o *Options) { o.SubscriptionHeartbeat = 20 * time.Millisecond }

func (e *env) subscribe(arn, shard, typ, seq string) *Subscription {
	e.t.Helper()
	sub, err := e.s.Subscribe(context.Background(), SubscribeParams{ConsumerARN: arn, ShardID: shard, Type: typ, SequenceNumber: seq})
	if err != nil {
		e.t.Fatalf("Subscribe(%s %s %s): %v", shard, typ, seq, err)
	}
	e.t.Cleanup(sub.Close)
	return sub
}

// collect reads events until n records arrived.
func collect(t *testing.T, sub *Subscription, n int) ([]Record, string) {
	t.Helper()
	var out []Record
	cont := ""
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < n {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		if ev.ContinuationSequenceNumber == "" {
			t.Fatalf("event without a continuation sequence number on an open shard: %+v", ev)
		}
		out = append(out, ev.Records...)
		cont = ev.ContinuationSequenceNumber
	}
	return out, cont
}

func TestSubscribePushAndResume(t *testing.T) {
	e := newEnv(t, subOpts)
	e.create("s", 1)
	c := e.register("s", "c")
	sub := e.subscribe(c.ARN, shard0, Latest, "")

	// The first event comes at once, with a continuation number even
	// though there is no data.
	ev, err := sub.Next(context.Background())
	if err != nil || len(ev.Records) != 0 || ev.ContinuationSequenceNumber == "" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	done := make(chan []Record)
	go func() {
		recs, _ := collect(t, sub, 5)
		done <- recs
	}()
	for i := 0; i < 5; i++ {
		put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte(fmt.Sprint(i))})
	}
	recs := <-done
	for i, r := range recs {
		if string(r.Data) != fmt.Sprint(i) {
			t.Fatalf("record %d is %q", i, r.Data)
		}
	}
	sub.Close()

	// Resuming after the third record's number gives exactly the rest,
	// once the 5-second protection of the first subscription is over.
	e.clk.advance(5 * time.Second)
	sub2 := e.subscribe(c.ARN, shard0, AfterSequenceNumber, recs[2].SequenceNumber)
	rest, cont := collect(t, sub2, 2)
	if len(rest) != 2 || string(rest[0].Data) != "3" || string(rest[1].Data) != "4" || cont != recs[4].SequenceNumber {
		t.Fatalf("resumed with %v (continuation %s)", rest, cont)
	}
	// An idle heartbeat carries a continuation that resumes without loss.
	e.clk.advance(20 * time.Millisecond)
	ev, err = sub2.Next(context.Background())
	if err != nil || len(ev.Records) != 0 {
		t.Fatalf("heartbeat %+v, %v", ev, err)
	}
	sub2.Close()
	e.clk.advance(5 * time.Second)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("5")})
	sub3 := e.subscribe(c.ARN, shard0, AfterSequenceNumber, ev.ContinuationSequenceNumber)
	if got, _ := collect(t, sub3, 1); string(got[0].Data) != "5" {
		t.Fatalf("after the heartbeat's continuation: %q", got[0].Data)
	}
}

func TestSubscribeTakeoverExpiryAndEnd(t *testing.T) {
	e := newEnv(t, subOpts, func(o *Options) { o.SubscriptionLifetime = time.Minute })
	e.create("s", 1)
	c := e.register("s", "c")
	old := e.subscribe(c.ARN, shard0, TrimHorizon, "")
	_, err := e.s.Subscribe(context.Background(), SubscribeParams{ConsumerARN: c.ARN, ShardID: shard0, Type: TrimHorizon})
	wantErr(t, err, KindInUse, "Another active subscription")

	e.clk.advance(5 * time.Second)
	sub := e.subscribe(c.ARN, shard0, TrimHorizon, "")
	if _, err := old.Next(context.Background()); err == nil {
		// The first call may still deliver its due heartbeat.
		_, err = old.Next(context.Background())
		wantErr(t, err, KindInUse, "taken over")
	} else {
		wantErr(t, err, KindInUse, "taken over")
	}

	// Expiry: the stream ends cleanly after the lifetime.
	if _, err := sub.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clk.advance(time.Minute)
	if _, err := sub.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("after the lifetime: %v, want io.EOF", err)
	}

	// A graceful stop ends subscriptions cleanly and refuses new ones.
	e.clk.advance(5 * time.Second)
	sub = e.subscribe(c.ARN, shard0, TrimHorizon, "")
	sub.Next(context.Background())
	e.s.EndSubscriptions()
	if _, err := sub.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("after EndSubscriptions: %v, want io.EOF", err)
	}
}

// A subscription whose subscriber is gone (its connection dropped) frees
// its consumer and shard at once; a live one keeps the 5-second rule.
func TestSubscribeGoneFreesAtOnce(t *testing.T) {
	e := newEnv(t, subOpts)
	e.create("s", 1)
	c := e.register("s", "c")
	var gone atomic.Bool
	old, err := e.s.Subscribe(context.Background(), SubscribeParams{ConsumerARN: c.ARN, ShardID: shard0, Type: TrimHorizon, Gone: gone.Load})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	_, err = e.s.Subscribe(context.Background(), SubscribeParams{ConsumerARN: c.ARN, ShardID: shard0, Type: TrimHorizon})
	wantErr(t, err, KindInUse, "Another active subscription")

	gone.Store(true)
	put(t, e, "s", PutEntry{PartitionKey: "k", Data: []byte("r0")})
	sub := e.subscribe(c.ARN, shard0, TrimHorizon, "") // no time has passed
	recs, _ := collect(t, sub, 1)
	if string(recs[0].Data) != "r0" {
		t.Fatalf("new subscription got %q", recs[0].Data)
	}
	// The old one ends cleanly: nobody is there to be told why.
	if _, err := old.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("the gone subscription: %v, want io.EOF", err)
	}
	// Its Close does not free the new subscription's claim.
	old.Close()
	_, err = e.s.Subscribe(context.Background(), SubscribeParams{ConsumerARN: c.ARN, ShardID: shard0, Type: TrimHorizon})
	wantErr(t, err, KindInUse, "Another active subscription")
}

func TestSubscribeDeregisterEnds(t *testing.T) {
	e := newEnv(t, subOpts)
	e.create("s", 1)
	c := e.register("s", "c")
	sub := e.subscribe(c.ARN, shard0, TrimHorizon, "")
	sub.Next(context.Background())
	if err := e.s.DeregisterConsumer(context.Background(), ConsumerRef{ARN: c.ARN}); err != nil {
		t.Fatal(err)
	}
	_, err := sub.Next(context.Background())
	wantErr(t, err, KindNotFound, "deregistered")
}

func TestSubscribeShardEnd(t *testing.T) {
	e := newEnv(t, subOpts)
	e.create("s", 1)
	c := e.register("s", "c")
	put(t, e, "s", PutEntry{PartitionKey: "a", Data: []byte("before")})
	sub := e.subscribe(c.ARN, shard0, TrimHorizon, "")
	if recs, _ := collect(t, sub, 1); string(recs[0].Data) != "before" {
		t.Fatalf("got %q", recs[0].Data)
	}
	if err := e.s.SplitShard(context.Background(), ref("s"), shard0, "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(ev.Records) != 0 {
			t.Fatalf("unexpected records %v", ev.Records)
		}
		if ev.ContinuationSequenceNumber == "" {
			if len(ev.ChildShards) != 2 || ev.ChildShards[0].ParentShards[0] != shard0 {
				t.Fatalf("shard end without its children: %+v", ev)
			}
			break
		}
	}
	if _, err := sub.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the shard end: %v, want io.EOF", err)
	}
}

func TestSubscribeRateLimit(t *testing.T) {
	// 1000 bytes per second: a 3000-byte backlog comes in several events,
	// the later ones only as the budget refills on the test clock.
	e := newEnv(t, subOpts, func(o *Options) { o.ConsumerShardBytesPerSecond = 1000 })
	e.create("s", 1)
	c := e.register("s", "c")
	for i := 0; i < 6; i++ {
		put(t, e, "s", PutEntry{PartitionKey: "k", Data: make([]byte, 499)})
	}
	sub := e.subscribe(c.ARN, shard0, TrimHorizon, "")
	ev, err := sub.Next(context.Background())
	if err != nil || len(ev.Records) != 2 {
		t.Fatalf("first event: %d records, %v; want the 2 that fit 1000 bytes", len(ev.Records), err)
	}
	got := 2
	for got < 6 {
		e.clk.advance(time.Second)
		ev, err := sub.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Records) > 2 {
			t.Fatalf("%d records after one second of budget", len(ev.Records))
		}
		got += len(ev.Records)
	}
}

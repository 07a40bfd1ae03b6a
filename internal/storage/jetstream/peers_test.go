package jetstream_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// TestClusterWideLimits runs three nodes and checks that what a node
// keeps in memory per shard holds for the cluster:
//   - a shard's write limit holds for the writes of all three nodes
//     together (each node alone would admit the full rate);
//   - a record appended through one node wakes a subscriber on another at
//     once, not at the subscription's next heartbeat;
//   - a consumer's second subscription to a shard through another node
//     within 5 seconds is refused, a later one takes over and ends the
//     first, and a closed subscription frees the shard at once.
func TestClusterWideLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	engines := openCluster(t)
	const rate = 200 // records per second per shard
	nodes := openDomains(t, engines, func(o *streams.Options) {
		o.Limits = streams.ThroughputLimits{Enabled: true, WriteRecordsPerSec: rate}
		// Far beyond the test's wait: only a prompt wake-up delivers in
		// time.
		o.SubscriptionHeartbeat = 5 * time.Minute
	})
	ctx := context.Background()
	const acct, region = "123456789012", "us-east-1"
	ref := streams.StreamRef{Account: acct, Region: region, Name: "limits"}
	if err := nodes[0].CreateStream(ctx, streams.CreateParams{Account: acct, Region: region, Name: "limits", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	t.Run("write-limit", func(t *testing.T) { writeLimit(t, nodes, ref, rate) })
	t.Run("subscriptions", func(t *testing.T) { subscriptions(t, nodes, ref) })
}

func writeLimit(t *testing.T, nodes []*streams.Streams, ref streams.StreamRef, rate int) {
	ctx := context.Background()
	const run = 6 * time.Second
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
		steady   atomic.Int64 // accepted after the first 2 s
		refused  atomic.Int64
	)
	start := time.Now()
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries := make([]streams.PutEntry, 10)
			for i := range entries {
				entries[i] = streams.PutEntry{PartitionKey: "k", Data: []byte("0123456789")}
			}
			for time.Since(start) < run {
				res, err := nodes[w].PutRecords(ctx, ref, entries)
				if err != nil {
					t.Errorf("node %d: %v", w+1, err)
					return
				}
				ok := int64(len(entries) - res.FailedCount)
				accepted.Add(ok)
				refused.Add(int64(res.FailedCount))
				if time.Since(start) >= 2*time.Second {
					steady.Add(ok)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	// The shard's bucket starts full: one second of rate on top.
	allowed := float64(rate) * (elapsed + 1)
	got := float64(accepted.Load())
	t.Logf("three nodes: %d records accepted in %.1f s (%.0f/s after the first 2 s; limit %d/s), %d refused",
		accepted.Load(), elapsed, float64(steady.Load())/(elapsed-2), rate, refused.Load())
	if got > 1.2*allowed {
		t.Fatalf("%d records accepted in %.1f s: the limit of %d/s allows %.0f; the nodes do not share it", accepted.Load(), elapsed, rate, allowed)
	}
	// Writers that met the limit (some refused) had it all: a node that
	// counted another's takes twice, or its own, would admit far less.
	if refused.Load() > 0 && got < 0.5*float64(rate)*elapsed {
		t.Fatalf("%d records accepted, %d refused in %.1f s: far below the limit %d/s", accepted.Load(), refused.Load(), elapsed, rate)
	}
}

func subscriptions(t *testing.T, nodes []*streams.Streams, ref streams.StreamRef) {
	ctx := context.Background()
	st, err := nodes[0].Describe(ref)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nodes[0].RegisterConsumer(ctx, streams.RegisterConsumerParams{StreamARN: st.ARN, Name: "efo"})
	if err != nil {
		t.Fatal(err)
	}
	// The other nodes learn of the consumer within a catalog sync.
	for i, n := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := n.DescribeConsumer(streams.ConsumerRef{ARN: c.ARN})
			if err == nil && info.Status == streams.StatusActive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: consumer %+v, %v", i+1, info, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	shard := st.Shards[0].ID()
	params := streams.SubscribeParams{ConsumerARN: c.ARN, ShardID: shard, Type: streams.Latest}
	sub, err := nodes[1].Subscribe(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[2].Subscribe(ctx, params); !inUse(err) {
		t.Fatalf("a second subscription through another node at once: %v; want ResourceInUse", err)
	}

	// An append through node 3 reaches the subscriber on node 2.
	first, err := sub.Next(ctx) // the first event, at once
	if err != nil || len(first.Records) != 0 {
		t.Fatalf("first event: %+v %v", first, err)
	}
	var got *streams.SubscribeEvent
	done := make(chan error, 1)
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	go func() {
		for {
			ev, err := sub.Next(nctx)
			if err != nil || len(ev.Records) > 0 {
				got = ev
				done <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // the subscriber is waiting
	sent := time.Now()
	if _, _, err := nodes[2].PutRecord(ctx, ref, streams.PutEntry{PartitionKey: "k", Data: []byte("cross-node")}, ""); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the subscriber on node 2 got no event for a record appended through node 3: %v", err)
	}
	if string(got.Records[0].Data) != "cross-node" {
		t.Fatalf("event %+v", got)
	}
	t.Logf("a record appended through node 3 reached the subscriber on node 2 after %v (heartbeat 5 min)", time.Since(sent).Round(time.Millisecond))

	// After 5 s a subscription through node 3 takes over; node 2's ends.
	time.Sleep(5*time.Second + 100*time.Millisecond)
	sub3, err := nodes[2].Subscribe(ctx, params)
	if err != nil {
		t.Fatalf("a subscription through another node after 5 s: %v; want it to take over", err)
	}
	ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
	defer ecancel()
	for {
		_, err := sub.Next(ectx)
		if err == nil {
			continue
		}
		if !inUse(err) {
			t.Fatalf("the subscription taken over ends with %v; want ResourceInUse", err)
		}
		break
	}
	sub.Close()
	// Closing frees the shard at once for any node.
	sub3.Close()
	sub1, err := nodes[0].Subscribe(ctx, params)
	if err != nil {
		t.Fatalf("subscribing after the holder closed: %v", err)
	}
	sub1.Close()
}

func inUse(err error) bool {
	var de *streams.Error
	return errors.As(err, &de) && de.Kind == streams.KindInUse
}

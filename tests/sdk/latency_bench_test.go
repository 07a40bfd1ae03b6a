package sdk_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestPushLatency measures how long a record takes from its PutRecord
// acknowledgement to its arrival on SubscribeToShard event streams (h2c):
// 200 records/s on one shard with one subscriber, then 200 records/s over
// 4 shards with 5 consumers on each shard. It is a measurement, not a test:
// it only runs with MILLRACE_LATENCY_BENCH=1 and reports p50/p99/max
// (MILLRACE_LATENCY_RECORDS sets the records per scenario, default 2000).
//
//	MILLRACE_LATENCY_BENCH=1 go test ./tests/sdk -run TestPushLatency -v
//
// A record can arrive before its acknowledgement (the push and the PutRecord
// response race); it then counts as 0.
func TestPushLatency(t *testing.T) {
	if os.Getenv("MILLRACE_LATENCY_BENCH") != "1" {
		t.Skip("a measurement: set MILLRACE_LATENCY_BENCH=1 to run it")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("MILLRACE_LATENCY_RECORDS")); err == nil && v > 0 {
		n = v
	}
	t.Run("1shard-1consumer", func(t *testing.T) { pushLatency(t, n, 1, 1) })
	t.Run("4shards-5consumers", func(t *testing.T) { pushLatency(t, n, 4, 5) })
}

func pushLatency(t *testing.T, n, shards, consumers int) {
	srv, c, pool := startEFO(t)
	var h2c transport
	for _, tr := range transports {
		if tr.name == "h2c" {
			h2c = tr
		}
	}
	stream := fmt.Sprintf("latency-%d-%d", shards, consumers)
	createStream(t, c, stream, int32(shards))
	// Records go to the shards in turn, by explicit hash keys inside each
	// shard's range (the ranges split the key space evenly).
	keys := make([]string, shards)
	step := new(big.Int).Div(new(big.Int).Add(maxHashKey, big.NewInt(1)), big.NewInt(int64(shards)))
	for i := range keys {
		keys[i] = new(big.Int).Mul(step, big.NewInt(int64(i))).String()
	}

	recv := make([][]time.Time, consumers) // [consumer][record]
	var wg sync.WaitGroup
	for ci := range consumers {
		recv[ci] = make([]time.Time, n)
		arn := registerConsumer(t, c, stream, fmt.Sprintf("c%d", ci))
		client, _ := h2c.client(t, srv, pool)
		for si := range shards {
			sub := subscribe(t, client, arn, shardID(si), types.StartingPosition{Type: types.ShardIteratorTypeLatest})
			sub.next() // subscribed: LATEST is fixed from here on
			want := n / shards
			if si < n%shards {
				want++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for got := 0; got < want; {
					select {
					case ev, ok := <-sub.stream.Events():
						if !ok {
							t.Errorf("consumer %d shard %d: stream ended after %d of %d records: %v", ci, si, got, want, sub.stream.Err())
							return
						}
						now := time.Now()
						e := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
						for _, r := range e.Value.Records {
							i, err := strconv.Atoi(string(r.Data))
							if err != nil || i < 0 || i >= n {
								t.Errorf("unexpected record %q", r.Data)
								return
							}
							recv[ci][i] = now
							got++
						}
					case <-time.After(30 * time.Second):
						t.Errorf("consumer %d shard %d: nothing for 30 s after %d of %d records", ci, si, got, want)
						return
					}
				}
			}()
		}
	}

	// 200 records/s, paced from the start so that a slow call does not
	// lower the rate for the rest.
	const interval = 5 * time.Millisecond
	sent, acked := make([]time.Time, n), make([]time.Time, n)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		sent[i] = time.Now()
		_, err := c.PutRecord(context.Background(), &kinesis.PutRecordInput{
			StreamName: aws.String(stream), PartitionKey: aws.String("pk"),
			ExplicitHashKey: aws.String(keys[i%shards]), Data: []byte(strconv.Itoa(i)),
		})
		if err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
		acked[i] = time.Now()
	}
	elapsed := time.Since(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	lat := make([]time.Duration, 0, n*consumers)   // acknowledgement to receipt
	total := make([]time.Duration, 0, n*consumers) // PutRecord call to receipt
	early := 0
	for ci := range consumers {
		for i := range n {
			d := recv[ci][i].Sub(acked[i])
			if d < 0 {
				early++
				d = 0
			}
			lat = append(lat, d)
			total = append(total, recv[ci][i].Sub(sent[i]))
		}
	}
	slices.Sort(lat)
	slices.Sort(total)
	pct := func(l []time.Duration, p float64) time.Duration {
		return l[min(len(l)-1, int(p*float64(len(l))))].Round(10 * time.Microsecond)
	}
	t.Logf("%d records at %.0f/s over %d shard(s), %d consumer(s), %d deliveries (%d before the ack)",
		n, float64(n)/elapsed.Seconds(), shards, consumers, len(lat), early)
	t.Logf("  ack to receipt:  p50 %s, p99 %s, max %s", pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1))
	t.Logf("  call to receipt: p50 %s, p99 %s, max %s", pct(total, 0.50), pct(total, 0.99), pct(total, 1))
}

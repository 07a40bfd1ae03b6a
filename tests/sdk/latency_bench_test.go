package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/server/servertest"
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

// TestResubscribeLatencyHTTP1 measures push latency the way a plain Go consumer
// sees it: aws-sdk-go-v2 with its default HTTP client over HTTP/1.1 (an
// http:// endpoint, no BufferedBodies), one shard, 200 records/s, and a
// consumer that subscribes again at once whenever its event stream fails
// or ends (or the call fails), after the last continuation sequence
// number. That client can lose a subscription's connection just after the
// initial response (docs/tls.md). Each run is a fresh stream and consumer
// on one server with default subscription timings; it reports p50/p99/max
// (ack to receipt) and how often the consumer had to subscribe again.
//
//	MILLRACE_LATENCY_BENCH=1 MILLRACE_LATENCY_RUNS=20 go test ./tests/sdk -run TestResubscribeLatencyHTTP1 -v
//
// MILLRACE_LATENCY_RUNS sets the runs (default 1), MILLRACE_LATENCY_RECORDS
// the records per run (default 2000, 10 s). MILLRACE_LATENCY_DROP=1s closes
// the consumer's connections that often (a network that drops them, rather
// than waiting for the client's race); MILLRACE_LATENCY_INUSE_WAIT=5s makes
// the consumer wait that long after a ResourceInUseException before it
// subscribes again, as one that follows the 5-second rule does.
func TestResubscribeLatencyHTTP1(t *testing.T) {
	if os.Getenv("MILLRACE_LATENCY_BENCH") != "1" {
		t.Skip("a measurement: set MILLRACE_LATENCY_BENCH=1 to run it")
	}
	n, runs := 2000, 1
	if v, err := strconv.Atoi(os.Getenv("MILLRACE_LATENCY_RECORDS")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("MILLRACE_LATENCY_RUNS")); err == nil && v > 0 {
		runs = v
	}
	var cfg resubscribeConfig
	if v, err := time.ParseDuration(os.Getenv("MILLRACE_LATENCY_DROP")); err == nil && v > 0 {
		cfg.drop = v
	}
	if v, err := time.ParseDuration(os.Getenv("MILLRACE_LATENCY_INUSE_WAIT")); err == nil && v > 0 {
		cfg.inUseWait = v
	}
	srv := servertest.Start(t)
	opts := kinesis.Options{
		Region:       servertest.Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
	}
	c := kinesis.New(opts) // the SDK's default HTTP client and retries
	var worst time.Duration
	for run := range runs {
		stream := fmt.Sprintf("latency-http1-%d", run)
		createStream(t, c, stream, 1)
		arn := registerConsumer(t, c, stream, "app")
		r := resubscribingLatency(t, c, opts, cfg, stream, arn, n)
		if t.Failed() {
			return
		}
		t.Logf("run %2d: ack to receipt p50 %s, p99 %s, max %s; %d subscriptions, %d refused (in use), %d failed calls, %d streams failed (%s)",
			run+1, r.p50, r.p99, r.max, r.subscribed, r.refused, r.callErrors, r.failed, r.firstErr)
		worst = max(worst, r.p99)
	}
	t.Logf("worst p99 over %d runs: %s", runs, worst)
}

type resubscribeConfig struct {
	drop      time.Duration // close the consumer's connections this often (0: never)
	inUseWait time.Duration // wait after a ResourceInUseException (0: none)
}

type resubscribeResult struct {
	p50, p99, max                           time.Duration
	subscribed, refused, callErrors, failed int
	firstErr                                string
}

func resubscribingLatency(t *testing.T, c *kinesis.Client, opts kinesis.Options, cfg resubscribeConfig, stream, arn string, n int) resubscribeResult {
	var res resubscribeResult
	recv := make([]time.Time, n)
	subscribed := make(chan struct{})
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(n)*5*time.Millisecond+time.Minute)
	defer cancel()
	// The SDK's default HTTP client, whose connections can be dropped.
	dialer := &connDialer{}
	opts.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.DialContext = dialer.DialContext })
	if cfg.drop > 0 {
		go func() {
			tick := time.NewTicker(cfg.drop)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					dialer.drop()
				case <-done:
					return
				}
			}
		}()
	}
	go func() {
		defer close(done)
		pos := types.StartingPosition{Type: types.ShardIteratorTypeLatest}
		got := 0
		for got < n && ctx.Err() == nil {
			// A client per subscription: smithy-go shares one decode buffer
			// among a client's event streams (see ownClient).
			out, err := kinesis.New(opts).SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
				ConsumerARN: aws.String(arn), ShardId: aws.String(shardID(0)), StartingPosition: &pos,
			})
			if err != nil {
				var inUse *types.ResourceInUseException
				if errors.As(err, &inUse) {
					res.refused++
					time.Sleep(cfg.inUseWait)
				} else if res.callErrors++; res.firstErr == "" {
					res.firstErr = err.Error()
				}
				continue
			}
			if res.subscribed++; res.subscribed == 1 {
				close(subscribed) // LATEST is fixed from here on
			}
			es := out.GetStream()
			for ev := range es.Events() {
				now := time.Now()
				e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
				if !ok {
					continue
				}
				for _, r := range e.Value.Records {
					i, err := strconv.Atoi(string(r.Data))
					if err != nil || i < 0 || i >= n {
						t.Errorf("unexpected record %q", r.Data)
						return
					}
					if recv[i].IsZero() {
						recv[i] = now
						got++
					}
				}
				if cont := e.Value.ContinuationSequenceNumber; cont != nil {
					pos = types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: cont}
				}
				if got == n {
					break
				}
			}
			if err := es.Err(); err != nil {
				if res.failed++; res.firstErr == "" {
					res.firstErr = err.Error()
				}
			}
			es.Close()
		}
	}()
	select {
	case <-subscribed:
	case <-done:
		t.Fatal("the consumer never subscribed")
	}

	// 200 records/s, paced from the start.
	const interval = 5 * time.Millisecond
	acked := make([]time.Time, n)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName: aws.String(stream), PartitionKey: aws.String("pk"), Data: []byte(strconv.Itoa(i)),
		})
		if err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
		acked[i] = time.Now()
	}
	<-done
	if t.Failed() {
		return res
	}
	lat := make([]time.Duration, n)
	for i := range n {
		if recv[i].IsZero() {
			t.Fatalf("record %d never arrived", i)
		}
		lat[i] = max(0, recv[i].Sub(acked[i]))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(n-1, int(p*float64(n)))].Round(10 * time.Microsecond) }
	res.p50, res.p99, res.max = pct(0.50), pct(0.99), pct(1)
	return res
}

package producer_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/producer"
)

var measureLimits = flag.Duration("limits.measure", 0, "run TestShardLimitsMeasurement: each case saturates a 4-shard stream for this long (10s or more) and prints the throttled share and the share of the shard limits held")

// TestShardLimitsMeasurement measures how well the producer keeps to the
// shard limits of a server enforcing AWS's defaults (1 MiB/s and 1,000
// records/s per shard): the share of Kinesis records the server refused,
// and the share of the limits the producer held once saturated. It runs
// only with -limits.measure; it prints figures and asserts no timing:
//
//	go test ./producer -run TestShardLimitsMeasurement -limits.measure 20s -v
//
// Each case feeds 1,000 partition keys spread evenly over the 4 shards (250
// keys each, so that no shard waits for another's backlog) with default
// producer options, keeping about two seconds of the stream's limit
// buffered, for the given time; then it closes the producer. The throttled
// share counts every attempt from the first Put to the end of Close; the
// held share counts the Kinesis records and bytes written from the third
// second to the end of the feeding (the first seconds spend the shards'
// initial burst).
func TestShardLimitsMeasurement(t *testing.T) {
	d := *measureLimits
	if d == 0 {
		t.Skip("a measurement: run with -limits.measure 20s -v")
	}
	const warmup = 2 * time.Second
	if d < warmup+5*time.Second {
		t.Fatalf("-limits.measure %v: give at least %v", d, warmup+5*time.Second)
	}
	const shards = 4
	cases := []struct {
		size int
		agg  bool
	}{{100, true}, {100, false}, {1024, true}, {1024, false}}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("size=%d/aggregation=%v", tc.size, tc.agg), func(t *testing.T) {
			srv := servertest.Start(t, func(c *config.Config) { c.ThroughputLimits = "on" })
			c := srv.Kinesis()
			stream := fmt.Sprintf("limits-%d", i)
			createStream(t, c, stream, shards)
			keys := balancedKeys(t, c, stream, 250)
			p, err := producer.New(srv.Kinesis(), stream, producer.Options{DisableAggregation: !tc.agg})
			if err != nil {
				t.Fatal(err)
			}
			// The stream's records/s at its binding limit, for the backlog.
			kinesisSize := tc.size + len("key-000")
			perSec := shards * (1 << 20) / kinesisSize
			if !tc.agg {
				perSec = min(perSec, shards*1000)
			}
			backlog := int64(2 * perSec)
			ctx := context.Background()
			data := make([]byte, tc.size)
			start := time.Now()
			var at0 producer.Stats
			var t0 time.Time
			for n := 0; time.Since(start) < d; n++ {
				if t0.IsZero() && time.Since(start) >= warmup {
					at0, t0 = p.Stats(), time.Now()
				}
				if n%64 == 0 {
					for p.Stats().BufferedRecords > backlog {
						time.Sleep(2 * time.Millisecond)
					}
				}
				if _, err := p.Put(ctx, keys[n%len(keys)], data); err != nil {
					t.Fatal(err)
				}
			}
			at1, t1 := p.Stats(), time.Now()
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			if st.UserRecordsFailed != 0 || st.UserRecordsPut != st.UserRecordsReceived {
				t.Fatalf("records failed: %+v", st)
			}
			secs := t1.Sub(t0).Seconds()
			bytesShare := float64(at1.BytesPut-at0.BytesPut) / secs / (shards << 20)
			recsShare := float64(at1.KinesisRecordsPut-at0.KinesisRecordsPut) / secs / (shards * 1000)
			fmt.Printf("%d B, aggregation %-5v: throttled %d of %d Kinesis records sent (%.3f%%); held %.1f%% of the byte limit, %.1f%% of the record limit; %.0f user records/s, %.1f PutRecords calls/s per shard\n",
				tc.size, tc.agg, st.Throttles, st.KinesisRecordsSent, 100*float64(st.Throttles)/float64(st.KinesisRecordsSent),
				100*bytesShare, 100*recsShare, float64(at1.UserRecordsPut-at0.UserRecordsPut)/secs,
				float64(at1.Requests-at0.Requests)/secs/shards)
		})
	}
}

// balancedKeys returns perShard partition keys for each of the stream's
// shards, interleaved shard by shard.
func balancedKeys(t *testing.T, c *kinesis.Client, stream string, perShard int) []string {
	t.Helper()
	out, err := c.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	byShard := make([][]string, len(out.Shards))
	for i, full := 0, 0; full < len(byShard); i++ {
		k := fmt.Sprintf("key-%03d", i)
		hk, err := aggregation.EffectiveHashKey(k, "")
		if err != nil {
			t.Fatal(err)
		}
		for s, sh := range out.Shards {
			rng, err := aggregation.ParseHashRange(*sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey)
			if err != nil {
				t.Fatal(err)
			}
			if rng.Contains(hk) && len(byShard[s]) < perShard {
				byShard[s] = append(byShard[s], k)
				if len(byShard[s]) == perShard {
					full++
				}
			}
		}
	}
	var keys []string
	for i := 0; i < perShard; i++ {
		for _, ks := range byShard {
			keys = append(keys, ks[i])
		}
	}
	return keys
}

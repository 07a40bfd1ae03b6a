// Command producer writes records to a Kinesis stream with the producer
// package (KPL aggregation on), then reads every shard back, deaggregates
// and checks that each record arrived once with its partition key and
// data. It works against Millrace or AWS, within the shards' limits:
//
//	millrace serve &
//	go run ./examples/producer -endpoint http://127.0.0.1:4567 -records 1000000
//
// It prints how much of the shards' write limit (1 MiB/s each) the producer
// held and the share of its Kinesis records the stream throttled. The
// read-back reads all shards at once, each within its read limits (5
// GetRecords calls and 2 MiB a second), backing off when the stream still
// answers ProvisionedThroughputExceededException. A long-running
// application would read with the consumer package instead, which also
// shares shards among workers and checkpoints.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/producer"
)

func main() {
	endpoint := flag.String("endpoint", "", "Kinesis endpoint URL (empty: AWS)")
	region := flag.String("region", "us-east-1", "region")
	stream := flag.String("stream", fmt.Sprintf("producer-example-%d", time.Now().Unix()), "stream to create and write")
	shards := flag.Int("shards", 4, "shards of the new stream")
	n := flag.Int("records", 100000, "records to write")
	size := flag.Int("size", 100, "bytes per record")
	noAgg := flag.Bool("no-aggregation", false, "put each record as its own Kinesis record")
	noLimit := flag.Bool("no-rate-limit", false, "do not keep to the per-shard write limits")
	flag.Parse()
	ctx := context.Background()

	opts := kinesis.Options{Region: *region}
	if *endpoint != "" {
		opts.BaseEndpoint = aws.String(*endpoint)
		opts.Credentials = credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")
	}
	client := kinesis.New(opts)
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: stream, ShardCount: aws.Int32(int32(*shards))}); err != nil {
		log.Fatal(err)
	}
	w := kinesis.NewStreamExistsWaiter(client)
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: stream}, 5*time.Minute); err != nil {
		log.Fatal(err)
	}

	p, err := producer.New(client, *stream, producer.Options{DisableAggregation: *noAgg, DisableRateLimit: *noLimit})
	if err != nil {
		log.Fatal(err)
	}
	var failed atomic.Int64
	var mu sync.Mutex
	perShard := map[string]int{} // user records written per shard
	start := time.Now()
	for i := 0; i < *n; i++ {
		data := make([]byte, *size)
		binary.BigEndian.PutUint64(data, uint64(i))
		err := p.PutCallback(ctx, aggregation.Record{PartitionKey: fmt.Sprintf("pk-%d", i%1000), Data: data}, func(r producer.Result) {
			if r.Err != nil {
				failed.Add(1) // callbacks of different calls run concurrently
				log.Printf("record failed: %v", r.Err)
				return
			}
			mu.Lock()
			perShard[r.ShardID]++
			mu.Unlock()
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	st := p.Stats()
	fmt.Printf("wrote %d records of %d bytes in %v: %.0f records/s, %.1f MB/s; %d Kinesis records in %d PutRecords calls, %d retries, %d failed\n",
		st.UserRecordsPut, *size, elapsed.Round(time.Millisecond), float64(st.UserRecordsPut)/elapsed.Seconds(),
		float64(st.UserRecordsPut)*float64(*size)/elapsed.Seconds()/1e6, st.KinesisRecordsPut, st.Requests, st.Retries, st.UserRecordsFailed)
	// Kinesis counts a shard's writes in bytes of data and partition key
	// (an aggregate is one record of its whole size) and in records.
	limit := float64(*shards) * (1 << 20) * elapsed.Seconds()
	fmt.Printf("throttled %d of %d Kinesis records sent (%.2f%%); wrote %.1f%% of the %d shards' 1 MiB/s and %.1f%% of their 1,000 records/s\n",
		st.Throttles, st.KinesisRecordsSent, 100*float64(st.Throttles)/float64(max(st.KinesisRecordsSent, 1)),
		100*float64(st.BytesPut)/limit, *shards, 100*float64(st.KinesisRecordsPut)/(float64(*shards)*1000*elapsed.Seconds()))
	// The partition keys do not spread evenly, and the stream writes as
	// fast as its busiest shard.
	busiest := 0
	for _, c := range perShard {
		busiest = max(busiest, c)
	}
	share := float64(busiest) / float64(max(st.UserRecordsPut, 1))
	fmt.Printf("the busiest shard took %.1f%% of the records: it wrote about %.1f%% of its 1 MiB/s\n",
		100*share, 100*float64(st.BytesPut)*share/((1<<20)*elapsed.Seconds()))

	// Read every shard back, all at once.
	start = time.Now()
	ls, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: stream})
	if err != nil {
		log.Fatal(err)
	}
	got := make([][]uint64, len(ls.Shards))
	var throttles atomic.Int64
	var wg sync.WaitGroup
	for si, s := range ls.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng, err := aggregation.ParseHashRange(*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey)
			if err != nil {
				log.Fatal(err)
			}
			err = readShard(ctx, client, stream, s.ShardId, &throttles, func(recs []types.Record) {
				for _, u := range aggregation.DeaggregateInRange(recs, rng, aggregation.DropOutside) {
					i := binary.BigEndian.Uint64(u.Data)
					if i >= uint64(*n) || len(u.Data) != *size || u.PartitionKey != fmt.Sprintf("pk-%d", i%1000) {
						log.Fatalf("unexpected record %d (pk %q, %d bytes)", i, u.PartitionKey, len(u.Data))
					}
					got[si] = append(got[si], i)
				}
			})
			if err != nil {
				log.Fatal(err)
			}
		}()
	}
	wg.Wait()
	seen := make([]uint8, *n)
	total := 0
	for _, ids := range got {
		for _, i := range ids {
			seen[i]++
			total++
		}
	}
	missing, dup := 0, 0
	for _, c := range seen {
		switch {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	fmt.Printf("read back %d user records in %v (%d GetRecords throttled and retried): %d missing, %d duplicated, %d failed\n",
		total, time.Since(start).Round(time.Millisecond), throttles.Load(), missing, dup, failed.Load())
	if missing > 0 || dup > 0 || failed.Load() > 0 {
		log.Fatal("read-back check failed")
	}
}

// Per-shard read limits.
const (
	readCallsPerSec = 5
	readBytesPerSec = 2 << 20
)

// readShard reads a shard from TRIM_HORIZON to its tip and hands each
// GetRecords response to process. It keeps to the shard's read limits: after
// a response it waits a fifth of a second, or as long as the shard takes to
// deliver that many bytes at 2 MiB/s, whichever is longer. Another reader of
// the shard can still make the stream refuse a call: then it waits, twice
// as long each time up to 5 s with jitter, and calls again with the same
// iterator.
func readShard(ctx context.Context, c *kinesis.Client, stream, shard *string, throttles *atomic.Int64, process func([]types.Record)) error {
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: stream, ShardId: shard, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return err
	}
	iter := it.ShardIterator
	backoff := time.Duration(0)
	for iter != nil {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "ProvisionedThroughputExceededException" || ae.ErrorCode() == "LimitExceededException") {
			throttles.Add(1)
			backoff = min(max(2*backoff, 200*time.Millisecond), 5*time.Second)
			time.Sleep(backoff/2 + rand.N(backoff/2))
			continue
		}
		if err != nil {
			return fmt.Errorf("GetRecords on %s: %w", *shard, err)
		}
		backoff = 0
		process(out.Records)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil // at the tip
		}
		bytes := 0
		for _, r := range out.Records {
			bytes += len(r.Data)
		}
		time.Sleep(max(time.Second/readCallsPerSec, time.Duration(float64(bytes)/readBytesPerSec*float64(time.Second))))
		iter = out.NextShardIterator
	}
	return nil
}

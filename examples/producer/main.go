// Command producer writes records to a Kinesis stream with the producer
// package (KPL aggregation on), then reads every shard back, deaggregates
// and checks that each record arrived once with its partition key and
// data. It works against Millrace or AWS:
//
//	millrace serve &
//	go run ./examples/producer -endpoint http://127.0.0.1:4567 -records 1000000
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

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
	failed := 0
	start := time.Now()
	for i := 0; i < *n; i++ {
		data := make([]byte, *size)
		binary.BigEndian.PutUint64(data, uint64(i))
		err := p.PutCallback(ctx, aggregation.Record{PartitionKey: fmt.Sprintf("pk-%d", i%1000), Data: data}, func(r producer.Result) {
			if r.Err != nil {
				failed++ // callbacks run one at a time per request
				log.Printf("record failed: %v", r.Err)
			}
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

	// Read everything back.
	start = time.Now()
	seen := make([]uint8, *n)
	total := 0
	ls, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: stream})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range ls.Shards {
		rng, err := aggregation.ParseHashRange(*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey)
		if err != nil {
			log.Fatal(err)
		}
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: stream, ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			log.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				log.Fatal(err)
			}
			for _, u := range aggregation.DeaggregateInRange(out.Records, rng, aggregation.DropOutside) {
				i := binary.BigEndian.Uint64(u.Data)
				if i >= uint64(*n) || len(u.Data) != *size || u.PartitionKey != fmt.Sprintf("pk-%d", i%1000) {
					log.Fatalf("unexpected record %d (pk %q, %d bytes)", i, u.PartitionKey, len(u.Data))
				}
				seen[i]++
				total++
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
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
	fmt.Printf("read back %d user records in %v: %d missing, %d duplicated, %d failed\n", total, time.Since(start).Round(time.Millisecond), missing, dup, failed)
	if missing > 0 || dup > 0 || failed > 0 {
		log.Fatal("read-back check failed")
	}
}

package producer_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/producer"
)

// listShards returns every shard of stream, open and closed, sorted by
// shard id: a shard's id is greater than its parents', so this order reads
// parents before children.
func listShards(t testing.TB, c *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := c.ListShards(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	sort.Slice(shards, func(i, j int) bool { return *shards[i].ShardId < *shards[j].ShardId })
	return shards
}

func openShards(t testing.TB, c *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	var open []types.Shard
	for _, s := range listShards(t, c, stream) {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	sort.Slice(open, func(i, j int) bool {
		a, _ := new(big.Int).SetString(*open[i].HashKeyRange.StartingHashKey, 10)
		b, _ := new(big.Int).SetString(*open[j].HashKeyRange.StartingHashKey, 10)
		return a.Cmp(b) < 0
	})
	return open
}

// readInLineage reads every shard to its end (a closed shard) or to the
// tip (an open one), parents before children, and deaggregates with
// filter. Concatenated in that order, the records of one partition key are
// in the order they were written.
func readInLineage(t testing.TB, c *kinesis.Client, stream string, filter aggregation.RangeFilter) []aggregation.UserRecord {
	t.Helper()
	ctx := context.Background()
	var all []aggregation.UserRecord
	for _, s := range listShards(t, c, stream) {
		rng, err := aggregation.ParseHashRange(*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey)
		if err != nil {
			t.Fatal(err)
		}
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, aggregation.DeaggregateInRange(out.Records, rng, filter)...)
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return all
}

// checkExactlyOnce asserts that, for every key below keys, records
// 0..perKey[key]-1 were read exactly once, and with ordered, in order.
func checkExactlyOnce(t *testing.T, recs []aggregation.UserRecord, perKey []int, ordered bool) {
	t.Helper()
	seen := map[[2]uint32]int{}
	next := make([]uint32, len(perKey))
	for _, u := range recs {
		k, s := binary.BigEndian.Uint32(u.Data), binary.BigEndian.Uint32(u.Data[4:])
		if int(k) >= len(perKey) || u.PartitionKey != fmt.Sprintf("key-%d", k) {
			t.Fatalf("record %d/%d with partition key %q is not one of ours", k, s, u.PartitionKey)
		}
		if seen[[2]uint32{k, s}]++; seen[[2]uint32{k, s}] > 1 {
			t.Fatalf("record %d/%d read twice (sequence number %s/%d)", k, s, u.SequenceNumber, u.SubSequenceNumber)
		}
		if ordered {
			if s != next[k] {
				t.Fatalf("key %d: read record %d where %d was due (out of order)", k, s, next[k])
			}
			next[k] = s + 1
		}
	}
	total := 0
	for k, n := range perKey {
		total += n
		for s := 0; s < n; s++ {
			if seen[[2]uint32{uint32(k), uint32(s)}] != 1 {
				t.Fatalf("record %d/%d never read", k, s)
			}
		}
	}
	if len(seen) != total {
		t.Fatalf("read %d distinct records, want %d", len(seen), total)
	}
}

// writer puts records round-robin over keys until stop is closed, then
// finishes the round, so every key gets the same count.
type writer struct {
	p     *producer.Producer
	keys  int
	size  int
	futs  []*producer.Future
	count int // records per key
	err   error
}

func (w *writer) run(stop <-chan struct{}) {
	ctx := context.Background()
	for s := 0; ; s++ {
		select {
		case <-stop:
			w.count = s
			return
		default:
		}
		for k := 0; k < w.keys; k++ {
			f, err := w.p.Put(ctx, fmt.Sprintf("key-%d", k), payload(k, s, w.size))
			if err != nil {
				w.err, w.count = err, s
				return
			}
			w.futs = append(w.futs, f)
		}
	}
}

// readRetries lets the test's own reads retry a response the client could
// not read (the server, under concurrent load, sometimes ends a keep-alive
// connection mid-response); reads are idempotent.
func readRetries(o *kinesis.Options) { o.RetryMaxAttempts = 5 }

func waitActive(t testing.TB, c *kinesis.Client, stream string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		out, err := c.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("stream did not become ACTIVE")
}

// reshardSteps splits, merges and rescales stream, letting the producer
// write between steps.
func reshardSteps(t *testing.T, c *kinesis.Client, stream string, pause time.Duration) {
	ctx := context.Background()
	steps := []struct {
		name string
		do   func() error
	}{
		{"split the first shard", func() error {
			s := openShards(t, c, stream)[0]
			lo, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
			hi, _ := new(big.Int).SetString(*s.HashKeyRange.EndingHashKey, 10)
			mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
			_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: s.ShardId, NewStartingHashKey: aws.String(mid.String())})
			return err
		}},
		{"merge the first two shards", func() error {
			open := openShards(t, c, stream)
			_, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(stream), ShardToMerge: open[0].ShardId, AdjacentShardToMerge: open[1].ShardId})
			return err
		}},
		{"scale to 4 shards", func() error {
			_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(stream), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
			return err
		}},
		{"scale to 3 shards", func() error {
			_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(stream), TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling})
			return err
		}},
	}
	for _, st := range steps {
		time.Sleep(pause)
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		waitActive(t, c, stream)
	}
	time.Sleep(pause)
}

// TestReshardingDuringRun writes continuously, with PreserveOrder, while
// the stream is split, merged and rescaled, then reads every shard,
// parents before children: each record is read once, in order per key,
// by a consumer that filters aggregates as the producer was told.
func TestReshardingDuringRun(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis(readRetries)
	cases := []struct {
		name   string
		agg    bool
		filter aggregation.RangeFilter
	}{
		{"aggregation=off", false, aggregation.DropOutside},
		{"aggregation=on", true, aggregation.DropOutside},
		{"aggregation=on/KCL", true, aggregation.DropAggregate},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("reshard-%d", i)
			createStream(t, c, stream, 2)
			// The producer, the resharding and the reader each have
			// their own client and connections.
			p, err := producer.New(srv.Kinesis(), stream, producer.Options{
				DisableAggregation: !tc.agg, ConsumerRangeFilter: tc.filter, PreserveOrder: true,
				AggregationMaxSize: 4096, RecordMaxBufferedTime: 2 * time.Millisecond,
				// Back-pressure paces the writer to what the stream takes.
				MaxBufferedBytes: 128 << 10, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 20 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			w := &writer{p: p, keys: 40, size: 64}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); w.run(stop) }()
			reshardSteps(t, c, stream, 100*time.Millisecond)
			close(stop)
			wg.Wait()
			if w.err != nil {
				t.Fatal(w.err)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			for j, f := range w.futs {
				if r := f.Result(); r.Err != nil {
					t.Fatalf("record %d: %v", j, r.Err)
				}
			}
			perKey := make([]int, w.keys)
			for k := range perKey {
				perKey[k] = w.count
			}
			checkExactlyOnce(t, readInLineage(t, srv.Kinesis(readRetries), stream, tc.filter), perKey, true)
			st := p.Stats()
			t.Logf("%d records per key over %d keys; %+v", w.count, w.keys, st)
			if st.ShardMapRefreshes < 2 {
				t.Fatalf("the producer never reloaded its shard map: %+v", st)
			}
			if n := len(openShards(t, c, stream)); n != 3 {
				t.Fatalf("%d open shards at the end, want 3", n)
			}
		})
	}
}

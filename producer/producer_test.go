package producer_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/producer"
)

func createStream(t testing.TB, c *kinesis.Client, name string, shards int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("stream did not become ACTIVE")
}

// readAll reads every shard (open and closed) from TRIM_HORIZON and
// deaggregates, dropping sub-records outside each shard's range.
func readAll(t testing.TB, c *kinesis.Client, stream string) map[string][]aggregation.UserRecord {
	t.Helper()
	ctx := context.Background()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	got := map[string][]aggregation.UserRecord{}
	for _, s := range shards {
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
			got[*s.ShardId] = append(got[*s.ShardId], aggregation.DeaggregateInRange(out.Records, rng, aggregation.DropOutside)...)
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return got
}

// record data: key index (4 bytes) | sequence within the key (4 bytes) | padding
func payload(key, seq, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint32(b, uint32(key))
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	return b
}

// checkComplete asserts every (key, seq) for seq < perKey was read exactly
// once, and, with ordered, in order per key within the stream.
func checkComplete(t *testing.T, got map[string][]aggregation.UserRecord, keys, perKey int, ordered bool) {
	t.Helper()
	seen := map[[2]uint32]int{}
	next := map[uint32]uint32{}
	for _, recs := range got {
		for _, u := range recs {
			k, s := binary.BigEndian.Uint32(u.Data), binary.BigEndian.Uint32(u.Data[4:])
			if want := fmt.Sprintf("key-%d", k); u.PartitionKey != want {
				t.Fatalf("record %d/%d has partition key %q, want %q", k, s, u.PartitionKey, want)
			}
			seen[[2]uint32{k, s}]++
			if ordered && !resharded(got) {
				if s != next[k] {
					t.Fatalf("key %d: read seq %d, want %d (out of order)", k, s, next[k])
				}
				next[k] = s + 1
			}
		}
	}
	for k := 0; k < keys; k++ {
		for s := 0; s < perKey; s++ {
			if n := seen[[2]uint32{uint32(k), uint32(s)}]; n != 1 {
				t.Fatalf("record %d/%d read %d times, want once", k, s, n)
			}
		}
	}
	if len(seen) != keys*perKey {
		t.Fatalf("read %d distinct records, want %d", len(seen), keys*perKey)
	}
}

func resharded(got map[string][]aggregation.UserRecord) bool { return false }

func putAll(t *testing.T, p *producer.Producer, keys, perKey, size int) []*producer.Future {
	t.Helper()
	var futs []*producer.Future
	ctx := context.Background()
	for s := 0; s < perKey; s++ {
		for k := 0; k < keys; k++ {
			f, err := p.Put(ctx, fmt.Sprintf("key-%d", k), payload(k, s, size))
			if err != nil {
				t.Fatal(err)
			}
			futs = append(futs, f)
		}
	}
	return futs
}

func checkResults(t *testing.T, futs []*producer.Future, aggregated bool) {
	t.Helper()
	sawAgg := false
	for i, f := range futs {
		r := f.Result()
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
		if r.ShardID == "" || r.SequenceNumber == "" || r.Attempts < 1 {
			t.Fatalf("record %d: result %+v", i, r)
		}
		sawAgg = sawAgg || r.Aggregated
	}
	if sawAgg != aggregated {
		t.Fatalf("aggregated results: %v, want %v", sawAgg, aggregated)
	}
}

func TestPutAndReadBack(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprintf("aggregation=%v", agg), func(t *testing.T) {
			stream := fmt.Sprintf("s-%v", agg)
			createStream(t, c, stream, 4)
			p, err := producer.New(c, stream, producer.Options{DisableAggregation: !agg, RecordMaxBufferedTime: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			futs := putAll(t, p, 20, 100, 100)
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkResults(t, futs, agg)
			checkComplete(t, readAll(t, c, stream), 20, 100, false)
			st := p.Stats()
			if st.UserRecordsPut != 2000 || st.BufferedBytes != 0 || st.BufferedRecords != 0 {
				t.Fatalf("stats %+v", st)
			}
			if agg && st.KinesisRecordsPut >= 2000/10 {
				t.Fatalf("aggregation wrote %d Kinesis records for 2000 user records: %+v", st.KinesisRecordsPut, st)
			}
			if !agg && st.KinesisRecordsPut != 2000 {
				t.Fatalf("wrote %d Kinesis records, want 2000", st.KinesisRecordsPut)
			}
		})
	}
}

// faultyClient fails whole requests and the tail of others before they
// reach the server, so no record is written twice.
type faultyClient struct {
	producer.Client
	n atomic.Int64
}

func (f *faultyClient) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	n := f.n.Add(1)
	switch n % 4 {
	case 1:
		return nil, errors.New("injected: connection reset")
	case 2:
		if len(in.Records) > 1 {
			// Send the first half; report the rest throttled (a suffix, as
			// Kinesis throttles).
			half := len(in.Records) / 2
			sub := *in
			sub.Records = in.Records[:half]
			out, err := f.Client.PutRecords(ctx, &sub, opts...)
			if err != nil {
				return nil, err
			}
			for range in.Records[half:] {
				out.Records = append(out.Records, types.PutRecordsResultEntry{
					ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("injected")})
				out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			}
			return out, nil
		}
	}
	return f.Client.PutRecords(ctx, in, opts...)
}

func TestRetriesNoLossNoDuplicatesInOrder(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprintf("aggregation=%v", agg), func(t *testing.T) {
			stream := fmt.Sprintf("f-%v", agg)
			createStream(t, c, stream, 3)
			fc := &faultyClient{Client: c}
			p, err := producer.New(fc, stream, producer.Options{
				DisableAggregation: !agg, PreserveOrder: true, CollectionMaxCount: 20, AggregationMaxSize: 2000,
				RecordMaxBufferedTime: 5 * time.Millisecond, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			futs := putAll(t, p, 10, 60, 50)
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkResults(t, futs, agg)
			checkComplete(t, readAll(t, c, stream), 10, 60, true)
			st := p.Stats()
			if st.Retries == 0 || st.RequestErrors == 0 {
				t.Fatalf("no retries seen: %+v", st)
			}
			if st.UserRecordsFailed != 0 {
				t.Fatalf("%d records failed", st.UserRecordsFailed)
			}
		})
	}
}

// stalledClient never answers PutRecords until its context ends.
type stalledClient struct{ producer.Client }

func (stalledClient) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestMemoryBoundStalledEndpoint(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	createStream(t, c, "stall", 2)
	const limit = 64 << 10
	p, err := producer.New(stalledClient{c}, "stall", producer.Options{MaxBufferedBytes: limit, RecordMaxBufferedTime: time.Millisecond, RecordTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1000)
	accepted := 0
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := p.Put(ctx, fmt.Sprint(i), data)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
		if accepted > 2*limit/1000 {
			t.Fatalf("Put accepted %d records of 1000 bytes with a %d-byte buffer", accepted, limit)
		}
	}
	st := p.Stats()
	if st.BufferedBytes > limit || st.PutBlocked == 0 {
		t.Fatalf("stats %+v", st)
	}
	fp, err := producer.New(stalledClient{c}, "stall", producer.Options{MaxBufferedBytes: 2000, FailWhenFull: true})
	if err != nil {
		t.Fatal(err)
	}
	fp.Put(context.Background(), "a", data)
	fp.Put(context.Background(), "b", data)
	if _, err := fp.Put(context.Background(), "c", data); !errors.Is(err, producer.ErrBufferFull) {
		t.Fatalf("FailWhenFull: %v", err)
	}
	// Close gives up when its context ends; the records fail with ErrClosed.
	for _, pr := range []*producer.Producer{p, fp} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		if err := pr.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close on a stalled endpoint: %v", err)
		}
		cancel()
		if st := pr.Stats(); st.BufferedRecords != 0 {
			t.Fatalf("after Close: %+v", st)
		}
	}
}

func TestExpiry(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	createStream(t, c, "ttl", 1)
	p, err := producer.New(stalledClient{c}, "ttl", producer.Options{RecordTTL: 100 * time.Millisecond, RecordMaxBufferedTime: time.Millisecond, RequestTimeout: 30 * time.Millisecond, RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	f, err := p.Put(context.Background(), "k", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Result()
	if !errors.Is(r.Err, producer.ErrExpired) || r.Attempts < 1 {
		t.Fatalf("result %+v, want ErrExpired after attempts", r)
	}
	t.Log(r.Err)
}

func TestFlushAndCallback(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	createStream(t, c, "flush", 2)
	p, err := producer.New(c, "flush", producer.Options{RecordMaxBufferedTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var mu sync.Mutex
	var results []producer.Result
	for i := 0; i < 10; i++ {
		err := p.PutCallback(context.Background(), aggregation.Record{PartitionKey: "k", Data: []byte{byte(i)}}, func(r producer.Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) != 10 {
		t.Fatalf("%d callbacks after Flush, want 10", len(results))
	}
	for i, r := range results {
		if r.Err != nil || r.SubSequenceNumber != int64(i) || !r.Aggregated {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
}

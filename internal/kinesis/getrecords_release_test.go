package kinesis

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/sdkhttp"
	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/streams"
)

// releaseTestData is the data of the i-th record: its length and bytes
// tell it from every other record.
func releaseTestData(i int) []byte {
	b := make([]byte, 300+i*37%1700)
	for j := range b {
		b[j] = byte(i*13 + j*7)
	}
	return b
}

// TestGetRecordsReleaseAfterWrite reads four shards at once through
// aws-sdk-go-v2, two readers each, on a server whose GetRecords calls
// hand their memory back after writing their responses and share a
// budget of two leases, so that every lease is reused by another call
// moments after it is released. Every record's bytes are checked: a
// buffer taken back while its response was still being written would
// show as records with another call's bytes (and, under -race, as a
// data race).
func TestGetRecordsReleaseAfterWrite(t *testing.T) {
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s, err := streams.New(context.Background(), streams.Options{Log: eng, Catalog: eng, ReadBufferBudget: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := awsproto.NewRouter(awsproto.RouterOptions{MaxBodyBytes: 8 << 20, DefaultRegion: "us-east-1", DefaultAccountID: "000000000000"})
	New(s, nil).Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	kc := awskinesis.New(awskinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "secret", ""),
		// Plain bodies: without them the SDK may send a PutRecords again
		// that the server had applied, and its records appear twice.
		HTTPClient: sdkhttp.PlainBodies(srv.Client()),
	})
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String("r"), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}

	const n = 4000
	byShard := map[string][]int{}
	for start := 0; start < n; start += 500 {
		in := &awskinesis.PutRecordsInput{StreamName: aws.String("r")}
		for i := start; i < start+500; i++ {
			in.Records = append(in.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("key-%d", i)), Data: releaseTestData(i)})
		}
		out, err := kc.PutRecords(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for k, rec := range out.Records {
			if rec.ShardId == nil {
				t.Fatalf("record %d not put: %s", start+k, aws.ToString(rec.ErrorMessage))
			}
			byShard[*rec.ShardId] = append(byShard[*rec.ShardId], start+k)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for shard, want := range byShard {
		// Limits of 10,000 make responses written in pieces; limits of 50
		// responses written in one write.
		for _, limit := range []int32{10000, 50} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := readBackSDK(ctx, kc, shard, limit, want); err != nil {
					errs <- fmt.Errorf("%s, limit %d: %w", shard, limit, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func readBackSDK(ctx context.Context, kc *awskinesis.Client, shard string, limit int32, want []int) error {
	it, err := kc.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{
		StreamName: aws.String("r"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return err
	}
	iter, next := it.ShardIterator, 0
	for next < len(want) {
		out, err := kc.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(limit)})
		if err != nil {
			return err
		}
		for _, rec := range out.Records {
			if next >= len(want) {
				return fmt.Errorf("a record past the %d put", len(want))
			}
			i := want[next]
			if aws.ToString(rec.PartitionKey) != fmt.Sprintf("key-%d", i) || !bytes.Equal(rec.Data, releaseTestData(i)) {
				return fmt.Errorf("record %d of the shard (put as %d): key %q and %d bytes of data that differ from what was put",
					next, i, aws.ToString(rec.PartitionKey), len(rec.Data))
			}
			next++
		}
		iter = out.NextShardIterator
	}
	return nil
}

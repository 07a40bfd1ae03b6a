package crash_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newFirehoseClient(url string) *fh.Client {
	return fh.New(fh.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  &http.Client{Transport: servertest.BufferedBodies{Transport: http.DefaultTransport.(*http.Transport).Clone()}},
	})
}

const deliveryStream = "crash-hose"

// TestFirehoseKilledMidBuffer kills the server with SIGKILL while Direct
// PUT writers fill a delivery stream's buffer (a 900-second interval, so
// most acknowledged records are still buffered), three times, then
// restarts it, lowers the interval to zero and checks that every
// acknowledged record reached S3. Duplicates are allowed (at least once)
// and counted.
func TestFirehoseKilledMidBuffer(t *testing.T) {
	if testing.Short() {
		t.Skip("kills server processes")
	}
	killMidBuffer(t, false)
}

// TestFirehosePartitionsKilledMidBuffer is TestFirehoseKilledMidBuffer
// with dynamic partitioning: the records spread over five partitions,
// which fill and are delivered at once, so the kills land while several
// partitions' deliveries are in flight.
func TestFirehosePartitionsKilledMidBuffer(t *testing.T) {
	if testing.Short() {
		t.Skip("kills server processes")
	}
	killMidBuffer(t, true)
}

func killMidBuffer(t *testing.T, dynamic bool) {
	s3srv := s3test.Start(t)
	bucket := s3srv.Bucket(t, "crash")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	acked := map[string]bool{}
	var mu sync.Mutex
	for round := range rounds {
		child, url := startServer(t, dir)
		c := newFirehoseClient(url)
		ctx := context.Background()
		if round == 0 {
			dest := &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/r"),
				BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(900)},
				ProcessingConfiguration: &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true),
					Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}},
			}
			if dynamic {
				dest.Prefix = aws.String("k=!{partitionKeyFromQuery:k}/")
				dest.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
				dest.DynamicPartitioningConfiguration = &fhtypes.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)}
				dest.ProcessingConfiguration.Processors = append([]fhtypes.Processor{{Type: fhtypes.ProcessorTypeMetadataExtraction,
					Parameters: []fhtypes.ProcessorParameter{
						{ParameterName: fhtypes.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String("{k: .k}")},
						{ParameterName: fhtypes.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")}}}},
					dest.ProcessingConfiguration.Processors...)
			}
			_, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(deliveryStream),
				ExtendedS3DestinationConfiguration: dest})
			if err != nil {
				t.Fatal(err)
			}
			waitHoseActive(t, c)
		}
		var wg sync.WaitGroup
		writes, stop := make(chan struct{}, 1), make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					recs := make([]fhtypes.Record, 100)
					for i := range recs {
						recs[i].Data = []byte(fmt.Sprintf("r%d-w%d-%d-%d-%s", round, w, n, i, strings.Repeat("x", 150)))
						if dynamic {
							recs[i].Data = []byte(fmt.Sprintf(`{"k":"p%d","id":%q}`, (n+i)%5, recs[i].Data))
						}
					}
					out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(deliveryStream), Records: recs})
					if err != nil {
						return
					}
					mu.Lock()
					for i, r := range out.RequestResponses {
						if r.ErrorCode == nil {
							acked[string(recs[i].Data)] = true
						}
					}
					mu.Unlock()
					select {
					case writes <- struct{}{}:
					default:
					}
				}
			}()
		}
		select {
		case <-writes:
		case <-time.After(30 * time.Second):
			t.Fatal("no write acknowledged within 30 s")
		}
		time.Sleep(time.Duration(50+rng.IntN(1500)) * time.Millisecond)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()
		close(stop)
		wg.Wait()
		keys, _ := s3srv.Keys(ctx, bucket, "")
		t.Logf("round %d: killed with %d records acknowledged, %d objects in S3", round, len(acked), len(keys))
	}

	child, url := startServer(t, dir)
	defer child.Process.Kill()
	c := newFirehoseClient(url)
	ctx := context.Background()
	d := waitHoseActive(t, c)
	if _, err := c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String(deliveryStream),
		CurrentDeliveryStreamVersionId: d.VersionId, DestinationId: d.Destinations[0].DestinationId,
		ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{
			BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		seen := map[string]int{}
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			body, err := s3srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
				seen[line]++
			}
		}
		missing, dups := 0, 0
		for r := range acked {
			if seen[r] == 0 {
				missing++
			}
		}
		for _, n := range seen {
			dups += n - 1
		}
		if missing == 0 {
			t.Logf("%d acknowledged records, all delivered in %d objects; %d distinct records in S3 (unacknowledged ones included), %d duplicate deliveries",
				len(acked), len(keys), len(seen), dups)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged records never reached S3", missing, len(acked))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitHoseActive(t *testing.T, c *fh.Client) *fhtypes.DeliveryStreamDescription {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeDeliveryStream(context.Background(), &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(deliveryStream)})
		if err == nil && out.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			return out.DeliveryStreamDescription
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery stream not ACTIVE: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

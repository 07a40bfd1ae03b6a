package crash_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// The application counts records per page in two-second ROWTIME windows.
const crashCountSQL = `CREATE OR REPLACE STREAM "DEST" (page VARCHAR(8), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM "page", UNIX_MILLIS(STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '2' SECOND)), COUNT(*)
FROM "SOURCE_SQL_STREAM_001" GROUP BY "page", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '2' SECOND);`

func newAnalyticsClient(url string) *kda.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return kda.New(kda.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: servertest.BufferedBodies{Transport: tr}},
	})
}

func readStream(t *testing.T, c *kinesis.Client, name string) []types.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			res, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Records...)
			if len(res.Records) == 0 || res.NextShardIterator == nil {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// windowCounts reads the output stream: count per page and window, and
// the windows written more than once.
func windowCounts(t *testing.T, recs []types.Record) (map[string]int, []string) {
	got := map[string]int{}
	var dups []string
	for _, r := range recs {
		var row struct {
			Page string
			WS   int64
			N    int
		}
		if err := json.Unmarshal(r.Data, &row); err != nil {
			t.Fatalf("output record %s: %v", r.Data, err)
		}
		k := fmt.Sprintf("%s@%d", row.Page, row.WS)
		if _, dup := got[k]; dup {
			dups = append(dups, k)
		}
		got[k] = row.N
	}
	return got, dups
}

// TestAnalyticsKilledMidWindow runs a tumbling count per key inside the
// server, kills the server with SIGKILL in the middle of a window while
// records are written (twice), restarts it on the same data, and checks
// that the output stream holds each window's count once, equal to the
// counts computed offline from the records in the input stream.
func TestAnalyticsKilledMidWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("kills server processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	ctx := context.Background()

	child, url := startServer(t, dir)
	kc, ac := newClient(url), newAnalyticsClient(url)
	for name, n := range map[string]int32{"clicks": 2, "counts": 1} {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	arn := func(name string) *string { return aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/" + name) }
	jsonType, page, pageType := kdatypes.RecordFormatTypeJson, "page", "VARCHAR(8)"
	_, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{
		ApplicationName: aws.String("counts"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10,
		ServiceExecutionRole: aws.String("arn:aws:iam::000000000000:role/analytics"),
		ApplicationConfiguration: &kdatypes.ApplicationConfiguration{
			ApplicationCodeConfiguration: &kdatypes.ApplicationCodeConfiguration{CodeContentType: kdatypes.CodeContentTypePlaintext,
				CodeContent: &kdatypes.CodeContent{TextContent: aws.String(crashCountSQL)}},
			SqlApplicationConfiguration: &kdatypes.SqlApplicationConfiguration{
				Inputs: []kdatypes.Input{{NamePrefix: aws.String("SOURCE_SQL_STREAM"),
					KinesisStreamsInput: &kdatypes.KinesisStreamsInput{ResourceARN: arn("clicks")},
					InputSchema: &kdatypes.SourceSchema{
						RecordFormat: &kdatypes.RecordFormat{RecordFormatType: jsonType, MappingParameters: &kdatypes.MappingParameters{
							JSONMappingParameters: &kdatypes.JSONMappingParameters{RecordRowPath: aws.String("$")}}},
						RecordColumns: []kdatypes.RecordColumn{{Name: &page, Mapping: aws.String("$.page"), SqlType: &pageType}}}}},
				Outputs: []kdatypes.Output{{Name: aws.String("DEST"), DestinationSchema: &kdatypes.DestinationSchema{RecordFormatType: jsonType},
					KinesisStreamsOutput: &kdatypes.KinesisStreamsOutput{ResourceARN: arn("counts")}}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.StartApplication(ctx, &kda.StartApplicationInput{ApplicationName: aws.String("counts"),
		RunConfiguration: &kdatypes.RunConfiguration{SqlRunConfigurations: []kdatypes.SqlRunConfiguration{{InputId: aws.String("1.1"),
			InputStartingPositionConfiguration: &kdatypes.InputStartingPositionConfiguration{InputStartingPosition: kdatypes.InputStartingPositionTrimHorizon}}}}}); err != nil {
		t.Fatal(err)
	}

	outputs := 0
	for round := range 2 {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var entries []types.PutRecordsRequestEntry
				for j := range 10 {
					entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i, j)),
						Data: []byte(fmt.Sprintf(`{"page":"p%d"}`, (i+j)%5))})
				}
				if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("clicks"), Records: entries}); err != nil {
					return // the server is gone
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		// Kill once the application has written a window more, at a
		// random point within the next window.
		deadline := time.Now().Add(60 * time.Second)
		for len(readStream(t, kc, "counts")) <= outputs {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no new window result within 60 s", round)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
		outputs = len(readStream(t, kc, "counts"))
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()
		close(stop)
		<-done
		t.Logf("round %d: server killed with %d window results written", round, outputs)
		child, url = startServer(t, dir)
		kc = newClient(url)
	}

	// No more writes: every window closes; the output must match.
	want := map[string]int{}
	for _, r := range readStream(t, kc, "clicks") {
		var row struct{ Page string }
		if err := json.Unmarshal(r.Data, &row); err != nil {
			t.Fatal(err)
		}
		ms := r.ApproximateArrivalTimestamp.UnixMilli()
		want[fmt.Sprintf("%s@%d", row.Page, ms-ms%2000)]++
	}
	deadline := time.Now().Add(90 * time.Second)
	var got map[string]int
	var dups []string
	for {
		got, dups = windowCounts(t, readStream(t, kc, "counts"))
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(dups) > 0 {
		t.Errorf("windows written more than once: %v", dups)
	}
	if len(got) != len(want) {
		t.Errorf("%d window results, want %d", len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("window %s: count %d, want %d", k, got[k], n)
		}
	}
	t.Logf("%d records, %d window results, each once", len(readStream(t, kc, "clicks")), len(got))
}

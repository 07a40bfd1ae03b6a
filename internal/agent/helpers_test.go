package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/server/servertest"
)

// newStream starts a server and creates a stream of shards shards on it.
func newStream(t testing.TB, name string, shards int32) (*servertest.Server, *kinesis.Client) {
	t.Helper()
	srv := servertest.Start(t)
	c := srv.Kinesis()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return srv, c
		}
		if i > 500 {
			t.Fatal("stream did not become ACTIVE")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agentJSON returns an agent.json for srv with flows (each a map of flow
// keys) and the checkpoint in dir.
func agentJSON(t testing.TB, srv *servertest.Server, dir string, flows ...map[string]any) []byte {
	t.Helper()
	cfg := map[string]any{
		"kinesis.endpoint":   srv.URL,
		"kinesis.region":     servertest.Region,
		"awsAccessKeyId":     servertest.AccessKeyID,
		"awsSecretAccessKey": servertest.SecretAccessKey,
		"checkpointFile":     filepath.Join(dir, "checkpoints"),
		"flows":              flows,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startAgent runs an agent in the test process until the returned stop is
// called (stop waits for it to end).
func startAgent(t testing.TB, srv *servertest.Server, cfgJSON []byte, opts Options) (*Agent, func()) {
	t.Helper()
	cfg, err := ParseConfig(cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	opts.HTTPClient = srv.HTTPClient()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}
	t.Cleanup(stop)
	return a, stop
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// readStream returns the user records of every shard, in order per shard.
func readStream(t testing.TB, c *kinesis.Client, stream string) [][]aggregation.UserRecord {
	t.Helper()
	ctx := context.Background()
	out, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var all [][]aggregation.UserRecord
	for _, s := range out.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		var recs []aggregation.UserRecord
		iter := it.ShardIterator
		for iter != nil {
			r, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, aggregation.Deaggregate(r.Records)...)
			iter = r.NextShardIterator
			if len(r.Records) == 0 && aws.ToInt64(r.MillisBehindLatest) == 0 {
				break
			}
		}
		all = append(all, recs)
	}
	return all
}

// waitFor polls cond every 20 ms until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func lines(from, to int) string {
	var s []byte
	for i := from; i < to; i++ {
		s = fmt.Appendf(s, "line %06d\n", i)
	}
	return string(s)
}

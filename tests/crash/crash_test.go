// Package crash kills a whole Millrace server with SIGKILL while clients
// write to it through aws-sdk-go-v2, restarts it on the same data
// directory, and checks that every record the server acknowledged is there
// with the sequence number and data it was acknowledged with.
//
// The server runs in a child process: this test binary re-executed with
// MILLRACE_CRASH_SERVER_DIR set, which serves that directory until killed.
package crash_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
)

const (
	envServerDir = "MILLRACE_CRASH_SERVER_DIR"
	envSeed      = "MILLRACE_CRASH_SEED"
	stream       = "crash"
	shards       = 4
	rounds       = 3
	writers      = 6
)

// TestMain turns the binary into a server when the parent asks for one.
func TestMain(m *testing.M) {
	if dir := os.Getenv(envServerDir); dir != "" {
		os.Exit(serve(dir))
	}
	os.Exit(m.Run())
}

// serve runs a server on dir, prints its URL on stdout, and runs until it
// is killed.
func serve(dir string) int {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.CreateDelay, cfg.DeleteDelay, cfg.UpdateDelay = 0, 0, 0
	cfg.ThroughputLimits = "off"
	cfg.FirehoseS3Endpoint = os.Getenv(s3test.EnvEndpoint)
	cfg.FirehoseS3AccessKeyID, cfg.FirehoseS3SecretAccessKey = envOr(s3test.EnvAccessKeyID, "S3RVER"), envOr(s3test.EnvSecretAccessKey, "S3RVER")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.Start(context.Background(), cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash server:", err)
		return 2
	}
	fmt.Printf("URL %s\n", srv.URL())
	// Should the parent vanish, do not serve forever.
	time.Sleep(2 * time.Minute)
	return 3
}

// ack is one acknowledged record.
type ack struct {
	shard, seq string
	data       []byte
}

func TestServerKilledDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("kills server processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set %s to repeat)", seed, envSeed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()

	var acked []ack
	for round := range rounds {
		child, url := startServer(t, dir)
		client := newClient(url)
		ctx := context.Background()
		if round == 0 {
			if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(shards)}); err != nil {
				t.Fatal(err)
			}
			waitActive(t, client)
		} else {
			// Everything acknowledged before the earlier kills is back.
			verify(t, client, acked, round)
		}

		// Writers run until the server dies under them.
		var mu sync.Mutex
		var wg sync.WaitGroup
		var writes, stop = make(chan struct{}, 1), make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := write(client, round, w, seed, stop, writes)
				mu.Lock()
				acked = append(acked, got...)
				mu.Unlock()
			}()
		}
		// Kill after the first acknowledgement and a random while more.
		select {
		case <-writes:
		case <-time.After(30 * time.Second):
			t.Fatal("no write acknowledged within 30 s")
		}
		time.Sleep(time.Duration(50+rng.IntN(700)) * time.Millisecond)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()
		close(stop)
		wg.Wait()
		t.Logf("round %d: server killed; %d records acknowledged so far", round, len(acked))
	}

	child, url := startServer(t, dir)
	defer child.Process.Kill()
	verify(t, newClient(url), acked, rounds)
}

// write puts records until a call fails (the server is gone) or stop is
// closed, and returns the acknowledged ones. Each record's data names its
// round, writer and number, so that a stray or duplicated record is found.
func write(client *kinesis.Client, round, w int, seed uint64, stop <-chan struct{}, writes chan<- struct{}) []ack {
	rng := rand.New(rand.NewPCG(seed, uint64(round*writers+w+2)))
	var out []ack
	n := 0
	record := func() ([]byte, string) {
		d := make([]byte, 12+rng.IntN(2000))
		binary.BigEndian.PutUint32(d, uint32(round))
		binary.BigEndian.PutUint32(d[4:], uint32(w))
		binary.BigEndian.PutUint32(d[8:], uint32(n))
		for i := 12; i < len(d); i++ {
			d[i] = byte(rng.Uint32())
		}
		n++
		return d, strconv.Itoa(rng.IntN(1 << 20))
	}
	for {
		select {
		case <-stop:
			return out
		default:
		}
		before := len(out)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if w == 0 {
			// One writer uses PutRecord, the others PutRecords.
			d, pk := record()
			res, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: d, PartitionKey: aws.String(pk)})
			cancel()
			if err != nil {
				return out
			}
			out = append(out, ack{shard: aws.ToString(res.ShardId), seq: aws.ToString(res.SequenceNumber), data: d})
		} else {
			entries := make([]types.PutRecordsRequestEntry, 1+rng.IntN(200))
			for i := range entries {
				d, pk := record()
				entries[i] = types.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String(pk)}
			}
			res, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			cancel()
			if err != nil {
				return out
			}
			for i, r := range res.Records {
				if r.ErrorCode == nil {
					out = append(out, ack{shard: aws.ToString(r.ShardId), seq: aws.ToString(r.SequenceNumber), data: entries[i].Data})
				}
			}
		}
		if len(out) > before {
			select {
			case writes <- struct{}{}:
			default:
			}
		}
	}
}

// verify reads every shard and checks each acknowledged record is stored
// once, at its sequence number on its shard, with its data; and that no
// record appears twice.
func verify(t *testing.T, client *kinesis.Client, acked []ack, round int) {
	t.Helper()
	ctx := context.Background()
	stored := map[string]map[string][]byte{} // shard -> seq -> data
	ids := map[string]bool{}
	total := 0
	for i := range shards {
		shard := fmt.Sprintf("shardId-%012d", i)
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("after restart %d: GetShardIterator %s: %v", round, shard, err)
		}
		m := map[string][]byte{}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("after restart %d: GetRecords %s: %v", round, shard, err)
			}
			for _, r := range out.Records {
				id := string(r.Data[:12])
				if ids[id] {
					t.Fatalf("after restart %d: record %x stored twice", round, r.Data[:12])
				}
				ids[id] = true
				m[aws.ToString(r.SequenceNumber)] = r.Data
			}
			total += len(out.Records)
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
		stored[shard] = m
	}
	for _, a := range acked {
		d, ok := stored[a.shard][a.seq]
		if !ok {
			t.Fatalf("after restart %d: acknowledged record %x (%s, %s) is missing", round, a.data[:12], a.shard, a.seq)
		}
		if !bytes.Equal(d, a.data) {
			t.Fatalf("after restart %d: record at %s %s differs from what was acknowledged", round, a.shard, a.seq)
		}
	}
	t.Logf("after restart %d: all %d acknowledged records present (%d stored, the rest written but not acknowledged before the kill)", round, len(acked), total)
}

// startServer starts the child server on dir and returns it with its URL.
func startServer(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServerDir+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
				lines <- url
				return
			}
		}
		close(lines)
	}()
	select {
	case url, ok := <-lines:
		if !ok {
			t.Fatal("the server exited before serving")
		}
		return cmd, url
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start within 30 s")
	}
	return nil, ""
}

// newClient is an SDK client without retries (an acknowledgement is exactly
// what the server answered) over the in-memory request bodies servertest
// uses.
func newClient(url string) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return kinesis.New(kinesis.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: servertest.BufferedBodies{Transport: tr}},
	})
}

func waitActive(t *testing.T, client *kinesis.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := client.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream not ACTIVE within 30 s (last error: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

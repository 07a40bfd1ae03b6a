package lambda_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
)

// envCrashServerDir turns the test binary into a server of that data
// directory (see TestMain), for the test that kills it.
const envCrashServerDir = "MILLRACE_ESM_CRASH_SERVER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashServerDir); dir != "" {
		os.Exit(crashServer(dir))
	}
	os.Exit(m.Run())
}

// crashServer serves dir, prints its URL and runs until it is killed.
func crashServer(dir string) int {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.CreateDelay, cfg.DeleteDelay, cfg.UpdateDelay = 0, 0, 0
	cfg.ThroughputLimits = "off"
	// The function writes its log where the test reads it.
	cfg.LambdaSandbox = "off"
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := server.Start(context.Background(), cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash server:", err)
		return 2
	}
	fmt.Printf("URL %s\n", srv.URL())
	// Should the parent vanish, do not serve forever.
	time.Sleep(3 * time.Minute)
	return 3
}

// TestEventSourceMappingResumesAfterKill kills the server with SIGKILL
// while a mapping delivers and records are written, three times, and
// checks after the last restart that every acknowledged record reached
// the function: checkpoints are durable and nothing is skipped.
func TestEventSourceMappingResumesAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills server processes")
	}
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "log")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var acked []string
	const rounds = 3
	for round := range rounds {
		child, url := startCrashServer(t, dir)
		k, c := crashClients(url)
		if round == 0 {
			arn := createStream(t, k, "crash", 2)
			esmFunction(t, c, "consumer", logPath, nil)
			if _, err := c.CreateEventSourceMapping(context.Background(), &lambda.CreateEventSourceMappingInput{
				FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
				StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(25),
			}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var entries []ktypes.PutRecordsRequestEntry
				for i := range 20 {
					entries = append(entries, ktypes.PutRecordsRequestEntry{
						PartitionKey: aws.String(strconv.Itoa(rand.IntN(1000))),
						Data:         []byte(fmt.Sprintf("r%d-%d-%d", round, n, i)),
					})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				out, err := k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("crash"), Records: entries})
				cancel()
				if err != nil {
					return
				}
				mu.Lock()
				for i, r := range out.Records {
					if r.ErrorCode == nil {
						acked = append(acked, string(entries[i].Data))
					}
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
		// Kill once this round's records are being delivered, a random
		// while later.
		prefix := fmt.Sprintf("r%d-", round)
		eventually(t, "deliveries in round "+strconv.Itoa(round), func() bool {
			for _, l := range readLog(t, logPath) {
				if strings.HasPrefix(l.data, prefix) {
					return true
				}
			}
			return false
		})
		time.Sleep(time.Duration(50+rng.IntN(500)) * time.Millisecond)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()
		close(stop)
		wg.Wait()
		t.Logf("round %d: killed with %d records acknowledged, %d deliveries logged", round, len(acked), len(readLog(t, logPath)))
	}

	startCrashServer(t, dir)
	missing := func() []string {
		got := map[string]bool{}
		for _, l := range readLog(t, logPath) {
			got[l.data] = true
		}
		var out []string
		for _, a := range acked {
			if !got[a] {
				out = append(out, a)
			}
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m := missing(); len(m) > 0 {
		t.Fatalf("%d of %d acknowledged records never reached the function, e.g. %v", len(m), len(acked), m[:min(len(m), 5)])
	}
	// Only what was in flight at each kill comes again: at most one read
	// (BatchSize records) per shard per kill. Without durable checkpoints
	// every restart would start over from TRIM_HORIZON.
	seen, again := map[string]bool{}, 0
	for _, l := range readLog(t, logPath) {
		if seen[l.data] {
			again++
		}
		seen[l.data] = true
	}
	if again > rounds*2*25 {
		t.Errorf("%d records delivered again after %d kills, want at most %d", again, rounds, rounds*2*25)
	}
	t.Logf("all %d acknowledged records delivered (%d deliveries: the rest are redeliveries after the kills)", len(acked), len(readLog(t, logPath)))
}

// startCrashServer starts the test binary as a server of dir.
func startCrashServer(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashServerDir+"="+dir)
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
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
				urls <- url
				return
			}
		}
		close(urls)
	}()
	select {
	case url, ok := <-urls:
		if !ok {
			t.Fatal("the server exited before serving")
		}
		return cmd, url
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start within 30 s")
	}
	return nil, ""
}

func crashClients(url string) (*kinesis.Client, *lambda.Client) {
	hc := &http.Client{Transport: servertest.BufferedBodies{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	creds := credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, "")
	k := kinesis.New(kinesis.Options{Region: servertest.Region, BaseEndpoint: aws.String(url), Credentials: creds,
		RetryMaxAttempts: 1, HTTPClient: hc})
	c := lambda.New(lambda.Options{Region: servertest.Region, BaseEndpoint: aws.String(url), Credentials: creds,
		RetryMaxAttempts: 1, HTTPClient: hc})
	return k, c
}

package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
)

// noLeaks checks, when the test ends and after its servers stopped, that
// no goroutine it started is left behind.
func noLeaks(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, current,
			// Keep-alive connections of the test's clients, not the server's.
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		)
	})
}

func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHealth(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)

	resp, body := get(t, http.MethodGet, s.URL+"/health")
	if resp.StatusCode != http.StatusOK || body != "{\"status\":\"ok\"}\n" {
		t.Fatalf("GET /health = %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /health Content-Type = %q", ct)
	}

	resp, body = get(t, http.MethodHead, s.URL+"/health")
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("HEAD /health = %d %q", resp.StatusCode, body)
	}

	// A POST to /health is an AWS request like any other: without an
	// X-Amz-Target it gets an AWS error, not the health answer.
	resp, err := http.Post(s.URL+"/health", "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("POST /health = %d %q, want an AWS error", resp.StatusCode, b)
	}
}

func TestCreateAndListThroughSDK(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)
	ctx := context.Background()
	client := s.Kinesis()

	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String("orders"),
		ShardCount: aws.Int32(2),
	}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	waiter := kinesis.NewStreamExistsWaiter(client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := waiter.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("orders")}, 30*time.Second); err != nil {
		t.Fatalf("waiting for ACTIVE: %v", err)
	}
	list, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatalf("ListStreams: %v", err)
	}
	if len(list.StreamNames) != 1 || list.StreamNames[0] != "orders" {
		t.Fatalf("ListStreams names = %q, want [orders]", list.StreamNames)
	}

	// A stream stored on disk is still there after a graceful restart.
	s.Restart(t)
	out, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatalf("DescribeStreamSummary after restart: %v", err)
	}
	if got := aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount); got != 2 {
		t.Fatalf("open shards after restart = %d, want 2", got)
	}
	if out.StreamDescriptionSummary.StreamStatus != types.StreamStatusActive {
		t.Fatalf("status after restart = %s, want ACTIVE", out.StreamDescriptionSummary.StreamStatus)
	}

	_, err = client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("missing")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("DescribeStreamSummary(missing) = %v, want ResourceNotFoundException", err)
	}
}

func TestInMemory(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t, func(c *config.Config) { c.InMemory = true; c.DataDir = "" })
	ctx := context.Background()
	client := s.Kinesis()
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("m"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	list, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.StreamNames) != 0 {
		t.Fatalf("in-memory streams survived a restart: %q", list.StreamNames)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	return cfg
}

func startErr(t *testing.T, cfg config.Config, want ...string) {
	t.Helper()
	s, err := server.Start(context.Background(), cfg, quiet())
	if err == nil {
		s.Close(context.Background())
		t.Fatalf("Start succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Start error %q does not contain %q", err, w)
		}
	}
}

func TestStartErrors(t *testing.T) {
	t.Run("port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := testConfig(t)
		cfg.Listen = ln.Addr().String()
		startErr(t, cfg, "already in use", "--listen")
	})
	t.Run("metrics port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := testConfig(t)
		cfg.MetricsListen = ln.Addr().String()
		startErr(t, cfg, "already in use", "--metrics-listen", "MILLRACE_METRICS_LISTEN")
	})
	t.Run("data dir in use", func(t *testing.T) {
		cfg := testConfig(t)
		first, err := server.Start(context.Background(), cfg, quiet())
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close(context.Background())
		startErr(t, cfg, "in use by another millrace process", "--data-dir")
	})
	t.Run("data dir is a file", func(t *testing.T) {
		cfg := testConfig(t)
		file := filepath.Join(cfg.DataDir, "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.DataDir = filepath.Join(file, "data")
		startErr(t, cfg, "not a directory", "--data-dir")
	})
	t.Run("data dir not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		cfg := testConfig(t)
		if err := os.Chmod(cfg.DataDir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(cfg.DataDir, 0o700)
		startErr(t, cfg, "not writable", "--data-dir")
	})
	t.Run("invalid config", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.AccountID = "42"
		startErr(t, cfg, `account-id: "42" must be exactly 12 digits`)
	})
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	noLeaks(t)
	cfg := testConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil))) }()

	// Wait for the start line; it carries the endpoint.
	var endpoint string
	for endpoint == "" {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			if i := strings.Index(line, "endpoint="); i >= 0 {
				endpoint = strings.Fields(line[i+len("endpoint="):])[0]
			}
		}
	}
	if resp, _ := get(t, http.MethodGet, endpoint+"/health"); resp.StatusCode != http.StatusOK {
		t.Fatalf("health = %d", resp.StatusCode)
	}
	// A server removes the function-instance cgroups a killed server left
	// behind and says so (other packages' crash tests may have left some
	// on this machine): those lines are not the start's.
	startLines := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, `msg="removed the cgroup of a function instance of a server that stopped"`) {
			startLines++
		}
	}
	if startLines != 1 || !strings.Contains(logs.String(), "data="+cfg.DataDir) {
		cancel()
		<-done
		t.Fatalf("start logged %d lines, want exactly one with the data dir:\n%s", startLines, logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	// The data directory is closed: a new server can open it at once.
	s, err := server.Start(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatalf("restart on the same data dir: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

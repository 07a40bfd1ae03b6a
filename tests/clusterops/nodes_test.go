// Package clusterops tests cluster mode's operations on three nodes
// started in this process, each a whole server (config, storage, router)
// embedding a NATS server of one three-server cluster.
package clusterops

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
)

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// startNodes starts three cluster nodes at once (each waits for a quorum)
// and stops them when the test ends.
func startNodes(t *testing.T) []*server.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three cluster nodes")
	}
	routes := freeAddrs(t, 3)
	nodes := make([]*server.Server, 3)
	errs := make([]error, 3)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
	var wg sync.WaitGroup
	for i := range 3 {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Listen = "127.0.0.1:0"
		cfg.ClusterName = "ops"
		cfg.ClusterNodeName = fmt.Sprintf("node%d", i+1)
		cfg.ClusterListen = routes[i]
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats://"+r)
			}
		}
		cfg.ClusterRoutes = strings.Join(others, ",")
		cfg.CreateDelay, cfg.DeleteDelay, cfg.UpdateDelay = 0, 0, 0
		cfg.ThroughputLimits = "off"
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			nodes[i], errs[i] = server.Start(ctx, cfg, logger)
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				n.Close(ctx)
			})
		}
		if errs[i] != nil {
			t.Fatalf("node%d: %v", i+1, errs[i])
		}
	}
	return nodes
}

func ddbClient(s *server.Server) *dynamodb.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return dynamodb.New(dynamodb.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(s.URL()),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: servertest.BufferedBodies{Transport: tr}},
	})
}

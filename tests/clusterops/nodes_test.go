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

// systemPassword is every node's cluster-system-password.
const systemPassword = "ops-system-pw"

// nodeConfig is the configuration of the node named name, taking routes at
// clusterListen and NATS clients at natsListen, and joining the cluster
// through routes.
func nodeConfig(t *testing.T, name, clusterListen, natsListen string, routes []string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.ClusterName = "ops"
	cfg.ClusterNodeName = name
	cfg.ClusterListen = clusterListen
	cfg.ClusterNATSListen = natsListen
	cfg.ClusterSystemPassword = systemPassword
	var others []string
	for _, r := range routes {
		others = append(others, "nats://"+r)
	}
	cfg.ClusterRoutes = strings.Join(others, ",")
	cfg.CreateDelay, cfg.DeleteDelay, cfg.UpdateDelay = 0, 0, 0
	cfg.ThroughputLimits = "off"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startServer starts a node (it returns once the node reaches a quorum)
// and stops it when the test ends.
func startServer(t *testing.T, cfg config.Config) (*server.Server, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, cfg, logger)
	if srv != nil {
		t.Cleanup(func() { stopServer(srv) })
	}
	return srv, err
}

func stopServer(srv *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Close(ctx)
}

// startNodes starts three cluster nodes at once (each waits for a quorum)
// and stops them when the test ends.
func startNodes(t *testing.T) []*server.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three cluster nodes")
	}
	addrs := freeAddrs(t, 6)
	routes, natsListens := addrs[:3], addrs[3:]
	nodes := make([]*server.Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, r)
			}
		}
		cfg := nodeConfig(t, fmt.Sprintf("node%d", i+1), routes[i], natsListens[i], others)
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = startServer(t, cfg)
		}()
	}
	wg.Wait()
	for i := range nodes {
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

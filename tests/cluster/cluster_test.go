// Package cluster runs three Millrace nodes as separate processes (this
// test binary re-executed with MILLRACE_CLUSTER_NODE set, which runs the
// server as `millrace serve --cluster-name ...` does), each on its own
// loopback ports, and drives them with aws-sdk-go-v2 clients: records
// written through any node are read through every node; a node killed
// with SIGKILL under continuous writes loses no acknowledged record; a
// rolling restart of all three keeps every record; a node cut off from
// the other two (partition_test.go) fails its writes and catches up. The
// longest stretch of failed writes after each fault is logged.
package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
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
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
)

const (
	envNode = "MILLRACE_CLUSTER_NODE"
	stream  = "cluster"
	shards  = 4
)

// nodeConfig is what a child node needs.
type nodeConfig struct {
	Name, Dir, Listen, ClusterListen string
	Routes                           []string
}

func TestMain(m *testing.M) {
	if v := os.Getenv(envNode); v != "" {
		os.Exit(serveNode(v))
	}
	os.Exit(m.Run())
}

// serveNode runs one node until SIGTERM (a graceful stop) or SIGKILL.
func serveNode(v string) int {
	var nc nodeConfig
	if err := json.Unmarshal([]byte(v), &nc); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 2
	}
	cfg := config.Default()
	cfg.DataDir = nc.Dir
	cfg.Listen = nc.Listen
	cfg.ClusterName = "test"
	cfg.ClusterNodeName = nc.Name
	cfg.ClusterListen = nc.ClusterListen
	cfg.ClusterRoutes = strings.Join(nc.Routes, ",")
	cfg.CreateDelay, cfg.DeleteDelay, cfg.UpdateDelay = 0, 0, 0
	cfg.ThroughputLimits = "off"
	cfg.Metrics = "off"
	cfg.ShutdownTimeout = 10 * time.Second
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 2
	}
	// Route errors while a peer is down are expected here: only worse is shown.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 2
	}
	fmt.Printf("URL %s\n", srv.URL())
	select {
	case <-ctx.Done():
	case <-time.After(3 * time.Minute): // should the parent vanish
	}
	cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Close(cctx); err != nil {
		fmt.Fprintln(os.Stderr, "node stop:", err)
		return 1
	}
	return 0
}

type node struct {
	cfg nodeConfig
	// netns, when set, is the network namespace the node runs in.
	netns string
	url   string
	cmd   *exec.Cmd
	done  chan struct{}
}

func freePorts(t *testing.T, n int) []string {
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

func (n *node) start(t *testing.T) {
	t.Helper()
	v, _ := json.Marshal(n.cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if n.netns != "" {
		// ip execs the node in the namespace: the process is the node.
		cmd = exec.Command("ip", "netns", "exec", n.netns, os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), envNode+"="+string(v))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() {
		// The node's URL is known from its config; the line only says it
		// started, and waitReady checks that it serves.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
		}
		cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-n.done
	})
	n.url = "http://" + n.cfg.Listen
}

// waitReady waits until the node answers ListStreams.
func (n *node) waitReady(t *testing.T) {
	t.Helper()
	c := newClient(n.url)
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-n.done:
			t.Fatalf("node %s exited before serving", n.cfg.Name)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not serving within 45 s: %v", n.cfg.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *node) kill(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("node %s stopped with exit code %d", n.cfg.Name, code)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s did not stop within 30 s of SIGTERM", n.cfg.Name)
	}
}

func newClient(url string) *kinesis.Client { return newClientTries(url, 1) }

// newClientTries is newClient with the SDK's retries of failed calls, up
// to tries attempts in all: reading back after a fault, a call may meet a
// shard whose Raft group is still electing a leader.
func newClientTries(url string, tries int) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return kinesis.New(kinesis.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: tries,
		HTTPClient:       &http.Client{Transport: servertest.BufferedBodies{Transport: tr}},
	})
}

// ack is one acknowledged record.
type ack struct {
	shard, seq string
	data       []byte
}

// writers put records through every node until stopped, each starting at
// its own node and moving to the next one after a failed call. They keep
// every acknowledgement and the longest run of failed calls.
type writers struct {
	nodes []*node
	mu    sync.Mutex
	acked []ack
	// gap is the longest time from a writer's first failed call to its
	// next acknowledged one since the last reset.
	gap  time.Duration
	stop chan struct{}
	wg   sync.WaitGroup
}

func (ws *writers) start(n int) {
	ws.stop = make(chan struct{})
	for w := range n {
		ws.wg.Add(1)
		go ws.write(w)
	}
}

func (ws *writers) write(w int) {
	defer ws.wg.Done()
	at := w % len(ws.nodes)
	clients := make([]*kinesis.Client, len(ws.nodes))
	for i, n := range ws.nodes {
		clients[i] = newClient(n.url)
	}
	var failedSince time.Time
	for call := 0; ; call++ {
		select {
		case <-ws.stop:
			return
		default:
		}
		entries := make([]types.PutRecordsRequestEntry, 20)
		for i := range entries {
			d := make([]byte, 16+100)
			binary.BigEndian.PutUint32(d, uint32(w))
			binary.BigEndian.PutUint32(d[4:], uint32(call))
			binary.BigEndian.PutUint32(d[8:], uint32(i))
			entries[i] = types.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String(fmt.Sprintf("w%d-%d-%d", w, call, i))}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := clients[at].PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		cancel()
		ok := 0
		var got []ack
		if err == nil {
			for i, r := range res.Records {
				if r.ErrorCode == nil {
					ok++
					got = append(got, ack{shard: aws.ToString(r.ShardId), seq: aws.ToString(r.SequenceNumber), data: entries[i].Data})
				}
			}
		}
		now := time.Now()
		ws.mu.Lock()
		ws.acked = append(ws.acked, got...)
		if ok < len(entries) {
			if failedSince.IsZero() {
				failedSince = now
			}
		} else if !failedSince.IsZero() {
			ws.gap = max(ws.gap, now.Sub(failedSince))
			failedSince = time.Time{}
		}
		ws.mu.Unlock()
		if err != nil {
			at = (at + 1) % len(ws.nodes)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (ws *writers) halt() {
	close(ws.stop)
	ws.wg.Wait()
}

// takeGap returns the longest failure stretch so far and resets it.
func (ws *writers) takeGap() time.Duration {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	g := ws.gap
	ws.gap = 0
	return g
}

func (ws *writers) count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.acked)
}

// waitMore waits until n more records are acknowledged.
func (ws *writers) waitMore(t *testing.T, n int, within time.Duration) {
	t.Helper()
	want := ws.count() + n
	deadline := time.Now().Add(within)
	for ws.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d records acknowledged within %s", n, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three server processes")
	}
	addrs := freePorts(t, 6)
	nodes := make([]*node, 3)
	for i := range nodes {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, "nats://"+addrs[3+j])
			}
		}
		nodes[i] = &node{cfg: nodeConfig{
			Name: fmt.Sprintf("n%d", i+1), Dir: t.TempDir(), Listen: addrs[i], ClusterListen: addrs[3+i], Routes: routes,
		}}
		nodes[i].start(t)
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	ctx := context.Background()
	c1 := newClient(nodes[0].url)
	if _, err := c1.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitActive(t, newClient(n.url))
	}

	ws := &writers{nodes: nodes}
	ws.start(3)
	ws.waitMore(t, 200, 30*time.Second)

	// SIGKILL of one node under writes; the other two keep a quorum.
	start := time.Now()
	nodes[1].kill(t)
	// (/health answers 503 while the cluster elects a new meta leader,
	// if the killed node was it: a few seconds.)
	for _, n := range []*node{nodes[0], nodes[2]} {
		deadline := time.Now().Add(30 * time.Second)
		for code := healthCode(t, n); code != http.StatusOK; code = healthCode(t, n) {
			if time.Now().After(deadline) {
				t.Fatalf("node %s: /health answers %d 30 s after one of three nodes died, want 200", n.cfg.Name, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ws.waitMore(t, 200, 30*time.Second)
	time.Sleep(time.Second)
	t.Logf("node n2 killed: writes acknowledged again %.1f s later; longest stretch of failed calls of a writer %.1f s",
		time.Since(start).Seconds(), ws.takeGap().Seconds())
	nodes[1].start(t)
	nodes[1].waitReady(t)
	ws.waitMore(t, 200, 30*time.Second)
	t.Logf("node n2 back after %.1f s; longest stretch of failed calls %.1f s", time.Since(start).Seconds(), ws.takeGap().Seconds())

	// A rolling restart: each node stopped gracefully and started again.
	for _, n := range nodes {
		start := time.Now()
		n.stop(t)
		n.start(t)
		n.waitReady(t)
		ws.waitMore(t, 100, 30*time.Second)
		t.Logf("node %s restarted in %.1f s; longest stretch of failed calls %.1f s", n.cfg.Name, time.Since(start).Seconds(), ws.takeGap().Seconds())
	}
	ws.halt()
	t.Logf("%d records acknowledged", len(ws.acked))

	// Every node reads back every acknowledged record, once, in order.
	for _, n := range nodes {
		verify(t, n, ws.acked)
	}
}

func healthCode(t *testing.T, n *node) int {
	t.Helper()
	resp, err := http.Get(n.url + "/health")
	if err != nil {
		t.Fatalf("node %s: /health: %v", n.cfg.Name, err)
	}
	resp.Body.Close()
	return resp.StatusCode
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
		time.Sleep(50 * time.Millisecond)
	}
}

// verify reads every shard through n: each acknowledged record is stored
// once, at its sequence number, with its data; sequence numbers increase.
// Reads are answered by any replica of a shard's log, so a read through
// one node may trail writes acknowledged through another by the
// replication delay (storage/jetstream's doc), which after a partition
// heals is the time the cut-off replica takes to catch up: a record not
// read yet is looked for again for up to 30 s before it counts as lost.
func verify(t *testing.T, n *node, acked []ack) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for reads := 1; ; reads++ {
		stored, total := readShards(t, n)
		missing := -1
		for i, a := range acked {
			d, ok := stored[a.shard][a.seq]
			if !ok {
				missing = i
				break
			}
			if !bytes.Equal(d, a.data) {
				t.Fatalf("node %s: record at %s %s differs from what was acknowledged", n.cfg.Name, a.shard, a.seq)
			}
		}
		if missing < 0 {
			t.Logf("node %s reads all %d acknowledged records (%d stored: the rest were written but their calls failed; %d reads of every shard)", n.cfg.Name, len(acked), total, reads)
			return
		}
		if time.Now().After(deadline) {
			a := acked[missing]
			t.Fatalf("node %s: acknowledged record %x (%s, %s) is missing (%d reads of every shard over 30 s)", n.cfg.Name, a.data[:12], a.shard, a.seq, reads)
		}
		time.Sleep(time.Second)
	}
}

// readShards reads every shard through n from its start to its end: the
// records by shard and sequence number, and how many there are. A record
// stored twice or out of sequence fails the test.
func readShards(t *testing.T, n *node) (map[string]map[string][]byte, int) {
	t.Helper()
	client := newClientTries(n.url, 10)
	ctx := context.Background()
	stored := map[string]map[string][]byte{}
	ids := map[string]bool{}
	total := 0
	for i := range shards {
		shard := fmt.Sprintf("shardId-%012d", i)
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("node %s: GetShardIterator %s: %v", n.cfg.Name, shard, err)
		}
		m := map[string][]byte{}
		var last *big.Int
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("node %s: GetRecords %s: %v", n.cfg.Name, shard, err)
			}
			for _, r := range out.Records {
				id := string(r.Data[:12])
				if ids[id] {
					t.Fatalf("node %s: record %x stored twice", n.cfg.Name, r.Data[:12])
				}
				ids[id] = true
				seq, _ := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
				if last != nil && seq.Cmp(last) <= 0 {
					t.Fatalf("node %s: %s: sequence number %s after %s", n.cfg.Name, shard, seq, last)
				}
				last = seq
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
	return stored, total
}

// TestNewNodeAfterKill starts a fourth node right after one of three is
// killed with SIGKILL: the two left are a quorum, so it starts (its
// catalog listings at start are answered although JetStream may place
// their consumers on the dead node, which it takes minutes to mark
// offline) and serves the stream created before.
func TestNewNodeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four server processes")
	}
	addrs := freePorts(t, 8)
	nodes := make([]*node, 4)
	for i := range nodes {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, "nats://"+addrs[4+j])
			}
		}
		nodes[i] = &node{cfg: nodeConfig{
			Name: fmt.Sprintf("n%d", i+1), Dir: t.TempDir(), Listen: addrs[i], ClusterListen: addrs[4+i], Routes: routes,
		}}
	}
	for _, n := range nodes[:3] {
		n.start(t)
	}
	for _, n := range nodes[:3] {
		n.waitReady(t)
	}
	c1 := newClient(nodes[0].url)
	if _, err := c1.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c1)

	nodes[2].kill(t)
	start := time.Now()
	nodes[3].start(t)
	nodes[3].waitReady(t)
	t.Logf("n4 serves %.1f s after n3 was killed", time.Since(start).Seconds())
	waitActive(t, newClient(nodes[3].url))
}

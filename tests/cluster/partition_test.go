package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// partitionNet is a network namespace joined to the root one by two veth
// pairs: one for the cluster's routes, which the test cuts, one for the
// API, which stays up so the test can ask the cut-off node. Names and
// addresses (two /30 networks in 10.0.0.0/8) derive from the process id,
// so that two runs on one machine do not meet.
type partitionNet struct {
	ns, routeLink        string
	routeHost, routePeer string
	apiHost, apiPeer     string
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newPartitionNet builds the namespace, or says why it cannot.
func newPartitionNet(t *testing.T) (*partitionNet, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("needs the ip command (iproute2)")
	}
	id := os.Getpid() % 100000
	net := fmt.Sprintf("10.%d.%d.", 200+id/250%50, id%250)
	pn := &partitionNet{
		ns: fmt.Sprintf("mrpart%d", id), routeLink: fmt.Sprintf("mrr%d", id),
		routeHost: net + "1", routePeer: net + "2", apiHost: net + "5", apiPeer: net + "6",
	}
	api := fmt.Sprintf("mra%d", id)
	steps := [][]string{
		{"netns", "add", pn.ns},
		{"-n", pn.ns, "link", "set", "lo", "up"},
		{"link", "add", pn.routeLink, "type", "veth", "peer", "name", pn.routeLink + "p"},
		{"link", "set", pn.routeLink + "p", "netns", pn.ns},
		{"addr", "add", pn.routeHost + "/30", "dev", pn.routeLink},
		{"link", "set", pn.routeLink, "up"},
		{"-n", pn.ns, "addr", "add", pn.routePeer + "/30", "dev", pn.routeLink + "p"},
		{"-n", pn.ns, "link", "set", pn.routeLink + "p", "up"},
		{"link", "add", api, "type", "veth", "peer", "name", api + "p"},
		{"link", "set", api + "p", "netns", pn.ns},
		{"addr", "add", pn.apiHost + "/30", "dev", api},
		{"link", "set", api, "up"},
		{"-n", pn.ns, "addr", "add", pn.apiPeer + "/30", "dev", api + "p"},
		{"-n", pn.ns, "link", "set", api + "p", "up"},
	}
	t.Cleanup(func() {
		// Deleting the namespace deletes the veth ends in it, and with
		// them their peers.
		ipCmd("netns", "del", pn.ns)
	})
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return nil, err
		}
	}
	return pn, nil
}

// cut stops every packet between the namespace and the others' routes.
func (pn *partitionNet) cut() error  { return ipCmd("link", "set", pn.routeLink, "down") }
func (pn *partitionNet) heal() error { return ipCmd("link", "set", pn.routeLink, "up") }

// TestPartition cuts one node's links to the other two under writes
// through all three: the two go on, the cut node's /health answers 503
// and its writes fail; when the link is back the node catches up and
// serves again, and every acknowledged record is read back exactly once
// through every node.
func TestPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three server processes")
	}
	pn, err := newPartitionNet(t)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the partition test %v", err)
		}
		t.Skipf("the partition test %v; run it as root on Linux (CI=true does)", err)
	}
	addrs := freePorts(t, 6)
	port := func(a string) string { return a[strings.LastIndex(a, ":")+1:] }
	p1, p2, p3 := port(addrs[3]), port(addrs[4]), port(addrs[5])
	nodes := []*node{
		{cfg: nodeConfig{Name: "n1", Dir: t.TempDir(), Listen: addrs[0], ClusterListen: "0.0.0.0:" + p1,
			Routes: []string{"nats://127.0.0.1:" + p2, "nats://" + pn.routePeer + ":" + p3}}},
		{cfg: nodeConfig{Name: "n2", Dir: t.TempDir(), Listen: addrs[1], ClusterListen: "0.0.0.0:" + p2,
			Routes: []string{"nats://127.0.0.1:" + p1, "nats://" + pn.routePeer + ":" + p3}}},
		{cfg: nodeConfig{Name: "n3", Dir: t.TempDir(), Listen: pn.apiPeer + ":" + port(addrs[2]), ClusterListen: pn.routePeer + ":" + p3,
			Routes: []string{"nats://" + pn.routeHost + ":" + p1, "nats://" + pn.routeHost + ":" + p2}}, netns: pn.ns},
	}
	for _, n := range nodes {
		n.start(t)
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	ctx := context.Background()
	if _, err := newClient(nodes[0].url).CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitActive(t, newClient(n.url))
	}
	ws := &writers{nodes: nodes}
	ws.start(3)
	ws.waitMore(t, 200, 30*time.Second)

	start := time.Now()
	if err := pn.cut(); err != nil {
		t.Fatal(err)
	}
	cutOff := nodes[2]
	waitHealth(t, cutOff, http.StatusServiceUnavailable, 60*time.Second)
	t.Logf("link cut: node n3's /health answers 503 after %.1f s", time.Since(start).Seconds())
	for _, n := range nodes[:2] {
		waitHealth(t, n, http.StatusOK, 30*time.Second)
	}
	ws.waitMore(t, 200, 30*time.Second)
	t.Logf("writes through n1 and n2 go on; longest stretch of failed calls %.1f s", ws.takeGap().Seconds())
	// A write through the cut-off node fails; it is never acknowledged.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = newClient(cutOff.url).PutRecord(wctx, &kinesis.PutRecordInput{
		StreamName: aws.String(stream), PartitionKey: aws.String("cut"), Data: []byte("cut off"),
	})
	cancel()
	if err == nil {
		t.Fatal("a write through the node cut off from the other two was acknowledged")
	}
	t.Logf("a write through n3 while cut off: %v", err)

	healed := time.Now()
	if err := pn.heal(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, cutOff, http.StatusOK, 60*time.Second)
	ws.waitMore(t, 200, 30*time.Second)
	t.Logf("link back: n3's /health answers 200 after %.1f s; longest stretch of failed calls %.1f s",
		time.Since(healed).Seconds(), ws.takeGap().Seconds())
	ws.halt()
	t.Logf("%d records acknowledged", len(ws.acked))
	for _, n := range nodes {
		verify(t, n, ws.acked)
	}
}

// waitHealth waits until n's /health answers code.
func waitHealth(t *testing.T, n *node, code int, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(within)
	last := 0
	for {
		resp, err := client.Get(n.url + "/health")
		if err == nil {
			resp.Body.Close()
			last = resp.StatusCode
			if last == code {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: /health answers %d (%v), not %d, after %s", n.cfg.Name, last, err, code, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

// startClusterEngines starts three JetStream engines of one cluster, each
// embedding a NATS server with a system user, and returns them.
func startClusterEngines(t *testing.T, password string) []*jetstream.Engine {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	engines := make([]*jetstream.Engine, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		dir := t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			engines[i], errs[i] = jetstream.Open(ctx, jetstream.Options{
				Replicas: 3,
				Embed: &jetstream.ServerOptions{
					Name: fmt.Sprintf("node%d", i+1), Dir: dir, Cluster: "cli",
					ClusterHost: "127.0.0.1", ClusterPort: ports[i], Routes: routes,
					SystemPassword: password,
				},
			})
		}()
	}
	wg.Wait()
	for i, e := range engines {
		if e != nil {
			t.Cleanup(func() { e.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("node%d: %v", i+1, errs[i])
		}
	}
	return engines
}

// TestClusterCommand runs millrace cluster status and remove-node against
// three nodes: the status names every node, the meta leader and the
// shard's replicas; remove-node refuses a running node and an unknown one
// with messages saying so; a wrong password and a missing one are errors.
func TestClusterCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	engines := startClusterEngines(t, "pw-cli")
	ctx := context.Background()
	if _, err := engines[1].Append(ctx, storage.ShardKey{Stream: 7, Shard: 0}, 1000, []storage.Entry{{PartitionKey: []byte("k"), Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	url := engines[0].Server().ClientURL()
	// The settings of a node of the cluster, as an operator's shell has them.
	env := map[string]string{
		"MILLRACE_CLUSTER_NAME": "cli", "MILLRACE_CLUSTER_LISTEN": "127.0.0.1:6222",
		"MILLRACE_CLUSTER_ROUTES": "nats://127.0.0.1:6223", "MILLRACE_CLUSTER_SYSTEM_PASSWORD": "pw-cli",
	}

	// The status settles once every node has caught up with the shard.
	var out string
	deadline := time.Now().Add(time.Minute)
	for {
		code, stdout, stderr := runCLI(t, env, "cluster", "status", "--nats", url)
		out = stdout
		if code == 0 && strings.Contains(out, "every replica current") && strings.Contains(out, "millrace-log-7-0") {
			break
		}
		if code == exitUsage || time.Now().After(deadline) {
			t.Fatalf("cluster status never settled: exit %d\n%s%s", code, stdout, stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("millrace cluster status:\n%s", out)
	for _, want := range []string{"cluster cli, meta leader node", "node1", "node2", "node3", "KV_millrace-catalog", "STREAM"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	code, stdout, stderr := runCLI(t, env, "cluster", "status", "--nats", url, "--json")
	var st jetstream.ClusterStatus
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil {
		t.Fatalf("status --json: exit %d %q %q", code, stdout, stderr)
	}
	if len(st.Nodes) != 3 || st.MetaLeader == "" {
		t.Fatalf("status --json: %+v", st)
	}
	for _, s := range st.Streams {
		if s.Name == "millrace-log-7-0" && (len(s.Replicas) != 3 || s.Messages != 1) {
			t.Fatalf("shard stream: %+v", s)
		}
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		err  string
	}{
		{"running node", env, []string{"cluster", "remove-node", "--nats", url, "node2"}, exitError, `"node2": the node is still running (it answered`},
		{"unknown node", env, []string{"cluster", "remove-node", "--nats", url, "node9"}, exitError, `"node9": no such node in the cluster (nodes: node1, node2, node3)`},
		{"wrong password", nil, []string{"cluster", "status", "--nats", url, "--password", "nope"}, exitError, "Authorization Violation"},
		{"no password", nil, []string{"cluster", "status", "--nats", url}, exitUsage, "no --password"},
		{"no url", env, []string{"cluster", "status"}, exitUsage, "no cluster-nats-listen setting"},
		{"password from the environment alone", map[string]string{"MILLRACE_CLUSTER_SYSTEM_PASSWORD": "pw-cli"},
			[]string{"cluster", "remove-node", "--nats", url, "node9"}, exitError, "no such node in the cluster"},
		{"no node named", env, []string{"cluster", "remove-node", "--nats", url}, exitUsage, "takes 1 argument(s), got 0"},
		{"unknown subcommand", env, []string{"cluster", "grow"}, exitUsage, `unknown cluster command "grow"`},
	} {
		code, _, stderr := runCLI(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.err) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, stderr, tc.code, tc.err)
		}
	}
}

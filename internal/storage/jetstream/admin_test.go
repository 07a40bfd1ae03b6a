package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

const testSystemPassword = "s3cret-system"

// openAdminNode starts one engine of the cluster "adm" with a system user.
func openAdminNode(t *testing.T, name string, port int, routes []string) *jetstream.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := jetstream.Open(ctx, jetstream.Options{
		Replicas: 3,
		Embed: &jetstream.ServerOptions{
			Name: name, Dir: t.TempDir(), Cluster: "adm",
			ClusterHost: "127.0.0.1", ClusterPort: port, Routes: routes,
			SystemPassword: testSystemPassword,
		},
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not so after a minute; last seen: %s", what, last)
}

// TestAdminRemoveNode runs three nodes with a system user, writes to four
// shards, stops one node, starts a fourth and removes the stopped one:
// every shard and the catalog end with three current replicas, none on
// the removed node, and the records read back through the new node.
// RemoveNode refuses a running node, an unknown one, and the status
// needs the system user.
func TestAdminRemoveNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a four-server NATS cluster")
	}
	ports := []int{freePort(t), freePort(t), freePort(t), freePort(t)}
	route := func(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", ports[i]) }
	engines := make([]*jetstream.Engine, 3)
	done := make(chan struct{}, 3)
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, route(j))
			}
		}
		go func() {
			defer func() { done <- struct{}{} }()
			engines[i] = openAdminNode(t, fmt.Sprintf("n%d", i+1), ports[i], routes)
		}()
	}
	for range 3 {
		<-done
	}
	for _, e := range engines {
		if e == nil {
			t.FailNow()
		}
	}
	ctx := context.Background()
	shards := []storage.ShardKey{{Stream: 1, Shard: 0}, {Stream: 1, Shard: 1}, {Stream: 2, Shard: 0}, {Stream: 2, Shard: 1}}
	seqs := map[storage.ShardKey][]uint64{}
	for i, sk := range shards {
		for j := range 3 {
			res, err := engines[j].Append(ctx, sk, int64(1000+i), []storage.Entry{{PartitionKey: []byte("k"), Data: []byte(fmt.Sprintf("%d-%d", i, j))}})
			if err != nil {
				t.Fatalf("append to %v through n%d: %v", sk, j+1, err)
			}
			seqs[sk] = append(seqs[sk], res.FirstSeq)
		}
	}

	if _, err := jetstream.DialAdmin(jetstream.AdminOptions{URL: engines[0].Server().ClientURL(), User: jetstream.SystemUser, Password: "wrong"}); err == nil {
		t.Fatal("a wrong system password was accepted")
	}
	// Without credentials a client lands in the data's account, which is
	// not answered a cluster report.
	anon, err := jetstream.DialAdmin(jetstream.AdminOptions{URL: engines[0].Server().ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Status(ctx, time.Second); err == nil {
		t.Fatal("a client without credentials got the cluster report")
	}
	anon.Close()

	admin, err := jetstream.DialAdmin(jetstream.AdminOptions{URL: engines[0].Server().ClientURL(), User: jetstream.SystemUser, Password: testSystemPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	want := map[string]bool{"KV_millrace-catalog": true}
	for _, sk := range shards {
		want[fmt.Sprintf("millrace-log-%d-%d", sk.Stream, sk.Shard)] = true
	}
	healthy := func(gone string, nodes int) func() (bool, string) {
		return func() (bool, string) {
			st, err := admin.Status(ctx, 3*time.Second)
			if err != nil {
				return false, err.Error()
			}
			desc := describe(st)
			if len(st.Nodes) != nodes || st.MetaLeader == "" {
				return false, desc
			}
			if _, ok := st.Node(gone); ok && gone != "" {
				return false, desc
			}
			seen := 0
			for _, s := range st.Streams {
				if !want[s.Name] {
					continue
				}
				seen++
				if s.Degraded(3) || len(s.Replicas) != 3 {
					return false, desc
				}
				for _, r := range s.Replicas {
					if r.Node == gone {
						return false, desc
					}
				}
			}
			return seen == len(want), desc
		}
	}
	waitFor(t, "three nodes, every stream with three current replicas", healthy("", 3))

	if err := admin.RemoveNode(ctx, "n2", 3*time.Second); !errors.Is(err, jetstream.ErrNodeAlive) {
		t.Fatalf("removing a running node: got %v, want ErrNodeAlive", err)
	}
	if err := admin.RemoveNode(ctx, "n9", 3*time.Second); !errors.Is(err, jetstream.ErrNodeUnknown) {
		t.Fatalf("removing an unknown node: got %v, want ErrNodeUnknown", err)
	}

	// n3 goes for good; n4 joins through n1 and n2.
	engines[2].Close()
	n4 := openAdminNode(t, "n4", ports[3], []string{route(0), route(1)})
	waitFor(t, "n3 offline", func() (bool, string) {
		st, err := admin.Status(ctx, 3*time.Second)
		if err != nil {
			return false, err.Error()
		}
		n, ok := st.Node("n3")
		return ok && n.Offline && !n.Answered, describe(st)
	})
	var rmErr error
	waitFor(t, "n3 removed", func() (bool, string) {
		rmErr = admin.RemoveNode(ctx, "n3", 3*time.Second)
		if rmErr != nil {
			return false, rmErr.Error()
		}
		return true, ""
	})
	waitFor(t, "n3 gone, every stream with three current replicas", healthy("n3", 3))

	for i, sk := range shards {
		recs, err := n4.Read(ctx, sk, 0, 100, 1<<20)
		if err != nil {
			t.Fatalf("read %v through n4: %v", sk, err)
		}
		if len(recs) != 3 {
			t.Fatalf("%v through n4: %d records, want 3", sk, len(recs))
		}
		for j, r := range recs {
			if want := fmt.Sprintf("%d-%d", i, j); string(r.Data) != want || r.Seq != seqs[sk][j] {
				t.Fatalf("%v record %d: seq %d %q, want seq %d %q", sk, j, r.Seq, r.Data, seqs[sk][j], want)
			}
		}
	}
}

func describe(st *jetstream.ClusterStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "leader %s; nodes", st.MetaLeader)
	for _, n := range st.Nodes {
		fmt.Fprintf(&b, " %s(current=%v offline=%v answered=%v)", n.Name, n.Current, n.Offline, n.Answered)
	}
	for _, s := range st.Streams {
		fmt.Fprintf(&b, "; %s:", s.Name)
		for _, r := range s.Replicas {
			fmt.Fprintf(&b, " %s(leader=%v current=%v lag=%d)", r.Node, r.Leader, r.Current, r.Lag)
		}
	}
	return b.String()
}

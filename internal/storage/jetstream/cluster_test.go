package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// openCluster starts three engines, each embedding a NATS server of one
// three-server cluster, all at once.
func openCluster(t *testing.T) []*jetstream.Engine {
	t.Helper()
	ports := []int{freePort(t), freePort(t), freePort(t)}
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
					Name: fmt.Sprintf("n%d", i+1), Dir: dir, Cluster: "test",
					ClusterHost: "127.0.0.1", ClusterPort: ports[i], Routes: routes,
				},
				Logger: testLogger(t),
			})
		}()
	}
	wg.Wait()
	for i, e := range engines {
		if e != nil {
			t.Cleanup(func() { e.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i+1, errs[i])
		}
	}
	return engines
}

// TestCluster runs three engines on a three-server cluster started at
// once. The nodes race to create one key, as servers starting together do
// with their shared server key: exactly one wins, and every node then
// reads the winner's value. Appends through every node are read through
// every node. With two servers gone, the last one reports no quorum.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	engines := openCluster(t)
	catalogRace(t, engines)
	logThroughEveryNode(t, engines)
	quorumLost(t, engines)
}

// membership checks Self and Gone with every server up, and Gone once
// n2 has stopped.
func membership(t *testing.T, engines []*jetstream.Engine) {
	for i, e := range engines {
		if got, want := e.Self(), fmt.Sprintf("n%d", i+1); got != want {
			t.Fatalf("Self of node %d = %q, want %q", i+1, got, want)
		}
	}
	// Routes may still be forming just after the start.
	deadline := time.Now().Add(30 * time.Second)
	for engines[0].Gone("n2") || engines[0].Gone("n3") || engines[2].Gone("n2") {
		if time.Now().After(deadline) {
			t.Fatal("Gone reports a running server gone 30 s after the start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if engines[0].Gone("n1") {
		t.Error("Gone reports this server gone")
	}
}

func catalogRace(t *testing.T, engines []*jetstream.Engine) {
	ctx := context.Background()
	var wg sync.WaitGroup
	wins := make([]bool, 3)
	for i, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Put(ctx, "meta/key", []byte{byte(i)}, 0)
			if err != nil && !errors.Is(err, storage.ErrConflict) {
				t.Errorf("node %d: %v", i+1, err)
			}
			wins[i] = err == nil
		}()
	}
	wg.Wait()
	winner := -1
	for i, w := range wins {
		if w {
			if winner >= 0 {
				t.Fatalf("nodes %d and %d both created the key", winner+1, i+1)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no node created the key")
	}
	for i, e := range engines {
		v, _, err := e.Get(ctx, "meta/key")
		if err != nil || len(v) != 1 || int(v[0]) != winner {
			t.Fatalf("node %d reads %v, %v; want node %d's value", i+1, v, err, winner+1)
		}
	}
}

func logThroughEveryNode(t *testing.T, engines []*jetstream.Engine) {
	ctx := context.Background()
	sk := storage.ShardKey{Stream: 1, Shard: 0}
	var want []uint64
	for i := range 30 {
		e := engines[i%3]
		res, err := e.Append(ctx, sk, int64(1000+i), []storage.Entry{{PartitionKey: []byte("k"), Data: []byte{byte(i)}}})
		if err != nil {
			t.Fatalf("append %d through node %d: %v", i, i%3+1, err)
		}
		want = append(want, res.FirstSeq)
	}
	for n, e := range engines {
		deadline := time.Now().Add(10 * time.Second)
		for {
			recs, err := e.Read(ctx, sk, 0, 100, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == len(want) {
				for i, r := range recs {
					if r.Seq != want[i] || r.Data[0] != byte(i) || r.Arrival != int64(1000+i) {
						t.Fatalf("node %d record %d: seq %d arrival %d, want seq %d", n+1, i, r.Seq, r.Arrival, want[i])
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d reads %d records of %d", n+1, len(recs), len(want))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func quorumLost(t *testing.T, engines []*jetstream.Engine) {
	ctx := context.Background()
	if err := engines[0].Quorum(ctx); err != nil {
		t.Fatalf("Quorum with every server up: %v", err)
	}
	membership(t, engines)
	start := time.Now()
	engines[1].Close()
	deadline := time.Now().Add(30 * time.Second)
	for !engines[0].Gone("n2") {
		if time.Now().After(deadline) {
			t.Fatal("Gone does not report n2 gone 30 s after it stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if engines[0].Gone("n3") {
		t.Error("Gone reports n3 gone after n2 stopped")
	}
	engines[2].Close()
	defer func() { t.Logf("no quorum reported %.1f s after two servers stopped", time.Since(start).Seconds()) }()
	deadline = time.Now().Add(60 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := engines[0].Quorum(qctx)
		cancel()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Quorum still reports a quorum a minute after two of three servers stopped")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package clusterops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

func kinesisClient(s *server.Server) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return kinesis.New(kinesis.Options{
		Region:           servertest.Region,
		BaseEndpoint:     aws.String(s.URL()),
		Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: servertest.BufferedBodies{Transport: tr}},
	})
}

// TestRemoveNode runs three whole nodes with a system password, writes a
// stream of three shards, stops node3 for good, starts node4 and removes
// node3 through node1's cluster-nats-listen, as millrace cluster
// remove-node does: every shard's stream and the catalog end with three
// current replicas on node1, node2 and node4, and the records read back
// through node4 with their sequence numbers.
func TestRemoveNode(t *testing.T) {
	nodes := startNodes(t)
	ctx := context.Background()
	k1 := kinesisClient(nodes[0])
	stream := aws.String("removal")
	if _, err := k1.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: stream, ShardCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	type put struct{ shard, seq, data string }
	var puts []put
	for i := range 30 {
		c := kinesisClient(nodes[i%3])
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: stream, PartitionKey: aws.String(fmt.Sprintf("k%d", i)), Data: []byte(fmt.Sprintf("r%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		puts = append(puts, put{aws.ToString(out.ShardId), aws.ToString(out.SequenceNumber), fmt.Sprintf("r%d", i)})
	}

	admin, err := jetstream.DialAdmin(jetstream.AdminOptions{URL: "nats://" + nodes[0].Config().ClusterNATSListen, User: jetstream.SystemUser, Password: systemPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// settled waits until the nodes are want and every stream has three
	// current replicas, none on gone.
	settled := func(want []string, gone string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			st, err := admin.Status(ctx, 3*time.Second)
			ok, state := err == nil, fmt.Sprint(err)
			if ok {
				state = describe(st)
				var names []string
				for _, n := range st.Nodes {
					names = append(names, n.Name)
				}
				// The catalog, the three shards and any log the server
				// keeps for itself (the CloudWatch metrics').
				catalog, logs := false, 0
				for _, s := range st.Streams {
					catalog = catalog || s.Name == "KV_millrace-catalog"
					if strings.HasPrefix(s.Name, "millrace-log-") {
						logs++
					}
				}
				ok = strings.Join(names, ",") == strings.Join(want, ",") && st.MetaLeader != "" && catalog && logs >= 3
				for _, s := range st.Streams {
					ok = ok && !s.Degraded(3) && len(s.Replicas) == 3
					for _, r := range s.Replicas {
						ok = ok && r.Node != gone
					}
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not settled after a minute: %s", state)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	settled([]string{"node1", "node2", "node3"}, "")

	if err := admin.RemoveNode(ctx, "node2", 3*time.Second); !errors.Is(err, jetstream.ErrNodeAlive) {
		t.Fatalf("removing a running node: %v", err)
	}
	stopServer(nodes[2])
	addrs := freeAddrs(t, 2)
	cfg4 := nodeConfig(t, "node4", addrs[0], addrs[1], []string{nodes[0].Config().ClusterListen, nodes[1].Config().ClusterListen})
	n4, err := startServer(t, cfg4)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := admin.RemoveNode(ctx, "node3", 3*time.Second)
		if err == nil {
			break
		}
		// Refused until the meta leader sees node3 offline.
		if !errors.Is(err, jetstream.ErrNodeAlive) || time.Now().After(deadline) {
			t.Fatalf("removing node3: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	settled([]string{"node1", "node2", "node4"}, "node3")

	k4 := kinesisClient(n4)
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"} {
		it, err := k4.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: stream, ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := k4.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		var want []put
		for _, p := range puts {
			if p.shard == shard {
				want = append(want, p)
			}
		}
		if len(out.Records) != len(want) {
			t.Fatalf("%s through node4: %d records, want %d", shard, len(out.Records), len(want))
		}
		for i, r := range out.Records {
			if aws.ToString(r.SequenceNumber) != want[i].seq || string(r.Data) != want[i].data {
				t.Fatalf("%s record %d: %s %q, want %s %q", shard, i, aws.ToString(r.SequenceNumber), r.Data, want[i].seq, want[i].data)
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

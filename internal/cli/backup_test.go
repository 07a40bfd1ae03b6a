package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

// gotRecord is what a reader sees of one record.
type gotRecord struct {
	Seq, PK, Data string
	Arrival       int64
}

// shardView is what a reader sees of one shard.
type shardView struct {
	ID, Parent, Adjacent, StartHash, EndHash, StartSeq, EndSeq string
	Records                                                    []gotRecord
}

// streamView is what clients see of a stream: its description, shards
// with every record from TRIM_HORIZON, and consumers.
func streamView(t *testing.T, c *kinesis.Client, name string) (string, []shardView, []string) {
	t.Helper()
	ctx := t.Context()
	d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	s := d.StreamDescriptionSummary
	desc := fmt.Sprintf("%s %s %s %s %s %d %s %d open %d", aws.ToString(s.StreamARN), s.StreamStatus, s.EncryptionType, aws.ToString(s.KeyId), s.StreamModeDetails.StreamMode,
		aws.ToInt32(s.RetentionPeriodHours), s.StreamCreationTimestamp.UTC(), aws.ToInt32(s.ConsumerCount), aws.ToInt32(s.OpenShardCount))
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var shards []shardView
	for _, sh := range ls.Shards {
		v := shardView{ID: aws.ToString(sh.ShardId), Parent: aws.ToString(sh.ParentShardId), Adjacent: aws.ToString(sh.AdjacentParentShardId),
			StartHash: aws.ToString(sh.HashKeyRange.StartingHashKey), EndHash: aws.ToString(sh.HashKeyRange.EndingHashKey),
			StartSeq: aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber), EndSeq: aws.ToString(sh.SequenceNumberRange.EndingSequenceNumber)}
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				v.Records = append(v.Records, gotRecord{aws.ToString(r.SequenceNumber), aws.ToString(r.PartitionKey), string(r.Data), r.ApproximateArrivalTimestamp.UnixMilli()})
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
		shards = append(shards, v)
	}
	cs, err := c.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: s.StreamARN})
	if err != nil {
		t.Fatal(err)
	}
	var consumers []string
	for _, co := range cs.Consumers {
		consumers = append(consumers, fmt.Sprintf("%s %s %s %s", aws.ToString(co.ConsumerName), aws.ToString(co.ConsumerARN), co.ConsumerStatus, co.ConsumerCreationTimestamp.UTC()))
	}
	return desc, shards, consumers
}

func ddbClient(srv *servertest.Server) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
}

func firehoseClient(srv *servertest.Server) *firehose.Client {
	return firehose.New(firehose.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
}

func putN(t *testing.T, c *kinesis.Client, stream string, n int, tag string) {
	t.Helper()
	var entries []types.PutRecordsRequestEntry
	for i := range n {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("pk-%d", i)), Data: []byte(fmt.Sprintf("%s record %d", tag, i))})
	}
	out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords %s: %v, %d failed", stream, err, aws.ToInt32(out.FailedRecordCount))
	}
}

// TestBackupRestore writes through the SDK to a server, backs it up while
// it runs and again once stopped, restores into fresh data directories
// and checks that a server on each serves the same streams, shards,
// records, consumers and DynamoDB items.
func TestBackupRestore(t *testing.T) {
	const password = "backup-secret"
	srv, c := startServer(t, func(cfg *config.Config) { cfg.BackupPassword = password })
	ctx := t.Context()
	createStream(t, c, "one", 1)
	createStream(t, c, "three", 3)
	createStream(t, c, "split", 2)
	createStream(t, c, "busy", 2)
	putN(t, c, "one", 20, "one")
	putN(t, c, "three", 50, "three")
	putN(t, c, "split", 30, "before")
	if _, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("split"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "split")
	putN(t, c, "split", 30, "after")
	// Encrypted under a key of the KMS key file, which travels with the
	// backup.
	createStream(t, c, "enc", 1)
	if _, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("enc"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "enc")
	putN(t, c, "enc", 10, "secret")
	d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("three")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: d.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	db := ddbClient(srv)
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("app-leases"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("app-leases"), Item: map[string]ddbtypes.AttributeValue{
		"leaseKey": &ddbtypes.AttributeValueMemberS{Value: "shardId-000000000001"}, "checkpoint": &ddbtypes.AttributeValueMemberS{Value: "49000000000000000000000000001"}}}); err != nil {
		t.Fatal(err)
	}

	fhc := firehoseClient(srv)
	if _, err := fhc.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("to-s3"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::bucket"), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"), Prefix: aws.String("logs/"),
			BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(900)}}}); err != nil {
		t.Fatal(err)
	}
	describeFirehose := func(srv *servertest.Server) string {
		out, err := firehoseClient(srv).DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("to-s3")})
		if err != nil {
			t.Fatal(err)
		}
		d := out.DeliveryStreamDescription
		s3 := d.Destinations[0].ExtendedS3DestinationDescription
		return fmt.Sprintf("%s %s %s %s %s %s %d", aws.ToString(d.DeliveryStreamARN), d.DeliveryStreamStatus, d.CreateTimestamp.UTC(), aws.ToString(d.VersionId),
			aws.ToString(s3.BucketARN), aws.ToString(s3.Prefix), aws.ToInt32(s3.BufferingHints.IntervalInSeconds))
	}
	// A new delivery stream is CREATING for a moment: the backup is of an
	// ACTIVE one.
	wantFirehose := describeFirehose(srv)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(wantFirehose, " ACTIVE "); wantFirehose = describeFirehose(srv) {
		if time.Now().After(deadline) {
			t.Fatalf("the delivery stream did not become ACTIVE: %s", wantFirehose)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Writes go on during the online backup: the copy must still hold,
	// per shard, a prefix of what the server ends up with.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String("busy"), PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte(fmt.Sprint("busy ", i))}); err != nil {
				t.Errorf("PutRecord during the backup: %v", err)
				return
			}
		}
	}()
	dir := t.TempDir()
	online := filepath.Join(dir, "online.mrbk")
	code, out, errOut := runCLI(t, nil, "backup", "--out", online, "--url", srv.URL, "--password", password)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup --url: exit %d, %s%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
	if code, _, errOut := runCLI(t, nil, "backup", "--out", filepath.Join(dir, "x"), "--url", srv.URL, "--password", "wrong"); code != exitError || !strings.Contains(errOut, "401") {
		t.Errorf("backup with a wrong password: exit %d, %s", code, errOut)
	}

	names := []string{"busy", "enc", "one", "split", "three"}
	type view struct {
		desc      string
		shards    []shardView
		consumers []string
	}
	views := func(c *kinesis.Client) map[string]view {
		m := map[string]view{}
		for _, n := range names {
			desc, shards, consumers := streamView(t, c, n)
			m[n] = view{desc, shards, consumers}
		}
		return m
	}
	scan := func(srv *servertest.Server) string {
		out, err := ddbClient(srv).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("app-leases")})
		if err != nil {
			t.Fatal(err)
		}
		var items []string
		for _, it := range out.Items {
			var attrs []string
			for k, v := range it {
				s, ok := v.(*ddbtypes.AttributeValueMemberS)
				if !ok {
					t.Fatalf("attribute %s is a %T", k, v)
				}
				attrs = append(attrs, k+"="+s.Value)
			}
			slices.Sort(attrs)
			items = append(items, strings.Join(attrs, " "))
		}
		if len(items) != 1 {
			t.Fatalf("Scan: %d items, want 1", len(items))
		}
		return strings.Join(items, "\n")
	}
	want := views(c)
	if n := len(want["split"].shards); n != 6 {
		t.Fatalf("split has %d shards after resharding, want 6", n)
	}
	wantItems := scan(srv)
	srv.Stop(t)

	offline := filepath.Join(dir, "offline.mrbk")
	if code, out, errOut := runCLI(t, nil, "backup", "--out", offline, "--data-dir", srv.Config.DataDir); code != 0 {
		t.Fatalf("backup --data-dir: exit %d, %s%s", code, out, errOut)
	}

	for _, file := range []string{offline, online} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			restored := filepath.Join(t.TempDir(), "data")
			code, out, errOut := runCLI(t, nil, "restore", "--from", file, "--data-dir", restored)
			if code != 0 {
				t.Fatalf("restore: exit %d, %s%s", code, out, errOut)
			}
			srv2, c2 := startServer(t, func(cfg *config.Config) { cfg.DataDir = restored })
			got := views(c2)
			for _, n := range names {
				g, w := got[n], want[n]
				if g.desc != w.desc || !reflect.DeepEqual(g.consumers, w.consumers) {
					t.Errorf("stream %s: restored\n%s %v\nwant\n%s %v", n, g.desc, g.consumers, w.desc, w.consumers)
				}
				if len(g.shards) != len(w.shards) {
					t.Fatalf("stream %s: %d shards restored, want %d", n, len(g.shards), len(w.shards))
				}
				for i := range w.shards {
					gs, ws := g.shards[i], w.shards[i]
					if n == "busy" && file == online {
						// Written to during the backup: a prefix.
						if len(gs.Records) > len(ws.Records) || !slices.Equal(gs.Records, ws.Records[:len(gs.Records)]) {
							t.Errorf("busy shard %s: the restored records are not a prefix of the original's: %d restored, %d original; first difference: %s", ws.ID, len(gs.Records), len(ws.Records), firstDifference(gs.Records, ws.Records))
						}
						gs.Records, ws.Records = nil, nil
						gs.EndSeq, ws.EndSeq = "", ""
					}
					if !reflect.DeepEqual(gs, ws) {
						t.Errorf("stream %s shard %d: restored\n%+v\nwant\n%+v", n, i, gs, ws)
					}
				}
			}
			if got := describeFirehose(srv2); got != wantFirehose {
				t.Errorf("Firehose stream restored\n%s\nwant\n%s", got, wantFirehose)
			}
			if got := scan(srv2); got != wantItems {
				t.Errorf("DynamoDB items restored\n%s\nwant\n%s", got, wantItems)
			}
			// The restored server numbers on above every restored record.
			last := want["one"].shards[0].Records[19].Seq
			pr, err := c2.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("one"), PartitionKey: aws.String("k"), Data: []byte("new")})
			if err != nil {
				t.Fatal(err)
			}
			if s := aws.ToString(pr.SequenceNumber); len(s) < len(last) || (len(s) == len(last) && s <= last) {
				t.Errorf("a put after the restore got sequence number %s, not above %s", s, last)
			}
		})
	}
}

func TestRestoreRefusesDamage(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "s", 1)
	putN(t, c, "s", 10, "x")
	if code, _, errOut := runCLI(t, nil, "backup", "--out", filepath.Join(t.TempDir(), "x"), "--url", srv.URL, "--password", "pw"); code != exitError || !strings.Contains(errOut, "404") || !strings.Contains(errOut, "set backup-password") {
		t.Errorf("backup from a server without backup-password: exit %d, %s", code, errOut)
	}
	srv.Stop(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "b.mrbk")
	if code, out, errOut := runCLI(t, nil, "backup", "--out", file, "--data-dir", srv.Config.DataDir, "--quiet"); code != 0 {
		t.Fatalf("backup: exit %d, %s%s", code, out, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	bad := filepath.Join(dir, "bad.mrbk")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "restored")
	code, _, errOut := runCLI(t, nil, "restore", "--from", bad, "--data-dir", target)
	if code != exitError || !strings.Contains(errOut, "checksum mismatch") {
		t.Errorf("restore of a damaged backup: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("restore of a damaged backup left %s behind (%v)", target, err)
	}
	if code, out, _ := runCLI(t, nil, "restore", "--from", file, "--check"); code != 0 || !strings.Contains(out, "format 1, written") || !strings.Contains(out, "from pebble") {
		t.Errorf("restore --check: exit %d, %s", code, out)
	}
	missing := filepath.Join(dir, "missing")
	if code, _, errOut := runCLI(t, nil, "backup", "--out", filepath.Join(dir, "m.mrbk"), "--data-dir", missing); code != exitUsage || !strings.Contains(errOut, "not a directory") {
		t.Errorf("backup of a missing data directory: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("backup of a missing data directory created it (%v)", err)
	}
	// Not into a directory that holds anything.
	if err := os.WriteFile(filepath.Join(dir, "data-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "restore", "--from", file, "--data-dir", dir); code != exitUsage || !strings.Contains(errOut, "not empty") {
		t.Errorf("restore into a directory in use: exit %d, %s", code, errOut)
	}
	if !bytes.HasPrefix(b, []byte("MRBACKUP")) {
		t.Error("the backup does not start with its magic")
	}
}

// TestBackupOfCluster backs up a server on the cluster engine (JetStream,
// here one NATS server the test starts, as nats-url would reach) through
// its backup endpoint and restores the copy into a single-node data
// directory: a server on it serves the same shards and records, at the
// cluster's sequence numbers.
func TestBackupOfCluster(t *testing.T) {
	const password = "pw"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ns, err := jetstream.StartServer(&jetstream.ServerOptions{Dir: t.TempDir(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	srv, c := startServer(t, func(cfg *config.Config) {
		cfg.NATSURL, cfg.ClusterReplicas = fmt.Sprintf("nats://127.0.0.1:%d", port), 1
		cfg.BackupPassword = password
	})
	createStream(t, c, "s", 2)
	putN(t, c, "s", 30, "clustered")
	if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "s")
	putN(t, c, "s", 30, "after")
	wantDesc, wantShards, wantConsumers := streamView(t, c, "s")
	if n := len(wantShards); n != 4 {
		t.Fatalf("%d shards after the split, want 4", n)
	}
	total := 0
	for _, sh := range wantShards {
		total += len(sh.Records)
	}
	if total != 60 {
		t.Fatalf("%d records read from the cluster engine, want 60", total)
	}

	file := filepath.Join(t.TempDir(), "cluster.mrbk")
	if code, out, errOut := runCLI(t, nil, "backup", "--out", file, "--url", srv.URL, "--password", password); code != 0 {
		t.Fatalf("backup of a cluster node: exit %d, %s%s", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if code, out, errOut := runCLI(t, nil, "restore", "--from", file, "--data-dir", restored, "--quiet"); code != 0 {
		t.Fatalf("restore: exit %d, %s%s", code, out, errOut)
	}
	_, c2 := startServer(t, func(cfg *config.Config) { cfg.DataDir = restored })
	desc, shards, consumers := streamView(t, c2, "s")
	if desc != wantDesc || !reflect.DeepEqual(consumers, wantConsumers) || !reflect.DeepEqual(shards, wantShards) {
		t.Errorf("restored from the cluster\n%s %v\n%+v\nwant\n%s %v\n%+v", desc, consumers, shards, wantDesc, wantConsumers, wantShards)
	}
}

// firstDifference describes where two record lists first differ.
func firstDifference(got, want []gotRecord) string {
	for i := range got {
		if i >= len(want) {
			return fmt.Sprintf("record %d restored (%+v) is past the original's end", i, got[i])
		}
		if got[i] != want[i] {
			return fmt.Sprintf("record %d restored %+v, original %+v", i, got[i], want[i])
		}
	}
	return "none"
}

// TestBackupURLFromListen: without --url, backup reaches the server at its
// listen setting, as health does, and says to pass --url when that names
// no port to reach.
func TestBackupURLFromListen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b.mrbk")
	for _, c := range []struct{ listen, want string }{
		{"127.0.0.1:0", `backup: listen "127.0.0.1:0" picks a free port at each start; pass --url`},
		{"nonsense", `listen: "nonsense" is not host:port`},
	} {
		code, _, errOut := runCLI(t, map[string]string{"MILLRACE_LISTEN": c.listen, "MILLRACE_BACKUP_PASSWORD": "pw"}, "backup", "--out", out, "--quiet")
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("listen %s: exit %d, stderr %q, want %q", c.listen, code, errOut, c.want)
		}
	}
}

package consumer

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

// kclSchema is the KCL 2.x lease-table schema (attribute -> DynamoDB type)
// from the KCL's DynamoDBLeaseSerializer.
var kclSchema = map[string]string{
	"leaseKey":                           "S",
	"leaseOwner":                         "S",
	"leaseCounter":                       "N",
	"ownerSwitchesSinceCheckpoint":       "N",
	"checkpoint":                         "S",
	"checkpointSubSequenceNumber":        "N",
	"pendingCheckpoint":                  "S",
	"pendingCheckpointSubSequenceNumber": "N",
	"pendingCheckpointState":             "B",
	"parentShardId":                      "SS",
	"childShardIds":                      "SS",
	"startingHashKey":                    "S",
	"endingHashKey":                      "S",
	"streamName":                         "S",
	"shardId":                            "S",
}

func attrType(v ddb.AttributeValue) string {
	switch v.(type) {
	case *ddb.AttributeValueMemberS:
		return "S"
	case *ddb.AttributeValueMemberN:
		return "N"
	case *ddb.AttributeValueMemberB:
		return "B"
	case *ddb.AttributeValueMemberSS:
		return "SS"
	case *ddb.AttributeValueMemberNS:
		return "NS"
	case *ddb.AttributeValueMemberL:
		return "L"
	case *ddb.AttributeValueMemberM:
		return "M"
	case *ddb.AttributeValueMemberBOOL:
		return "BOOL"
	}
	return "?"
}

// funcProcessor is a processor made of functions; nil ones do nothing.
type funcProcessor struct {
	init     func(InitializationInput)
	process  func(context.Context, ProcessRecordsInput)
	shutdown func(context.Context, ShutdownRequestedInput)
}

func (p *funcProcessor) Initialize(ctx context.Context, in InitializationInput) {
	if p.init != nil {
		p.init(in)
	}
}
func (p *funcProcessor) ProcessRecords(ctx context.Context, in ProcessRecordsInput) {
	if p.process != nil {
		p.process(ctx, in)
	}
}
func (p *funcProcessor) LeaseLost(context.Context, LeaseLostInput) {}
func (p *funcProcessor) ShardEnded(ctx context.Context, in ShardEndedInput) {
	_ = in.Checkpointer.Checkpoint(ctx)
}
func (p *funcProcessor) ShutdownRequested(ctx context.Context, in ShutdownRequestedInput) {
	if p.shutdown != nil {
		p.shutdown(ctx, in)
	}
}

func (e *env) startFuncWorker(cfg Config, id string, p *funcProcessor) *Worker {
	e.t.Helper()
	cfg.WorkerID = id
	w, err := New(cfg, e.kc, e.dc, func() RecordProcessor { return p })
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.abort)
	return w
}

// The lease table written by the worker has exactly the KCL 2.x attribute
// names and types, and its key schema.
func TestLeaseTableKCLSchema(t *testing.T) {
	e := newEnv(t)
	e.createStream("schema", 1)
	keys := keysN(8)
	e.put("schema", keys, 0, 5)
	s := newSink()
	cfg := fastConfig("schema-app", "schema")
	cfg.KeepFinishedLeases = true
	w := e.startWorker(cfg, "w1", s)
	e.eventually(30*time.Second, "records processed", func() bool { return len(s.missing(keys, 0, 5)) == 0 })
	ctx := context.Background()
	if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("schema"),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	e.waitActive("schema")
	e.put("schema", keys, 5, 10)
	e.eventually(30*time.Second, "records of the children processed", func() bool { return len(s.missing(keys, 0, 10)) == 0 })
	shutdown(t, w)

	d, err := e.dc.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("schema-app")})
	if err != nil {
		t.Fatal(err)
	}
	ks := d.Table.KeySchema
	if len(ks) != 1 || aws.ToString(ks[0].AttributeName) != "leaseKey" || ks[0].KeyType != ddb.KeyTypeHash {
		t.Fatalf("key schema %+v, want leaseKey HASH", ks)
	}
	if ad := d.Table.AttributeDefinitions; len(ad) != 1 || ad[0].AttributeType != ddb.ScalarAttributeTypeS {
		t.Fatalf("attribute definitions %+v, want leaseKey S", ad)
	}
	out, err := e.dc.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("schema-app"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 3 {
		t.Fatalf("%d leases, want 3 (a parent and two children)", len(out.Items))
	}
	seen := map[string]bool{}
	for _, item := range out.Items {
		for name, v := range item {
			want, ok := kclSchema[name]
			if !ok {
				t.Errorf("attribute %s is not in the KCL schema", name)
			} else if got := attrType(v); got != want {
				t.Errorf("attribute %s has type %s, want %s", name, got, want)
			}
			seen[name] = true
		}
		for _, name := range []string{"leaseKey", "leaseCounter", "checkpoint", "checkpointSubSequenceNumber", "ownerSwitchesSinceCheckpoint", "startingHashKey", "endingHashKey"} {
			if item[name] == nil {
				t.Errorf("lease %v lacks %s", item["leaseKey"], name)
			}
		}
		key := item["leaseKey"].(*ddb.AttributeValueMemberS).Value
		cp := item["checkpoint"].(*ddb.AttributeValueMemberS).Value
		switch key {
		case "shardId-000000000000":
			if cp != ShardEnd {
				t.Errorf("parent checkpoint %s, want SHARD_END", cp)
			}
			ch := item["childShardIds"].(*ddb.AttributeValueMemberSS).Value
			sort.Strings(ch)
			if strings.Join(ch, ",") != "shardId-000000000001,shardId-000000000002" {
				t.Errorf("childShardIds %v", ch)
			}
		default:
			if p := item["parentShardId"].(*ddb.AttributeValueMemberSS).Value; len(p) != 1 || p[0] != "shardId-000000000000" {
				t.Errorf("parentShardId of %s: %v", key, p)
			}
			if item["leaseOwner"] != nil {
				t.Errorf("lease %s still owned after a graceful shutdown", key)
			}
		}
	}
	for _, name := range []string{"parentShardId", "childShardIds"} {
		if !seen[name] {
			t.Errorf("no lease carries %s", name)
		}
	}
}

// A KPL aggregate is delivered as user records with sub-sequence numbers;
// a checkpoint inside it, and a prepared checkpoint with its state, are
// resumed by the next worker exactly.
func TestSubSequenceCheckpointsResume(t *testing.T) {
	e := newEnv(t)
	e.createStream("agg", 1)
	var recs []aggregation.Record
	for i := range 6 {
		recs = append(recs, aggregation.Record{PartitionKey: "pk", Data: []byte{'0' + byte(i)}})
	}
	data, err := aggregation.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	e.putEntries("agg", []types.PutRecordsRequestEntry{{PartitionKey: aws.String("a"), Data: data}})
	cfg := fastConfig("agg-app", "agg")

	got := make(chan []Record, 1)
	p1 := &funcProcessor{process: func(ctx context.Context, in ProcessRecordsInput) {
		if len(in.Records) == 0 {
			return
		}
		// Beyond the last record delivered: rejected.
		if err := in.Checkpointer.CheckpointSequence(ctx, in.Records[0].SequenceNumber, 99); !errors.Is(err, ErrInvalidCheckpoint) {
			t.Errorf("checkpoint beyond the batch: %v, want ErrInvalidCheckpoint", err)
		}
		if err := in.Checkpointer.CheckpointRecord(ctx, in.Records[2]); err != nil {
			t.Error(err)
		}
		if _, err := in.Checkpointer.PrepareCheckpoint(ctx, in.Records[3].SequenceNumber, 3, []byte("state")); err != nil {
			t.Error(err)
		}
		got <- in.Records
	}}
	w1 := e.startFuncWorker(cfg, "w1", p1)
	first := <-got
	if len(first) != 6 || !first[5].Aggregated || first[5].SubSequenceNumber != 5 {
		t.Fatalf("delivered %d records, last %+v; want the 6 user records", len(first), first[len(first)-1])
	}
	shutdown(t, w1)

	var init InitializationInput
	inits := make(chan InitializationInput, 1)
	p2 := &funcProcessor{
		init: func(in InitializationInput) { inits <- in },
		process: func(ctx context.Context, in ProcessRecordsInput) {
			if len(in.Records) > 0 {
				got <- in.Records
			}
		},
	}
	w2 := e.startFuncWorker(cfg, "w2", p2)
	init = <-inits
	if init.Checkpoint.SequenceNumber != first[2].SequenceNumber || init.Checkpoint.SubSequenceNumber != 2 {
		t.Errorf("resumed from %v, want %s.2", init.Checkpoint, first[2].SequenceNumber)
	}
	if init.PendingCheckpoint == nil || init.PendingCheckpoint.SubSequenceNumber != 3 || string(init.PendingCheckpointState) != "state" {
		t.Errorf("pending checkpoint %v state %q, want .3 and \"state\"", init.PendingCheckpoint, init.PendingCheckpointState)
	}
	second := <-got
	if len(second) != 3 || second[0].SubSequenceNumber != 3 || string(second[0].Data) != "3" {
		t.Fatalf("resumed with %d records from sub-sequence %d, want 3 from 3", len(second), second[0].SubSequenceNumber)
	}
	shutdown(t, w2)
}

// A lease written by a Java KCL application (same schema, owner gone) is
// taken once expired and processing resumes after its checkpoint.
func TestTakesOverKCLWrittenLease(t *testing.T) {
	e := newEnv(t)
	e.createStream("kcl", 1)
	ctx := context.Background()
	e.put("kcl", []string{"k"}, 0, 10)
	// The sequence number of k/4, where the Java application stopped.
	it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("kcl"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(gr.Records) != 10 {
		t.Fatalf("GetRecords: %v, %d records", err, len(gr.Records))
	}
	seq := aws.ToString(gr.Records[4].SequenceNumber)
	cfg := fastConfig("kcl-app", "kcl")
	lt := leaseTable{client: e.dc, name: "kcl-app"}
	if err := lt.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("kcl-app"), Item: map[string]ddb.AttributeValue{
		"leaseKey":                     sAttr("shardId-000000000000"),
		"leaseOwner":                   sAttr("java-worker-1"),
		"leaseCounter":                 nAttr(1234),
		"checkpoint":                   sAttr(seq),
		"checkpointSubSequenceNumber":  nAttr(0),
		"ownerSwitchesSinceCheckpoint": nAttr(0),
		"startingHashKey":              sAttr("0"),
		"endingHashKey":                sAttr(aggregation.MaxHashKey.String()),
	}}); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	w := e.startWorker(cfg, "go-worker", s)
	e.eventually(30*time.Second, "records after the checkpoint", func() bool { return len(s.missing([]string{"k"}, 5, 10)) == 0 })
	if n := s.distinct(); n != 5 {
		t.Fatalf("%d records processed, want the 5 after the checkpoint", n)
	}
	// The records are seen before the worker's checkpoint reaches the
	// table: wait for the checkpoint that resets the owner switches.
	e.eventually(30*time.Second, "go-worker to own and checkpoint the lease (owner switches back to 0, counter above 1234)", func() bool {
		leases, err := w.Leases(ctx)
		if err != nil || len(leases) == 0 {
			return false
		}
		l := leases[0]
		return l.Owner == "go-worker" && l.OwnerSwitchesSinceCheckpoint == 0 && l.Counter > 1234
	})
	shutdown(t, w)
}

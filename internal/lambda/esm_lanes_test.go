package lambda_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// laneOf mirrors the mapping's choice of a partition key's lane: FNV-1a
// of the key, modulo ParallelizationFactor.
func laneOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// With ParallelizationFactor 4, a poison record retried without end holds
// back only its lane's keys: the other lanes deliver every record, in
// order per key, meanwhile. The checkpoint stays before the poison
// record: after a restart it is delivered (it no longer fails), with every
// record after it.
func TestEventSourceMappingLaneRetryBlocksOnlyItsLane(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "lanes", 1)
	dir := t.TempDir()
	logPath, heal := filepath.Join(dir, "log"), filepath.Join(dir, "heal")
	esmFunction(t, c, "consumer", logPath, map[string]string{"ESM_HEAL": heal})

	const pf = 4
	poisonLane := laneOf("bad", pf)
	recs := [][2]string{{"bad", "poison"}}
	for i := range 200 {
		recs = append(recs, [2]string{fmt.Sprintf("k%d", i%20), fmt.Sprintf("r%d", i)})
	}
	putAll(t, k, "lanes", recs)
	others := map[string]bool{} // the records of the keys of other lanes
	for _, r := range recs[1:] {
		if laneOf(r[0], pf) != poisonLane {
			others[r[1]] = true
		}
	}
	if len(others) == 0 || len(others) == len(recs)-1 {
		t.Fatalf("the test's keys fall in %d lanes: pick others", pf)
	}
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("consumer"), EventSourceArn: aws.String(arn),
		StartingPosition: types.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(5),
		ParallelizationFactor: aws.Int32(pf),
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other lanes' records", func() bool {
		n := 0
		for _, l := range readLog(t, logPath) {
			if others[l.data] {
				n++
			}
		}
		return n >= len(others)
	})
	last := map[string]string{}
	for _, l := range readLog(t, logPath) {
		if !others[l.data] {
			t.Errorf("record %s (key %s) of the poison record's lane delivered while it fails", l.data, l.key)
		}
		if p, ok := last[l.key]; ok && !seqLess(p, l.seq) {
			t.Errorf("key %s: %s arrived after %s", l.key, l.seq, p)
		}
		last[l.key] = l.seq
	}
	// The mapping is still retrying the poison record: a restart must
	// find the checkpoint before it.
	s.Stop(t)
	if err := os.WriteFile(heal, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(logPath); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	c = client(s)
	eventually(t, "every record after the restart", func() bool { return len(readLog(t, logPath)) >= len(recs) })
	seen := map[string]int{}
	last = map[string]string{}
	for _, l := range readLog(t, logPath) {
		seen[l.data]++
		if p, ok := last[l.key]; ok && !seqLess(p, l.seq) {
			t.Errorf("after the restart, key %s: %s arrived after %s", l.key, l.seq, p)
		}
		last[l.key] = l.seq
	}
	for _, r := range recs {
		if seen[r[1]] != 1 {
			t.Errorf("after the restart, %s delivered %d times, want once", r[1], seen[r[1]])
		}
	}
	if _, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID}); err != nil {
		t.Fatal(err)
	}
}

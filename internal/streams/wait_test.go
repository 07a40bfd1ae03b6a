package streams

import (
	"context"
	"testing"
)

// AppendSignal fires for an append to its shard only, after the append.
func TestAppendSignal(t *testing.T) {
	e := newEnv(t)
	e.create("s", 2)
	ctx := context.Background()
	pk := "a" // routed to one of the two shards
	res, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{Data: []byte("x"), PartitionKey: pk}, "")
	if err != nil {
		t.Fatal(err)
	}
	other := "shardId-000000000000"
	if res.ShardID == other {
		other = "shardId-000000000001"
	}
	mine, err := e.s.AppendSignal(ref("s"), res.ShardID)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.s.AppendSignal(ref("s"), other)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-mine:
		t.Fatal("the signal fired before any append after it")
	default:
	}
	if _, _, err := e.s.PutRecord(ctx, ref("s"), PutEntry{Data: []byte("y"), PartitionKey: pk}, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mine:
	default:
		t.Fatal("an append to the shard did not fire its signal")
	}
	select {
	case <-theirs:
		t.Fatal("an append to another shard fired the signal")
	default:
	}
	if _, err := e.s.AppendSignal(ref("nope"), other); err == nil {
		t.Error("a signal of a stream that does not exist")
	}
	if _, err := e.s.AppendSignal(ref("s"), "shardId-000000000009"); err == nil {
		t.Error("a signal of a shard that does not exist")
	}
}

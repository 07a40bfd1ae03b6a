package firehose

import (
	"fmt"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// TestBatchesGroupByPartition checks that a flush's batches hold each
// partition's records in their order, partitions in the order they
// first appear, each named by its first record.
func TestBatchesGroupByPartition(t *testing.T) {
	e := &engine{d: &deliveryStream{Name: "s", ARN: "arn:aws:firehose:us-east-1:123456789012:deliverystream/s", Version: 2}}
	at := time.UnixMilli(1700000000000)
	parts := []string{"b", "a", "b", "c", "a", "b"}
	var out []procRecord
	for i, p := range parts {
		out = append(out, procRecord{Record: sink.Record{ID: fmt.Sprint(i), Data: []byte{byte(i)}, Arrival: at.Add(time.Duration(i))},
			partition: p, keys: map[string]string{"k": p}})
	}
	got := e.batches(out)
	want := []struct {
		part string
		ids  []string
	}{{"b", []string{"0", "2", "5"}}, {"a", []string{"1", "4"}}, {"c", []string{"3"}}}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i, w := range want {
		b := got[i]
		if b.PartitionKeys["k"] != w.part || b.ID != e.batchID(w.ids[0], w.part) || b.Stream != "s" || b.Version != 2 ||
			!b.FirstArrival.Equal(b.Records[0].Arrival) {
			t.Errorf("batch %d: partition %v, id %s, stream %s/%d, first arrival %v", i, b.PartitionKeys, b.ID, b.Stream, b.Version, b.FirstArrival)
		}
		var ids []string
		for _, r := range b.Records {
			ids = append(ids, r.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(w.ids) || cap(b.Records) != len(w.ids) {
			t.Errorf("batch %d (%s): records %v (capacity %d), want %v", i, w.part, ids, cap(b.Records), w.ids)
		}
	}
	// Without partition keys, one batch of every record.
	for i := range out {
		out[i].partition, out[i].keys = "", nil
	}
	if got := e.batches(out); len(got) != 1 || len(got[0].Records) != len(out) || got[0].ID != e.batchID("0", "") {
		t.Fatalf("without partitions: %d batches", len(got))
	}
}

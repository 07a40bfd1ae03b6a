package aggregation_test

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

func ExampleAggregator() {
	var a aggregation.Aggregator
	for _, pk := range []string{"alice", "bob", "alice"} {
		r := aggregation.Record{PartitionKey: pk, Data: []byte("event of " + pk)}
		if a.SizeWith(r) > 51200 {
			break // full: put this one in the next aggregate
		}
		a.Add(r)
	}
	rec, _ := a.KinesisRecord()
	fmt.Println(rec.PartitionKey, aggregation.IsAggregated(rec.Data), len(rec.Data) == a.Size())
	// Output: a true true
}

func ExampleDeaggregate() {
	data, _ := aggregation.Marshal([]aggregation.Record{
		{PartitionKey: "alice", Data: []byte("one")},
		{PartitionKey: "bob", Data: []byte("two")},
	})
	got := aggregation.Deaggregate([]types.Record{
		{PartitionKey: aws.String("a"), SequenceNumber: aws.String("49"), Data: data},
		{PartitionKey: aws.String("carol"), SequenceNumber: aws.String("50"), Data: []byte("plain")},
	})
	for _, u := range got {
		fmt.Println(u.SequenceNumber, u.SubSequenceNumber, u.PartitionKey, string(u.Data), u.Aggregated)
	}
	// Output:
	// 49 0 alice one true
	// 49 1 bob two true
	// 50 0 carol plain false
}

package kinesisapi

import (
	"strconv"
	"testing"
)

// BenchmarkValidatePutRecords validates a valid PutRecords of 500 x 1 KiB:
// it should cost no allocation.
func BenchmarkValidatePutRecords(b *testing.B) {
	name := "bench-stream"
	in := PutRecordsInput{StreamName: &name, Records: make([]PutRecordsRequestEntry, 500)}
	for i := range in.Records {
		pk := "partition-key-" + strconv.Itoa(i)
		in.Records[i] = PutRecordsRequestEntry{Data: make([]byte, 1024), PartitionKey: &pk}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

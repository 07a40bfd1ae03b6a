package kinesis

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

func benchRecords(n, size int) []kinesisapi.PutRecordsRequestEntry {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]kinesisapi.PutRecordsRequestEntry, n)
	for i := range out {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		out[i] = kinesisapi.PutRecordsRequestEntry{Data: data, PartitionKey: awsproto.Ptr("pk-" + strconv.FormatUint(rng.Uint64(), 16))}
	}
	return out
}

// BenchmarkDecodePutRecordsFast decodes a 500 x 1 KiB PutRecords JSON body
// through awsproto.Decode with the fast path registered (compare
// awsproto's BenchmarkDecodePutRecords/json, the generic path).
func BenchmarkDecodePutRecordsFast(b *testing.B) {
	body, _ := json.Marshal(&kinesisapi.PutRecordsInput{StreamName: awsproto.Ptr("bench"), Records: benchRecords(500, 1024)})
	b.SetBytes(500 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		var in kinesisapi.PutRecordsInput
		if err := awsproto.Decode(awsproto.ProtocolJSON, body, &in); err != nil || len(in.Records) != 500 {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeGetRecordsFast encodes a 1,000 x 1 KiB GetRecords
// response through awsproto.Encode with the fast path registered.
func BenchmarkEncodeGetRecordsFast(b *testing.B) {
	out := &kinesisapi.GetRecordsOutput{MillisBehindLatest: awsproto.Ptr(int64(0)), NextShardIterator: awsproto.Ptr("AAAAAAAAAAEiterator")}
	for i, r := range benchRecords(1000, 1024) {
		out.Records = append(out.Records, kinesisapi.Record{
			Data: r.Data, PartitionKey: r.PartitionKey,
			SequenceNumber:              awsproto.Ptr("4963" + strconv.Itoa(1e15+i) + "00000000000000000000000000000"),
			ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(1_700_000_000_123)),
		})
	}
	b.SetBytes(1000 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := awsproto.Encode(awsproto.ProtocolJSON, out); err != nil {
			b.Fatal(err)
		}
	}
}

package awsproto_test

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

// putRecordsInput is a PutRecords request of n records of size bytes with
// random data and partition keys.
func putRecordsInput(n, size int) *kinesisapi.PutRecordsInput {
	rng := rand.New(rand.NewPCG(1, 2))
	in := &kinesisapi.PutRecordsInput{StreamName: awsproto.Ptr("bench")}
	for range n {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		in.Records = append(in.Records, kinesisapi.PutRecordsRequestEntry{
			Data: data, PartitionKey: awsproto.Ptr("pk-" + strconv.FormatUint(rng.Uint64(), 16)),
		})
	}
	return in
}

// BenchmarkDecodePutRecords decodes a 500 x 1 KiB PutRecords body as the
// router does.
func BenchmarkDecodePutRecords(b *testing.B) {
	in := putRecordsInput(500, 1024)
	jsonBody, err := json.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	cborBody, err := cbor.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    awsproto.Protocol
		body []byte
	}{{"json", awsproto.ProtocolJSON, jsonBody}, {"cbor", awsproto.ProtocolCBOR, cborBody}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(500 * 1024)
			b.ReportAllocs()
			for b.Loop() {
				var out kinesisapi.PutRecordsInput
				if err := awsproto.Decode(tc.p, tc.body, &out); err != nil {
					b.Fatal(err)
				}
				if len(out.Records) != 500 {
					b.Fatal(len(out.Records))
				}
			}
		})
	}
}

// BenchmarkEncodeGetRecords encodes a GetRecords response of 1,000 x 1 KiB
// records.
func BenchmarkEncodeGetRecords(b *testing.B) {
	in := putRecordsInput(1000, 1024)
	out := &kinesisapi.GetRecordsOutput{MillisBehindLatest: awsproto.Ptr(int64(0)), NextShardIterator: awsproto.Ptr("AAAAAAAAAAEiterator")}
	at := time.UnixMilli(1_700_000_000_123)
	for i, r := range in.Records {
		out.Records = append(out.Records, kinesisapi.Record{
			Data: r.Data, PartitionKey: r.PartitionKey,
			SequenceNumber:              awsproto.Ptr("4963" + strconv.Itoa(1e15+i) + "00000000000000000000000000000"),
			ApproximateArrivalTimestamp: awsproto.TimestampPtr(at),
		})
	}
	for _, tc := range []struct {
		name string
		p    awsproto.Protocol
	}{{"json", awsproto.ProtocolJSON}, {"cbor", awsproto.ProtocolCBOR}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(1000 * 1024)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := awsproto.Encode(tc.p, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

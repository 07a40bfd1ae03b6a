package bench

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// getRecordsResponse is a GetRecords response as Millrace writes it, with
// n stamped records of size bytes.
func getRecordsResponse(n, size int) []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString(`{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAFiterator","Records":[`)
	for i := range n {
		s := newSlot(rng, size)
		s.stamp(recordID(7, 1, uint32(i)))
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ApproximateArrivalTimestamp":1.700000000123E9,"Data":"%s","PartitionKey":"%s","SequenceNumber":"4963%s00000000000000000000000000000"}`,
			base64.StdEncoding.EncodeToString(s.data), s.pk, strconv.Itoa(1e15+i))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkReadBackRecords is the raw client's work for each GetRecords
// response in read-back, the network aside: scanning the response,
// decoding every record's data and checking its header and CRC-32C.
func BenchmarkReadBackRecords(b *testing.B) {
	for _, size := range []int{100, 1024} {
		resp := getRecordsResponse(1000, size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			var scratch readScratch
			for b.Loop() {
				recs, _, _, _, err := scanGetRecordsInto(resp, &scratch)
				if err != nil || len(recs) != 1000 {
					b.Fatal(len(recs), err)
				}
				for _, d := range recs {
					if _, ok := parseRecord(d); !ok {
						b.Fatal("corrupt")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
		})
	}
}

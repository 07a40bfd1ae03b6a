package s3

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/firehose/sink"
)

// discard is a Putter that drops the object: with it the benchmark
// measures the destination's own cost (compression), without the S3
// server's.
type discard struct{}

func (discard) Put(context.Context, string, string, []byte) error { return nil }

// BenchmarkDeliverGzip delivers a full 64 MiB buffer of 1 KiB JSON
// records of varied text (gzip shrinks them about three times) as one
// gzip object: s3 writes it to the S3 server with PutObject, discard
// only compresses it. b.SetBytes makes the figure MB/s of records.
func BenchmarkDeliverGzip(b *testing.B) {
	srv := s3test.Start(b)
	bucket := srv.Bucket(b, "deliver")
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("click view purchase login logout search add remove update delete open close " +
		"start stop error warn info debug cart item user order payment session timeout retry")
	recs := make([]sink.Record, 64<<10)
	for i := range recs {
		var s strings.Builder
		fmt.Fprintf(&s, `{"n":%d,"user":"u%d","status":%d,"msg":"`, i, r.IntN(100000), 200+100*r.IntN(4))
		for s.Len() < 1024-3 {
			s.WriteString(words[r.IntN(len(words))])
			s.WriteByte(' ')
			if r.IntN(4) == 0 {
				fmt.Fprintf(&s, "%d ", r.IntN(100000))
			}
		}
		recs[i] = sink.Record{Data: []byte(s.String()[:1024-3] + "\"}\n")}
	}
	for _, c := range []struct {
		name string
		put  Putter
	}{{"s3", ClientPutter{Client: srv.Client}}, {"discard", discard{}}} {
		b.Run(c.name, func(b *testing.B) {
			d := New(Config{Bucket: bucket, Compression: GZIP}, c.put)
			b.SetBytes(int64(len(recs)) * 1024)
			n := 0
			for b.Loop() {
				n++
				batch := &sink.Batch{ID: fmt.Sprintf("%s-%d", c.name, n), Stream: "s", Version: 1, Records: recs, FirstArrival: time.Now()}
				if _, err := d.Deliver(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

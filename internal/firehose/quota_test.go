package firehose_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
)

// TestDirectPutQuotas: over a delivery stream's records, bytes or
// requests per second, puts are answered as AWS answers them (PutRecord
// and a call over the requests quota with ServiceUnavailableException
// "Slow down.", PutRecordBatch's extra records with that ErrorCode), the
// throttled records are counted and never delivered, and the quotas fill
// again with time (the service's clock, which stands still until moved).
func TestDirectPutQuotas(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "fh-quotas")
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.S3 = s3.ClientPutter{Client: srv.Client}
		o.Now = clk.Now
		o.Quotas = firehose.Quotas{Enabled: true, RecordsPerSec: 10, RequestsPerSec: 4, BytesPerSec: 100}
	})
	c := e.firehose()
	createS3(t, c, "quota", s3Dest(bucket, func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true),
			Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
	}))
	ctx := t.Context()
	batch := func(data ...string) *fh.PutRecordBatchOutput {
		t.Helper()
		recs := make([]fhtypes.Record, len(data))
		for i, d := range data {
			recs[i].Data = []byte(d)
		}
		out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("quota"), Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	slowDown := func(err error) {
		t.Helper()
		var sue *fhtypes.ServiceUnavailableException
		if !errors.As(err, &sue) || sue.ErrorMessage() != "Slow down." {
			t.Fatalf("got %v, want ServiceUnavailableException Slow down.", err)
		}
	}
	want := map[string]bool{}

	// 1st call: 12 records, the quota is 10.
	var data []string
	for i := range 12 {
		data = append(data, fmt.Sprintf("r%d", i))
	}
	out := batch(data...)
	if aws.ToInt32(out.FailedPutCount) != 2 {
		t.Fatalf("FailedPutCount %d, want 2", aws.ToInt32(out.FailedPutCount))
	}
	for i, r := range out.RequestResponses {
		if i < 10 {
			if r.RecordId == nil || r.ErrorCode != nil {
				t.Fatalf("record %d: %+v, want accepted", i, r)
			}
			want[data[i]] = true
		} else if aws.ToString(r.ErrorCode) != "ServiceUnavailableException" || aws.ToString(r.ErrorMessage) != "Slow down." || r.RecordId != nil {
			t.Fatalf("record %d: %+v, want ServiceUnavailableException Slow down.", i, r)
		}
	}
	// 2nd call: no record left this second.
	_, err := c.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("quota"), Record: &fhtypes.Record{Data: []byte("late")}})
	slowDown(err)
	// 3rd and 4th calls use the requests quota up (their record is
	// throttled); the 5th is refused.
	for range 2 {
		if out := batch("x"); aws.ToInt32(out.FailedPutCount) != 1 {
			t.Fatalf("FailedPutCount %d, want 1", aws.ToInt32(out.FailedPutCount))
		}
	}
	_, err = c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("quota"), Records: []fhtypes.Record{{Data: []byte("x")}}})
	slowDown(err)

	// A second later: 100 bytes a second lets 2 of 3 records of 40 bytes in.
	clk.advance(time.Second)
	big := []string{strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)}
	out = batch(big...)
	if aws.ToInt32(out.FailedPutCount) != 1 || out.RequestResponses[2].ErrorCode == nil {
		t.Fatalf("byte quota: %+v", out.RequestResponses)
	}
	want[big[0]], want[big[1]] = true, true

	var st *firehose.Counters
	for _, s := range e.svc.Stats() {
		if s.Name == "quota" {
			st = s.Counters
		}
	}
	if got := st.ThrottledRecords.Load(); got != 2+1+2+1+1 {
		t.Errorf("ThrottledRecords %d, want 7", got)
	}
	if got := st.IncomingRecords.Load(); got != 12 {
		t.Errorf("IncomingRecords %d, want the 12 accepted", got)
	}
	got := map[string]bool{}
	eventually(t, "the accepted records in S3", func() bool {
		keys, err := srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		clear(got)
		for _, k := range keys {
			body, err := srv.Get(ctx, bucket, k)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				got[line] = true
			}
		}
		return len(got) >= len(want)
	})
	for r := range got {
		if !want[r] {
			t.Errorf("throttled record %q was delivered", r)
		}
	}
}

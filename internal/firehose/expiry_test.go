package firehose_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
)

func counters(t *testing.T, svc *firehose.Service, name string) *firehose.Counters {
	t.Helper()
	for _, st := range svc.Stats() {
		if st.Name == name {
			return st.Counters
		}
	}
	t.Fatalf("no counters for %s", name)
	return nil
}

// TestUndeliverableRecordsExpire: a Direct PUT record that cannot be
// delivered (its bucket does not exist on the real S3 server) is retried
// until it is 24 hours old by the service's clock, then dropped and
// counted; once the bucket exists, later records are delivered and the
// dropped one never is.
func TestUndeliverableRecordsExpire(t *testing.T) {
	srv := s3test.Start(t)
	bucket := fmt.Sprintf("fh-expiry-%d", time.Now().UnixNano()) // created later
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.S3 = s3.ClientPutter{Client: srv.Client}
		o.Now = clk.Now
	})
	c := e.firehose()
	createS3(t, c, "expiring", s3Dest(bucket))
	putBatch(t, c, "expiring", "old")
	eventually(t, "failing delivery attempts", func() bool { return counters(t, e.svc, "expiring").DeliveryAttempts.Load() >= 2 })
	clk.advance(23 * time.Hour)
	if n := counters(t, e.svc, "expiring").ExpiredRecords.Load(); n != 0 {
		t.Fatalf("%d records dropped before they were 24 hours old", n)
	}
	clk.advance(time.Hour)
	eventually(t, "the record dropped", func() bool { return counters(t, e.svc, "expiring").ExpiredRecords.Load() == 1 })

	if _, err := srv.Client.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	putBatch(t, c, "expiring", "new")
	var keys []string
	eventually(t, "the new record in S3", func() bool {
		var err error
		keys, err = srv.Keys(t.Context(), bucket, "")
		return err == nil && len(keys) > 0
	})
	if len(keys) != 1 {
		t.Fatalf("objects %v, want only the new record's", keys)
	}
	if body, err := srv.Get(t.Context(), bucket, keys[0]); err != nil || string(body) != "new" {
		t.Fatalf("object %s holds %q (%v), want the new record only", keys[0], body, err)
	}
}

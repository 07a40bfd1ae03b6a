package firehose_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
)

// clock is a clock the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// partitioned is an S3 destination with dynamic partitioning on the
// record's "p" field, 1 MiB and interval seconds.
func partitioned(bucket string, interval int32) *fhtypes.ExtendedS3DestinationConfiguration {
	return s3Dest(bucket, func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.Prefix = aws.String("p=!{partitionKeyFromQuery:p}/")
		c.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
		c.BufferingHints = &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(interval)}
		c.DynamicPartitioningConfiguration = &fhtypes.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)}
		c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
			{Type: fhtypes.ProcessorTypeMetadataExtraction, Parameters: []fhtypes.ProcessorParameter{
				{ParameterName: fhtypes.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String("{p: .p}")},
				{ParameterName: fhtypes.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")}}},
			{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
	})
}

// TestPartitionBuffers puts records of a busy and a quiet partition
// through the Go SDK and reads what a real S3 server received: the busy
// partition is delivered by size while the quiet one waits for its
// interval (the clock stands still until the test moves it), then the
// quiet one is delivered alone.
func TestPartitionBuffers(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "fh-partitions")
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.S3 = s3.ClientPutter{Client: srv.Client}
		o.Now = clk.Now
	})
	c := e.firehose()
	createS3(t, c, "parts", partitioned(bucket, 60))
	ctx := t.Context()

	putBatch(t, c, "parts", `{"p":"quiet","n":0}`)
	pad := strings.Repeat("x", 1000)
	const busy = 1500 // about 1.5 MB: one object by size, the rest waits
	for b := range busy / 500 {
		recs := make([]fhtypes.Record, 500)
		for i := range recs {
			recs[i].Data = fmt.Appendf(nil, `{"p":"busy","n":%d,"pad":%q}`, b*500+i, pad)
		}
		out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("parts"), Records: recs})
		if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
			t.Fatalf("PutRecordBatch: %v", err)
		}
	}
	keys := func(prefix string) []string {
		k, err := srv.Keys(ctx, bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	eventually(t, "the busy partition's first object", func() bool { return len(keys("p=busy/")) > 0 })
	first := keys("p=busy/")
	if len(first) != 1 {
		t.Fatalf("busy partition objects %v, want one (by size)", first)
	}
	body, err := srv.Get(ctx, bucket, first[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < 1<<20 {
		t.Fatalf("the busy partition's object holds %d bytes, less than the 1 MiB size hint", len(body))
	}
	if k := keys("p=quiet/"); len(k) != 0 {
		t.Fatalf("the quiet partition was delivered before its interval: %v", k)
	}

	clk.advance(61 * time.Second)
	eventually(t, "the quiet partition by its interval", func() bool {
		return len(keys("p=quiet/")) == 1 && len(keys("p=busy/")) == 2
	})
	quiet, err := srv.Get(ctx, bucket, keys("p=quiet/")[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(quiet) != "{\"p\":\"quiet\",\"n\":0}\n" {
		t.Fatalf("quiet partition object %q", quiet)
	}
	seen := map[int]int{}
	for _, k := range keys("p=busy/") {
		body, err := srv.Get(ctx, bucket, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			var r struct{ N int }
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			seen[r.N]++
		}
	}
	for n := range busy {
		if seen[n] != 1 {
			t.Fatalf("busy record %d delivered %d times", n, seen[n])
		}
	}
}

// TestActivePartitionLimit: once a delivery stream buffers its quota of
// partitions, the records of a new partition go to the error output as
// activePartitionExceeded.
func TestActivePartitionLimit(t *testing.T) {
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.ActivePartitions = 2
		o.Now = clk.Now
	})
	c := e.firehose()
	createS3(t, c, "limited", partitioned("b", 60))
	putBatch(t, c, "limited", `{"p":"a"}`, `{"p":"b"}`, `{"p":"c"}`, `{"p":"a"}`)
	eventually(t, "the error object", func() bool { return len(e.s3.keys("b/errors/activePartitionExceeded/")) == 1 })
	var er struct {
		ErrorCode string `json:"errorCode"`
		RawData   string `json:"rawData"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(e.s3.get(e.s3.keys("b/errors/activePartitionExceeded/")[0])), &er); err != nil {
		t.Fatal(err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(er.RawData); string(raw) != `{"p":"c"}` || er.ErrorCode != "DynamicPartitioning.ActivePartitionsLimitExceeded" {
		t.Fatalf("error record %+v", er)
	}
	if k := e.s3.keys("b/p="); len(k) != 0 {
		t.Fatalf("partitions delivered before their interval: %v", k)
	}
	clk.advance(61 * time.Second)
	eventually(t, "the two partitions", func() bool { return len(e.s3.keys("b/p=a/")) == 1 && len(e.s3.keys("b/p=b/")) == 1 })
	if got := string(e.s3.get(e.s3.keys("b/p=a/")[0])); got != "{\"p\":\"a\"}\n{\"p\":\"a\"}\n" {
		t.Fatalf("partition a: %q", got)
	}
}

// TestPartitionBuffersRestart: progress is stored once every partition
// holding a read's records has delivered them, so a restart delivers the
// records still buffered and none of the delivered ones again.
func TestPartitionBuffersRestart(t *testing.T) {
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) { o.Now = clk.Now })
	c := e.firehose()
	createS3(t, c, "restart", partitioned("b", 60))
	putBatch(t, c, "restart", `{"p":"a","n":1}`)
	putBatch(t, c, "restart", `{"p":"b","n":1}`)
	clk.advance(61 * time.Second)
	eventually(t, "both partitions", func() bool { return len(e.s3.keys("b/p=a/")) == 1 && len(e.s3.keys("b/p=b/")) == 1 })
	putBatch(t, c, "restart", `{"p":"a","n":2}`)
	e.restart()
	clk.advance(61 * time.Second)
	eventually(t, "the buffered record after the restart", func() bool { return len(e.s3.keys("b/p=a/")) == 2 })
	var got []string
	for _, k := range append(e.s3.keys("b/p=a/"), e.s3.keys("b/p=b/")...) {
		got = append(got, string(e.s3.get(k)))
	}
	if strings.Join(got, "") != "{\"p\":\"a\",\"n\":1}\n{\"p\":\"a\",\"n\":2}\n{\"p\":\"b\",\"n\":1}\n" || len(e.s3.keys("b/p=b/")) != 1 {
		t.Fatalf("objects after the restart: %q", got)
	}
}

// countingPutter counts the writes to an S3 server by the first part of
// their key (up to the first '/'), and how many of them the server took.
type countingPutter struct {
	next         s3.Putter
	mu           sync.Mutex
	tries, wrote map[string]int
}

func (p *countingPutter) Put(ctx context.Context, bucket, key string, body []byte) error {
	err := p.next.Put(ctx, bucket, key, body)
	first, _, _ := strings.Cut(key, "/")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries[first]++
	if err == nil {
		p.wrote[key]++
	}
	return err
}

func (p *countingPutter) counts(first, key string) (tries, wrote int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tries[first], p.wrote[key]
}

// TestPartitionFailureHoldsNoOther: a partition whose objects a real S3
// server refuses is retried while another partition of the same read is
// delivered by its own interval; the stored progress does not pass the
// failing partition's records (a restart delivers the healthy partition
// again) until they are in the error output, and then it does.
func TestPartitionFailureHoldsNoOther(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "fh-failing-partition")
	put := &countingPutter{next: s3.ClientPutter{Client: srv.Client}, tries: map[string]int{}, wrote: map[string]int{}}
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.S3 = put
		o.Now = clk.Now
	})
	c := e.firehose()
	dest := partitioned(bucket, 60)
	dest.DynamicPartitioningConfiguration.RetryOptions = &fhtypes.RetryOptions{DurationInSeconds: aws.Int32(120)}
	createS3(t, c, "failing", dest)
	ctx := t.Context()
	keys := func(prefix string) []string {
		k, err := srv.Keys(ctx, bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	// s3rver keeps an object as a file named after each part of its key:
	// a part longer than the file system's 255 bytes is refused with a
	// 500 InternalError, which Firehose retries.
	long := strings.Repeat("x", 300)
	bad := fmt.Sprintf(`{"p":%q}`, long)
	putBatch(t, c, "failing", bad, `{"p":"good","n":1}`) // one read
	clk.advance(61 * time.Second)
	var goodKey string
	eventually(t, "the healthy partition's object", func() bool {
		k := keys("p=good/")
		if len(k) == 1 {
			goodKey = k[0]
		}
		return goodKey != ""
	})
	tries, _ := put.counts("p="+long, "")
	eventually(t, "another attempt of the failing partition after the healthy one's object", func() bool {
		n, _ := put.counts("p="+long, "")
		return n > tries
	})
	if k := keys("errors/"); len(k) != 0 {
		t.Fatalf("error output written within the retry duration: %v", k)
	}
	if got, err := srv.Get(ctx, bucket, goodKey); err != nil || string(got) != "{\"p\":\"good\",\"n\":1}\n" {
		t.Fatalf("healthy partition object %q, %v", got, err)
	}

	// The read's progress waits for the failing partition: a restart reads
	// the healthy record again and writes the same object again.
	e.restart()
	clk.advance(time.Second)
	eventually(t, "the healthy partition delivered again after a restart", func() bool {
		_, n := put.counts("", goodKey)
		return n == 2
	})

	// Past the retry duration the failing records go to the error output;
	// then the progress passes them.
	n, _ := put.counts("p="+long, "")
	eventually(t, "an attempt after the restart", func() bool { m, _ := put.counts("p="+long, ""); return m > n })
	clk.advance(121 * time.Second)
	eventually(t, "the error output", func() bool { return len(keys("errors/")) == 1 })
	errObj, err := srv.Get(ctx, bucket, keys("errors/")[0])
	if err != nil {
		t.Fatal(err)
	}
	var er struct{ ErrorCode, RawData string }
	if err := json.Unmarshal(bytes.TrimSpace(errObj), &er); err != nil {
		t.Fatalf("error object %q: %v", errObj, err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(er.RawData); string(raw) != bad+"\n" || er.ErrorCode != "S3.PutObject.Failed" {
		t.Fatalf("error record %+v", er)
	}
	e.restart()
	tries, _ = put.counts("p="+long, "")
	putBatch(t, c, "failing", `{"p":"good","n":2}`)
	clk.advance(61 * time.Second)
	eventually(t, "the next healthy object", func() bool { return len(keys("p=good/")) == 2 })
	for _, k := range keys("p=good/") {
		if k == goodKey {
			continue
		}
		if got, err := srv.Get(ctx, bucket, k); err != nil || string(got) != "{\"p\":\"good\",\"n\":2}\n" {
			t.Fatalf("object after the error output %q, %v: records read again", got, err)
		}
	}
	if _, n := put.counts("", goodKey); n != 2 {
		t.Fatalf("the first healthy object was written %d times, want 2 (progress stored after the error output)", n)
	}
	if n, _ := put.counts("p="+long, ""); n != tries {
		t.Fatalf("the refused partition was tried again after its error output (%d tries, then %d)", tries, n)
	}
	if k := keys("p=" + long); len(k) != 0 {
		t.Fatalf("objects of the refused partition: %v", k)
	}
}

// TestPartitionFullBehindFailing: records of a partition whose delivery
// is being retried fill its next buffer, so the delivery stream reads no
// further; a healthy partition read before that is still delivered by
// its interval.
func TestPartitionFullBehindFailing(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "fh-full-partition")
	put := &countingPutter{next: s3.ClientPutter{Client: srv.Client}, tries: map[string]int{}, wrote: map[string]int{}}
	clk := newClock()
	e := newEnv(t, func(o *firehose.Options) {
		o.S3 = put
		o.Now = clk.Now
	})
	c := e.firehose()
	dest := partitioned(bucket, 60)
	dest.DynamicPartitioningConfiguration.RetryOptions = &fhtypes.RetryOptions{DurationInSeconds: aws.Int32(900)}
	createS3(t, c, "full", dest)
	ctx := t.Context()

	long := strings.Repeat("x", 300) // refused by s3rver, as above
	putBatch(t, c, "full", fmt.Sprintf(`{"p":%q}`, long))
	clk.advance(61 * time.Second)
	eventually(t, "the failing partition's first attempt", func() bool { n, _ := put.counts("p="+long, ""); return n > 0 })

	// The healthy record first, so that it is read before the failing
	// partition's 1.2 MB fill its buffer; the record that is not JSON
	// goes to the error output once the read's records are placed, which
	// tells the test the buffer is full before the clock moves.
	pad := strings.Repeat("y", 600000)
	putBatch(t, c, "full", `{"p":"good"}`, fmt.Sprintf(`{"p":%q,"pad":%q}`, long, pad), fmt.Sprintf(`{"p":%q,"pad":%q}`, long, pad), "not JSON")
	eventually(t, "the read placed", func() bool {
		k, err := srv.Keys(ctx, bucket, "errors/processing-failed/")
		return err == nil && len(k) == 1
	})
	clk.advance(61 * time.Second)
	eventually(t, "the healthy partition's object", func() bool {
		k, err := srv.Keys(ctx, bucket, "p=good/")
		return err == nil && len(k) == 1
	})
	tries, _ := put.counts("p="+long, "")
	eventually(t, "the failing partition still retried", func() bool { n, _ := put.counts("p="+long, ""); return n > tries })
	if k, err := srv.Keys(ctx, bucket, "errors/"); err != nil || len(k) != 1 {
		t.Fatalf("error output %v, %v: more than the record that is not JSON within the retry duration", k, err)
	}
}

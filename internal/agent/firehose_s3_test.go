package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/server/servertest"
)

// TestFirehoseFlowToS3ThroughRotation ships a log that is written to
// continuously and rotated by rename halfway through into a Direct PUT
// delivery stream of a Millrace server, which delivers gzip objects to a
// real S3 server. Every line written must be in S3 exactly as written,
// once: the agent neither loses nor repeats lines across a rotation when
// it is not killed.
func TestFirehoseFlowToS3ThroughRotation(t *testing.T) {
	s3srv, srv, bucket := newS3DeliveryStream(t, "logs")
	ctx := t.Context()

	total, pad, a, stop := shipThroughRotation(t, srv, "logs")

	// Read every object until each line is there (or the deadline).
	count := make([]int, total)
	var objects, seen int
	deadline := time.Now().Add(60 * time.Second)
	for {
		clear(count)
		objects, seen = 0, 0
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "app/") || !strings.HasSuffix(k, ".gz") {
				t.Fatalf("object %s is not under the prefix app/ with the suffix .gz", k)
			}
			objects++
			for _, line := range objectLines(t, ctx, s3srv, bucket, k) {
				n := lineNumber(t, k, line, total, pad)
				if count[n] == 0 {
					seen++
				}
				count[n]++
			}
		}
		if seen == total || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	checkOnce(t, count, fmt.Sprintf("%d objects in S3", objects), a)
}

// newS3DeliveryStream starts a Millrace server whose Firehose delivers to
// the test's S3 server and creates a Direct PUT delivery stream named
// stream on it, delivering gzip objects under app/ of a new bucket as
// soon as records arrive.
func newS3DeliveryStream(t *testing.T, stream string) (*s3test.Server, *servertest.Server, string) {
	t.Helper()
	s3srv := s3test.Start(t)
	srv := servertest.Start(t, func(c *config.Config) {
		c.FirehoseS3Endpoint, c.FirehoseS3AccessKeyID, c.FirehoseS3SecretAccessKey = s3srv.Endpoint, s3srv.AccessKeyID, s3srv.SecretAccessKey
	})
	bucket := s3srv.Bucket(t, "agent")
	ctx := t.Context()
	c := fh.New(fh.Options{Region: servertest.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""), HTTPClient: srv.HTTPClient()})
	// An interval of 0 (AWS's minimum for S3) delivers as soon as records
	// are read, so the objects follow the agent closely.
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(stream),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix:            aws.String("app/"),
			CompressionFormat: fhtypes.CompressionFormatGzip,
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the delivery stream to be ACTIVE", func() bool {
		d, err := c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		return d.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive
	})

	return s3srv, srv, bucket
}

// objectLines returns the lines of a gzip object delivered by Firehose
// (each record is a line with its newline, as the agent reads it).
func objectLines(t *testing.T, ctx context.Context, s *s3test.Server, bucket, key string) []string {
	t.Helper()
	body, err := s.Get(ctx, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s is not gzip: %v", key, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if len(plain) > 0 && plain[len(plain)-1] != '\n' {
		t.Fatalf("%s does not end with a newline: a record was cut", key)
	}
	return strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
}

// shipThroughRotation runs an agent with a Firehose flow into the delivery
// stream of srv while a writer appends about 2,000 lines/s to a log (some
// in two parts) that is renamed away and reopened once in the middle. It
// returns once the agent has sent every line: the number of lines, their
// padding ("seq %08d <pad>" each), the agent and its stop.
func shipThroughRotation(t *testing.T, srv *servertest.Server, stream string) (int, string, *Agent, func()) {
	t.Helper()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(agentJSON(t, srv, dir, map[string]any{
		"filePattern": filepath.Join(logDir, "app.log*"), "deliveryStream": stream,
		"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000,
		"minTimeBetweenFilePollsMillis": 20,
	}), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["firehose.endpoint"] = srv.URL
	cfgJSON, _ := json.Marshal(cfg)

	w := &rotWriter{path: filepath.Join(logDir, "app.log"), pad: strings.Repeat("x", 80)}
	w.open(t)
	a, stop := startAgent(t, srv, cfgJSON, Options{})

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		for {
			select {
			case <-done:
				return
			default:
			}
			for range 20 {
				w.writeLine(t, rng.IntN(50) == 0)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	w.rotateRename(t, w.path+".1")
	time.Sleep(1500 * time.Millisecond)
	close(done)
	wg.Wait()
	w.mu.Lock()
	total := w.next
	w.f.Close()
	w.mu.Unlock()

	waitFor(t, 60*time.Second, fmt.Sprintf("the agent to send %d records", total), func() bool {
		return a.Stats.RecordsSent.Load() >= int64(total)
	})

	return total, w.pad, a, stop
}

// lineNumber returns n of a delivered line "seq %08d <pad>" (without its
// newline), failing unless the line is one of the total written, intact.
func lineNumber(t *testing.T, where, line string, total int, pad string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(line, "seq %d ", &n); err != nil || n < 0 || n >= total {
		t.Fatalf("%s holds %q, which was never written", where, line)
	}
	if want := fmt.Sprintf("seq %08d %s", n, pad); line != want {
		t.Fatalf("%s holds %q, written as %q", where, line, want)
	}
	return n
}

// checkOnce reports how often each line arrived (count[n] for line n) and
// fails unless each arrived exactly once.
func checkOnce(t *testing.T, count []int, where string, a *Agent) {
	t.Helper()
	dups, delivered := 0, 0
	var missing []int
	for n, k := range count {
		if k == 0 {
			missing = append(missing, n)
		} else {
			delivered++
		}
		dups += max(k-1, 0)
	}
	t.Logf("%d lines written, %s, %d lines delivered, %d duplicates, %d missing; the agent sent %d records",
		len(count), where, delivered, dups, len(missing), a.Stats.RecordsSent.Load())
	if len(missing) > 0 {
		t.Errorf("%d lines never arrived, the first %v", len(missing), missing[:min(len(missing), 10)])
	}
	if dups > 0 {
		t.Errorf("%d lines arrived more than once", dups)
	}
}

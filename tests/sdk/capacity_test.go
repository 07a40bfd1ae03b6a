package sdk_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
)

func setMode(t *testing.T, c *kinesis.Client, name string, mode types.StreamMode, warm *int32) error {
	t.Helper()
	_, err := c.UpdateStreamMode(t.Context(), &kinesis.UpdateStreamModeInput{
		StreamARN: aws.String(streamARN(name)), StreamModeDetails: &types.StreamModeDetails{StreamMode: mode}, WarmThroughputMiBps: warm,
	})
	return err
}

func summary(t *testing.T, c *kinesis.Client, name string) *types.StreamDescriptionSummary {
	t.Helper()
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.StreamDescriptionSummary
}

func TestUpdateStreamModeSwitches(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	createStream(t, c, "m", 2)
	var iae *types.InvalidArgumentException
	if err := setMode(t, c, "m", types.StreamModeProvisioned, nil); !errors.As(err, &iae) {
		t.Fatalf("same mode: %v", err)
	}
	if err := setMode(t, c, "m", types.StreamModeProvisioned, aws.Int32(4)); !errors.As(err, &iae) {
		t.Fatalf("warm throughput with PROVISIONED: %v", err)
	}
	var rnf *types.ResourceNotFoundException
	if err := setMode(t, c, "nope", types.StreamModeOnDemand, nil); !errors.As(err, &rnf) {
		t.Fatalf("missing stream: %v", err)
	}
	if err := setMode(t, c, "m", types.StreamModeOnDemand, nil); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "m")
	s := summary(t, c, "m")
	if s.StreamModeDetails.StreamMode != types.StreamModeOnDemand || aws.ToInt32(s.OpenShardCount) != 2 {
		t.Fatalf("after switch: %s, %d open shards", s.StreamModeDetails.StreamMode, aws.ToInt32(s.OpenShardCount))
	}
	if s.WarmThroughput == nil || aws.ToInt32(s.WarmThroughput.CurrentMiBps) != 2 {
		t.Fatalf("WarmThroughput of an on-demand stream: %+v", s.WarmThroughput)
	}
	lim, err := c.DescribeLimits(t.Context(), &kinesis.DescribeLimitsInput{})
	if err != nil || aws.ToInt32(lim.OnDemandStreamCount) != 1 || aws.ToInt32(lim.OnDemandStreamCountLimit) != 50 {
		t.Fatalf("limits %+v %v", lim, err)
	}
	_, err = c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String("m"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")})
	var ve interface{ ErrorCode() string }
	if !errors.As(err, &ve) || ve.ErrorCode() != "ValidationException" {
		t.Fatalf("SplitShard on an on-demand stream: %v", err)
	}
	if err := setMode(t, c, "m", types.StreamModeProvisioned, nil); err != nil {
		t.Fatal(err)
	}
	var lee *types.LimitExceededException
	if err := setMode(t, c, "m", types.StreamModeOnDemand, nil); !errors.As(err, &lee) {
		t.Fatalf("third switch within 24 h: %v", err)
	}
	if s := summary(t, c, "m"); s.WarmThroughput != nil {
		t.Fatalf("provisioned stream reports WarmThroughput %+v", s.WarmThroughput)
	}
}

func TestUpdateStreamModeOnDemandQuota(t *testing.T) {
	t.Parallel()
	_, c := start(t, func(cfg *config.Config) { cfg.OnDemandStreamLimit = 1 })
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("od")}); err != nil {
		t.Fatal(err)
	}
	createStream(t, c, "p", 1)
	var lee *types.LimitExceededException
	if err := setMode(t, c, "p", types.StreamModeOnDemand, nil); !errors.As(err, &lee) {
		t.Fatalf("over the on-demand quota: %v", err)
	}
}

func TestWarmThroughputRules(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("od")}); err != nil {
		t.Fatal(err)
	}
	createStream(t, c, "p", 1)
	warm := func(name string, mibps int32) (*kinesis.UpdateStreamWarmThroughputOutput, error) {
		return c.UpdateStreamWarmThroughput(t.Context(), &kinesis.UpdateStreamWarmThroughputInput{StreamName: aws.String(name), WarmThroughputMiBps: aws.Int32(mibps)})
	}
	var iae *types.InvalidArgumentException
	if _, err := warm("od", 10); !errors.As(err, &iae) {
		t.Fatalf("without the billing commitment: %v", err)
	}
	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("w"), WarmThroughputMiBps: aws.Int32(8)})
	if !errors.As(err, &iae) {
		t.Fatalf("CreateStream with warm throughput, no commitment: %v", err)
	}
	if _, err := c.UpdateAccountSettings(t.Context(), &kinesis.UpdateAccountSettingsInput{
		MinimumThroughputBillingCommitment: &types.MinimumThroughputBillingCommitmentInput{Status: types.MinimumThroughputBillingCommitmentInputStatusEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := warm("p", 10); !errors.As(err, &iae) {
		t.Fatalf("provisioned stream: %v", err)
	}
	var lee *types.LimitExceededException
	if _, err := warm("od", 20000); !errors.As(err, &lee) {
		t.Fatalf("over 10 GiBps: %v", err)
	}
	out, err := warm("od", 10)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.StreamName) != "od" || out.WarmThroughput == nil || aws.ToInt32(out.WarmThroughput.TargetMiBps) != 10 {
		t.Fatalf("output %+v", out)
	}
	waitActive(t, c, "od")
	s := summary(t, c, "od")
	if aws.ToInt32(s.OpenShardCount) != 10 || aws.ToInt32(s.WarmThroughput.TargetMiBps) != 10 || aws.ToInt32(s.WarmThroughput.CurrentMiBps) != 10 {
		t.Fatalf("after 10 MiBps: %d shards, warm %+v", aws.ToInt32(s.OpenShardCount), s.WarmThroughput)
	}
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("w"), WarmThroughputMiBps: aws.Int32(6)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "w")
	if s := summary(t, c, "w"); aws.ToInt32(s.OpenShardCount) != 6 {
		t.Fatalf("created with 6 MiBps: %d shards", aws.ToInt32(s.OpenShardCount))
	}
}

// writeLoad writes to a stream from several goroutines until stop closes,
// each PutRecords carrying 500 records of size bytes with random keys; it
// counts records sent and throttled.
func writeLoad(t *testing.T, c *kinesis.Client, name string, workers, size int, stop <-chan struct{}, sent, throttled *atomic.Int64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, size)
			for {
				select {
				case <-stop:
					return
				default:
				}
				entries := make([]types.PutRecordsRequestEntry, 500)
				for j := range entries {
					entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(rand.Uint64())), Data: data}
				}
				out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
				if err != nil {
					continue
				}
				sent.Add(500)
				throttled.Add(int64(aws.ToInt32(out.FailedRecordCount)))
			}
		}()
	}
	return &wg
}

func TestOnDemandScalesUpAndDown(t *testing.T) {
	t.Parallel()
	_, c := start(t, withThroughputLimits, func(cfg *config.Config) {
		// Shards of 20 KiB/s and 40 records/s, so that a test client
		// loads them well past half their capacity.
		cfg.ShardWriteBytesPerSec, cfg.ShardWriteRecordsPerSec = 20<<10, 40
		cfg.OnDemandScaleInterval = 50 * time.Millisecond
		cfg.OnDemandScaleWindow = 100 * time.Millisecond
		cfg.OnDemandQuietPeriod = 200 * time.Millisecond
	})
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("auto")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "auto")
	stop := make(chan struct{})
	var sent, throttled atomic.Int64
	wg := writeLoad(t, c, "auto", 2, 10, stop, &sent, &throttled)
	deadline := time.Now().Add(30 * time.Second)
	for aws.ToInt32(summary(t, c, "auto").OpenShardCount) < 16 {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("open shards %d under sustained load", aws.ToInt32(summary(t, c, "auto").OpenShardCount))
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if throttled.Load() == 0 {
		t.Log("no record was throttled while scaling")
	}
	// Quiet: merged back to the on-demand minimum of 4.
	deadline = time.Now().Add(30 * time.Second)
	for {
		n := aws.ToInt32(summary(t, c, "auto").OpenShardCount)
		if n < 4 {
			t.Fatalf("scaled below 4 open shards: %d", n)
		}
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quiet stream still has %d open shards", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOnDemandEightMiBps is the capacity benchmark: 8 MiB/s of writes to an
// on-demand stream starting from 4 shards, with AWS's per-shard limits and
// the default scaling policy shortened (1 s interval, 3 s window). It
// reports the throttled share after the scale-up window. Run with
// MILLRACE_CAPACITY_BENCH=1; it takes about a minute.
func TestOnDemandEightMiBps(t *testing.T) {
	if os.Getenv("MILLRACE_CAPACITY_BENCH") == "" {
		t.Skip("set MILLRACE_CAPACITY_BENCH=1 to run the 8 MiB/s on-demand benchmark")
	}
	_, c := start(t, withThroughputLimits, func(cfg *config.Config) {
		cfg.OnDemandScaleInterval = time.Second
		cfg.OnDemandScaleWindow = 3 * time.Second
		cfg.MaxRequestBytes = 64 << 20
	})
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("bench")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "bench")
	// 8 MiB/s: 16 PutRecords of 500 x 1 KiB per second, paced.
	const size, perSec = 1024, 16
	var sent, throttled atomic.Int64
	tick := time.NewTicker(time.Second / perSec)
	defer tick.Stop()
	phase := func(d time.Duration) (int64, int64) {
		s0, t0 := sent.Load(), throttled.Load()
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for time.Now().Before(end) {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				entries := make([]types.PutRecordsRequestEntry, 500)
				for j := range entries {
					entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(rand.Uint64())), Data: make([]byte, size)}
				}
				out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries})
				if err != nil {
					t.Errorf("PutRecords: %v", err)
					return
				}
				sent.Add(500)
				throttled.Add(int64(aws.ToInt32(out.FailedRecordCount)))
			}()
		}
		wg.Wait()
		return sent.Load() - s0, throttled.Load() - t0
	}
	s, th := phase(20 * time.Second)
	t.Logf("scale-up window (20 s): %d records, %d throttled (%.2f%%), %d open shards",
		s, th, 100*float64(th)/float64(s), aws.ToInt32(summary(t, c, "bench").OpenShardCount))
	s, th = phase(20 * time.Second)
	t.Logf("after the window (20 s): %d records, %d throttled (%.3f%%), %d open shards, %.2f MiB/s offered",
		s, th, 100*float64(th)/float64(s), aws.ToInt32(summary(t, c, "bench").OpenShardCount), float64(s*size)/20/(1<<20))
	if float64(th) > 0.01*float64(s) {
		t.Errorf("%.2f%% throttled after the scale-up window, want under 1%%", 100*float64(th)/float64(s))
	}
}

package lambda_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// countFile sums the "n" lines and collects the "l" lines the benchmark
// handler wrote.
func countFile(b *testing.B, path string) (n int, lat []float64) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, nil
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "n "); ok {
			k, _ := strconv.Atoi(v)
			n += k
		} else if v, ok := strings.CutPrefix(l, "l "); ok {
			us, _ := strconv.ParseFloat(v, 64)
			lat = append(lat, us/1000)
		}
	}
	return n, lat
}

// handlerCPU is the CPU time the handler processes used, from their last
// "c <pid> <µs>" lines (start-up included), and how many there were.
func handlerCPU(path string) (time.Duration, int) {
	raw, _ := os.ReadFile(path)
	last := map[string]int64{}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "c" {
			us, _ := strconv.ParseInt(f[2], 10, 64)
			last[f[1]] = us
		}
	}
	var sum int64
	for _, us := range last {
		sum += us
	}
	return time.Duration(sum) * time.Microsecond, len(last)
}

// selfCPU is the CPU time this process (the server and the SDK clients)
// has used, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time a record took in this process (server
// and clients) and in the handler processes.
func reportCPU(b *testing.B, count string, total int, selfStart time.Duration) {
	b.ReportMetric(float64((selfCPU()-selfStart).Microseconds())/float64(total), "server+client-cpu-µs/record")
	cpu, instances := handlerCPU(count)
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "handler-cpu-µs/record")
	b.ReportMetric(float64(instances), "instances")
}

// esmBatchSizes are the BatchSizes the throughput benchmarks run with:
// the default (0: none given, 100 for Kinesis), 500 (a common choice, and
// the size the delivery target is stated for) and the largest allowed.
var esmBatchSizes = []int32{0, 500, 10_000}

// batchName names a sub-benchmark by its BatchSize.
func batchName(size int32) string {
	if size == 0 {
		return "BatchSize=default"
	}
	return "BatchSize=" + strconv.Itoa(int(size))
}

// esmBench starts a server with a 4-shard stream and a no-op
// aws-lambda-go function mapped to it (batchSize: 0 for the default, no
// window).
func esmBench(b *testing.B, latency bool, backlog int, batchSize int32) (*kinesis.Client, string) {
	s := servertest.Start(b)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("bench"), ShardCount: aws.Int32(4)}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	count := filepath.Join(b.TempDir(), "count")
	env := map[string]string{"ESM_COUNT": count}
	if latency {
		env["ESM_LATENCY"] = "1"
	}
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("noop"), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String(role), Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: testZip(b)},
		Environment: &types.Environment{Variables: env}}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < backlog; i += 500 {
		putBatch(b, k, 500, i)
	}
	if backlog > 0 {
		b.ResetTimer()
	}
	in := &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("noop"), EventSourceArn: aws.String(streamARNPrefix + "bench"),
		StartingPosition: types.EventSourcePositionTrimHorizon,
	}
	if batchSize > 0 {
		in.BatchSize = aws.Int32(batchSize)
	}
	if _, err := c.CreateEventSourceMapping(ctx, in); err != nil {
		b.Fatal(err)
	}
	if backlog == 0 {
		time.Sleep(500 * time.Millisecond) // the mapping is Enabled and its workers wait
	}
	return k, count
}

func putBatch(b *testing.B, k *kinesis.Client, n, seq int) {
	entries := make([]ktypes.PutRecordsRequestEntry, n)
	data := make([]byte, 100)
	for i := range entries {
		entries[i] = ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(strconv.Itoa(seq + i)), Data: data}
	}
	out, err := k.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		b.Fatalf("PutRecords: %v", err)
	}
}

// BenchmarkEventSourceMappingThroughput: records of 100 bytes put with
// PutRecords of 500 by four clients at once while the mapping delivers
// them; the rate is from the first put to the last record handled.
func BenchmarkEventSourceMappingThroughput(b *testing.B) {
	for _, size := range esmBatchSizes {
		b.Run(batchName(size), func(b *testing.B) { esmThroughput(b, size) })
	}
}

func esmThroughput(b *testing.B, batchSize int32) {
	k, count := esmBench(b, false, 0, batchSize)
	const total, producers = 200_000, 4
	b.ResetTimer()
	start, cpu := time.Now(), selfCPU()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := p * 500; i < total; i += producers * 500 {
				putBatch(b, k, 500, i)
			}
		})
	}
	wg.Wait()
	putDone := time.Since(start)
	for {
		if n, _ := countFile(b, count); n >= total {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatal("not delivered within 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(total)/putDone.Seconds(), "put-records/s")
	reportCPU(b, count, total, cpu)
}

// BenchmarkEventSourceMappingBacklog: 200,000 records of 100 bytes are
// in the stream before the mapping is created (TRIM_HORIZON); the rate is
// from the creation to the last record handled.
func BenchmarkEventSourceMappingBacklog(b *testing.B) {
	for _, size := range esmBatchSizes {
		b.Run(batchName(size), func(b *testing.B) { esmBacklog(b, size) })
	}
}

func esmBacklog(b *testing.B, batchSize int32) {
	const total = 200_000
	_, count := esmBench(b, false, total, batchSize)
	start, cpu := time.Now(), selfCPU()
	for {
		if n, _ := countFile(b, count); n >= total {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatal("not delivered within 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "records/s")
	reportCPU(b, count, total, cpu)
}

// BenchmarkEventSourceMappingLatency: 1,000 records a second (10 every
// 10 ms) for 10 s; the latency is from the record's arrival in the stream
// (its ApproximateArrivalTimestamp, in milliseconds) to the handler.
func BenchmarkEventSourceMappingLatency(b *testing.B) {
	k, count := esmBench(b, true, 0, 0)
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	const total = 10_000
	for i := 0; i < total; i += 10 {
		<-tick.C
		putBatch(b, k, 10, i)
	}
	var lat []float64
	for deadline := time.Now().Add(time.Minute); ; {
		var n int
		if n, lat = countFile(b, count); n >= total {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d records handled", n, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))] }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	fmt.Fprintf(os.Stderr, "latency over %d records: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", len(lat), q(0.5), q(0.99), q(1))
}

package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/bench"
	"github.com/millrace/millrace/internal/server/servertest"
)

func config(url string) bench.Config {
	cfg := bench.Defaults()
	cfg.Endpoint = url
	cfg.AccessKeyID = servertest.AccessKeyID
	cfg.SecretAccessKey = servertest.SecretAccessKey
	cfg.Duration = 0
	cfg.Workers = 2
	cfg.Shards = 3
	cfg.Batch = 50
	cfg.Size = 100
	cfg.Records = 1000
	return cfg
}

func TestRunVerifiesEveryRecord(t *testing.T) {
	srv := servertest.Start(t)
	for _, client := range []string{bench.ClientSDK, bench.ClientRaw} {
		for _, op := range []string{bench.OpPutRecords, bench.OpPutRecord} {
			t.Run(client+"/"+op, func(t *testing.T) {
				cfg := config(srv.URL)
				cfg.Client, cfg.Op = client, op
				if op == bench.OpPutRecord {
					cfg.Records = 60
				}
				cfg.PID = os.Getpid()
				res, err := bench.Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				want := cfg.Records
				if res.Write.Records != want || res.Write.FailedRecords != 0 {
					t.Fatalf("wrote %d records (%d failed), want %d; errors %v", res.Write.Records, res.Write.FailedRecords, want, res.Errors)
				}
				if r := res.Read; r == nil || r.Verified != want || r.Records != want || r.Missing+r.Duplicates+r.Corrupt+r.Foreign != 0 {
					t.Fatalf("read back %+v, want %d verified", res.Read, want)
				}
				// Every record's shard, from the put responses, is the
				// shard it was read back from (put-record sends one key per
				// worker, so perhaps not every shard); keys are 24 bytes.
				if len(res.Write.Shards) == 0 || len(res.Write.Shards) > res.Config.Shards || res.Write.KeyBytes != 24*want || res.Read.KeyBytes != 24*want {
					t.Fatalf("write shards %v, key bytes %d written and %d read", res.Write.Shards, res.Write.KeyBytes, res.Read.KeyBytes)
				}
				var sum int64
				for id, c := range res.Write.Shards {
					if r := res.Read.Shards[id]; r != c || c.Records == 0 || c.Bytes != c.Records*int64(cfg.Size) {
						t.Fatalf("shard %s: wrote %+v, read %+v", id, c, r)
					}
					sum += c.Records
				}
				if sum != want {
					t.Fatalf("shards hold %d records, want %d", sum, want)
				}
				if res.Write.LatencyMs.P50 <= 0 || res.Write.LatencyMs.P999 < res.Write.LatencyMs.P50 {
					t.Fatalf("latency %+v", res.Write.LatencyMs)
				}
				if res.Server == nil || res.Server.PeakRSSMiB <= 0 || res.Server.CPUSeconds < 0 {
					t.Fatalf("server stats %+v", res.Server)
				}
				// The stream created for the run is gone.
				if _, err := srv.Kinesis().DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(res.Stream)}); err == nil {
					t.Fatalf("stream %s still exists", res.Stream)
				}
			})
		}
	}
}

// An existing stream with records from before the run: only the run's
// records are read back, and the stream is kept.
func TestRunExistingStream(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	kc := srv.Kinesis()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("existing"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("existing")}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("existing"), Data: []byte("old record"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	cfg := config(srv.URL)
	cfg.Stream = "existing"
	cfg.Client = bench.ClientRaw
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Read.Verified != cfg.Records || res.Read.Foreign != 0 || res.Config.Shards != 2 {
		t.Fatalf("read back %+v (shards %d)", res.Read, res.Config.Shards)
	}
	if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("existing")}); err != nil {
		t.Fatalf("existing stream deleted: %v", err)
	}
	var table, js bytes.Buffer
	res.WriteTable(&table)
	for _, want := range []string{"throughput", "latency ms", "verified", "missing/dup/corrupt"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := json.NewEncoder(&js).Encode(res); err != nil || !strings.Contains(js.String(), `"records_per_sec"`) {
		t.Fatalf("json %v: %s", err, js.String())
	}
}

// A stream that does not exist fails the run with the server's error code.
func TestRunMissingStream(t *testing.T) {
	srv := servertest.Start(t)
	cfg := config(srv.URL)
	cfg.Stream = "no-such-stream"
	if _, err := bench.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("err %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, mod := range []func(*bench.Config){
		func(c *bench.Config) { c.Client = "curl" },
		func(c *bench.Config) { c.Op = "put" },
		func(c *bench.Config) { c.Batch = 501 },
		func(c *bench.Config) { c.Size = 8 },
		func(c *bench.Config) { c.Workers = 0 },
		func(c *bench.Config) { c.Duration, c.Records = 0, 0 },
		func(c *bench.Config) { c.Shards = 0 },
		func(c *bench.Config) { c.Burst = 2 },                 // no rate
		func(c *bench.Config) { c.Burst, c.RateMBps = 3, 25 }, // 4 workers
		func(c *bench.Config) { c.Burst, c.RateMBps = 8, 25 }, // more than the workers
		func(c *bench.Config) { c.Burst = -1 },
	} {
		cfg := bench.Defaults()
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	cfg := bench.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Burst, cfg.RateMBps = 4, 25
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

package bench_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/bench"
	"github.com/millrace/millrace/internal/server/servertest"
)

func scaleConfig(url, phase string) bench.ScaleConfig {
	cfg := bench.ScaleDefaults()
	cfg.Endpoint = url
	cfg.AccessKeyID = servertest.AccessKeyID
	cfg.SecretAccessKey = servertest.SecretAccessKey
	cfg.Phase = phase
	cfg.Prefix = "scale"
	cfg.Streams, cfg.Shards, cfg.Records, cfg.Size = 3, 2, 7, 100
	cfg.Workers = 2
	// Calls of 4 records: a stream's 14 records take 4 calls, the last
	// one of 2, and calls cross shards.
	cfg.Batch = 4
	cfg.PID = os.Getpid()
	return cfg
}

// Three streams of two shards written, the server restarted, every
// record read back and verified.
func TestRunScale(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	var progress strings.Builder
	cfg := scaleConfig(srv.URL, bench.PhaseWrite)
	cfg.Progress = &progress
	w, err := bench.RunScale(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w.Written != 3*2*7 || w.FailedWrites != 0 || len(w.Errors) != 0 || w.CreateSeconds <= 0 || w.WriteSeconds <= 0 || w.Server == nil || w.Server.RSSMiB <= 0 {
		t.Fatalf("write phase %+v", w)
	}
	// Writing the same streams again fails: they exist, and the error says
	// so.
	if _, err := bench.RunScale(ctx, cfg); err == nil || !strings.Contains(err.Error(), "ResourceInUseException") {
		t.Fatalf("second write phase: %v", err)
	}

	srv.Restart(t)
	cfg = scaleConfig(srv.URL, bench.PhaseRead)
	cfg.Since = time.Now()
	r, err := bench.RunScale(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rd := r.Read; rd == nil || rd.Shards != 6 || rd.Records != 42 || rd.Verified != 42 || rd.Missing+rd.Duplicates+rd.Corrupt != 0 || len(r.Errors) != 0 {
		t.Fatalf("read phase %+v: %+v", r, r.Read)
	}
	if r.ServedSeconds <= 0 || r.ServedCPUSeconds <= 0 || r.AfterRestart == nil || r.AfterRestart.RSSAnonMiB <= 0 || r.AfterRestart.RSSAnonMiB > r.AfterRestart.RSSMiB || r.ReadPeakRSSMiB <= 0 || r.ReadPeakRSSAnonMiB <= 0 || r.ReadPeakRSSAnonMiB > r.ReadPeakRSSMiB {
		t.Fatalf("read phase %+v, after restart %+v", r, r.AfterRestart)
	}
	if !strings.Contains(progress.String(), "scale write: wrote 42 records") {
		t.Errorf("progress %q", progress.String())
	}

	// Expecting more records than were written: every shard misses one.
	cfg.Records = 8
	r, err = bench.RunScale(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "6 missing") || r.Read.Verified != 42 {
		t.Fatalf("read of 8 a shard: %v, %+v", err, r.Read)
	}
	// Records of another size are not the ones written.
	cfg.Records, cfg.Size = 7, 101
	if r, err = bench.RunScale(ctx, cfg); err == nil || r.Read.Corrupt != 42 {
		t.Fatalf("read of 101-byte records: %v, %+v", err, r.Read)
	}
	// A stream that is not there fails the phase with the server's error.
	cfg.Size, cfg.Streams = 100, 4
	if _, err = bench.RunScale(ctx, cfg); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("read of 4 streams: %v", err)
	}
}

func TestScaleValidate(t *testing.T) {
	for _, mod := range []func(*bench.ScaleConfig){
		func(c *bench.ScaleConfig) { c.Phase = "both" },
		func(c *bench.ScaleConfig) { c.Streams = 0 },
		func(c *bench.ScaleConfig) { c.Shards = 0 },
		func(c *bench.ScaleConfig) { c.Records = 0 },
		func(c *bench.ScaleConfig) { c.Size = 11 },
		func(c *bench.ScaleConfig) { c.Batch = 501 },
		func(c *bench.ScaleConfig) { c.Workers = 0 },
		func(c *bench.ScaleConfig) { c.Prefix = "" },
	} {
		cfg := bench.ScaleDefaults()
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	cfg := bench.ScaleDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

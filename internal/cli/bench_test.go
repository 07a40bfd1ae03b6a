package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/bench"
	"github.com/millrace/millrace/internal/server/servertest"
)

func TestBenchHelpListsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"bench", "--help"}, {"help", "bench"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
		cfg := bench.Defaults()
		var j bool
		var prof string
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		benchFlags(fs, &cfg, &j, &prof)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, f.Usage) {
				t.Errorf("%q: help lacks --%s", args, f.Name)
			}
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--client", "curl"}, `client: "curl" must be sdk or raw`},
		{[]string{"bench", "--batch", "0"}, "batch: 0 must be between 1 and 500"},
		{[]string{"bench", "--nope"}, "flag provided but not defined"},
		{[]string{"bench", "--burst", "4"}, "burst: 4 needs a rate"},
		{[]string{"bench", "--burst", "3", "--rate", "25"}, "burst: 3 must divide workers (4)"},
		{[]string{"bench", "stray"}, `unexpected argument "stray"`},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, errOut)
		}
	}
}

func TestBenchJSON(t *testing.T) {
	srv := servertest.Start(t)
	code, out, errOut := runCLI(t, nil, "bench", "--endpoint", srv.URL, "--client", "raw",
		"--duration", "0", "--records", "200", "--batch", "100", "--size", "64", "--shards", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Write.Records != 200 || res.Read == nil || res.Read.Verified != 200 {
		t.Fatalf("result %+v", res)
	}
	// Bursts of two: each worker's one call released together, reported
	// as one burst with the latency of its first and second answer; the
	// CPU profile of the write phase is written.
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	code, out, errOut = runCLI(t, nil, "bench", "--endpoint", srv.URL, "--client", "raw", "--workers", "2", "--burst", "2", "--rate", "50",
		"--duration", "0", "--records", "200", "--batch", "100", "--size", "64", "--shards", "2", "--read=false", "--json", "--cpuprofile", prof)
	if code != 0 {
		t.Fatalf("burst: exit %d, stderr %q", code, errOut)
	}
	res = bench.Result{}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Config.Burst != 2 || res.Write.Records != 200 || res.Write.Bursts != 1 || len(res.Write.BurstLatencyMs) != 2 ||
		res.Write.BurstLatencyMs[1].Max < res.Write.BurstLatencyMs[0].Max || !strings.Contains(out, `"burst_latency_ms"`) {
		t.Fatalf("burst result %+v", res)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Fatalf("cpu profile: %v", err)
	}
	code, out, _ = runCLI(t, nil, "bench", "--endpoint", srv.URL, "--duration", "0", "--records", "10", "--batch", "5", "--size", "16", "--shards", "1")
	if code != 0 || !strings.Contains(out, "records/s") || !strings.Contains(out, "verified") {
		t.Fatalf("exit %d, table %q", code, out)
	}
}

func TestBenchScaleHelpAndUsage(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "bench", "scale", "--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "millrace bench scale --phase write|read") {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	cfg := bench.ScaleDefaults()
	var since string
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	benchScaleFlags(fs, &cfg, &since)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out, "--"+f.Name) {
			t.Errorf("help lacks --%s", f.Name)
		}
	})
	if _, out, _ := runCLI(t, nil, "bench", "--help"); !strings.Contains(out, "millrace bench scale") {
		t.Errorf("bench help does not name bench scale:\n%s", out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "scale", "--phase", "both"}, `phase: "both" must be write or read`},
		{[]string{"bench", "scale", "--since", "yesterday"}, `since: "yesterday" is not a time in Unix nanoseconds`},
		{[]string{"bench", "scale", "--size", "8"}, "size: 8 must be between 12 and 1048576 bytes"},
		{[]string{"bench", "scale", "stray"}, `unexpected argument "stray"`},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, errOut)
		}
	}
}

// The two phases through the command line, with a restart between them.
func TestBenchScalePhases(t *testing.T) {
	srv := servertest.Start(t)
	args := []string{"bench", "scale", "--endpoint", srv.URL, "--streams", "2", "--shards", "3", "--records", "4", "--size", "64", "--workers", "2"}
	code, out, errOut := runCLI(t, nil, append(args, "--phase", "write")...)
	var w bench.ScaleResult
	if code != 0 || json.Unmarshal([]byte(out), &w) != nil || w.Written != 24 {
		t.Fatalf("write: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	srv.Restart(t)
	code, out, errOut = runCLI(t, nil, append(args, "--phase", "read")...)
	var r bench.ScaleResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Read == nil || r.Read.Verified != 24 || r.Read.Missing != 0 {
		t.Fatalf("read: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	// Reading more than was written fails the command, with the figures.
	code, out, errOut = runCLI(t, nil, append(args, "--phase", "read", "--records", "5")...)
	if code != exitError || !strings.Contains(errOut, "6 missing") || !strings.Contains(out, `"missing": 6`) {
		t.Fatalf("read of 5: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

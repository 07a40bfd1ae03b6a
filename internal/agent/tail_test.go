package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"
)

func TestInitialPositionEndOfFile(t *testing.T) {
	srv, c := newStream(t, "s", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, lines(0, 10)+"in progr")
	a, stop := startAgent(t, srv, agentJSON(t, srv, dir, map[string]any{
		"filePattern": log, "kinesisStream": "s", "maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10,
	}), Options{})
	waitFor(t, 10*time.Second, "the agent to track the file", func() bool { return a.Stats.BytesRead.Load() > 0 })
	appendFile(t, log, "ess\n"+lines(10, 12))
	waitFor(t, 10*time.Second, "3 records", func() bool { return a.Stats.RecordsSent.Load() >= 3 })
	stop()
	got := dataOf(t, c, "s")
	want := []string{"in progress\n", "line 000010\n", "line 000011\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// dataOf returns the data of the stream's records, shard after shard.
func dataOf(t *testing.T, c *kinesis.Client, stream string) []string {
	t.Helper()
	var out []string
	for _, sh := range readStream(t, c, stream) {
		for _, r := range sh {
			out = append(out, string(r.Data))
		}
	}
	return out
}

func TestHeaderMultiLineFooterAndTruncation(t *testing.T) {
	srv, c := newStream(t, "s", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	long := strings.Repeat("y", maxRecordData+100)
	appendFile(t, log, "header one\nheader two\n[1] first\n  more\n[2] second\n"+long+"\n[3] third\n[4] fourth\n  tail of four\n")
	a, stop := startAgent(t, srv, agentJSON(t, srv, dir, map[string]any{
		"filePattern": log, "kinesisStream": "s", "initialPosition": "START_OF_FILE",
		"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10,
		"skipHeaderLines": 2, "multiLineStartPattern": `^\[`, "truncatedRecordTerminator": "<cut>\n",
		"fileFooterPattern": `^END$`,
	}), Options{})
	waitFor(t, 10*time.Second, "3 records", func() bool { return a.Stats.RecordsSent.Load() >= 3 })
	// [4] is the last record: it goes when the file stays idle for
	// maxBufferAgeMillis, or at the footer, whichever comes first.
	appendFile(t, log, "END\n[5] after the footer\n")
	waitFor(t, 10*time.Second, "4 records", func() bool { return a.Stats.RecordsSent.Load() >= 4 })
	stop()
	got := dataOf(t, c, "s")
	if len(got) != 4 {
		t.Fatalf("%d records: %.80q", len(got), got)
	}
	if got[0] != "[1] first\n  more\n" || got[2] != "[3] third\n" || got[3] != "[4] fourth\n  tail of four\n" {
		t.Errorf("records: %.80q", got)
	}
	if len(got[1]) != maxRecordData || !strings.HasPrefix(got[1], "[2] second\nyyy") || !strings.HasSuffix(got[1], "y<cut>\n") {
		t.Errorf("cut record: %d bytes, %.40q...%q", len(got[1]), got[1], got[1][len(got[1])-10:])
	}
	if a.Stats.RecordsTruncated.Load() != 1 {
		t.Errorf("%d records truncated, want 1", a.Stats.RecordsTruncated.Load())
	}
}

func TestTruncatedAndRefilledBetweenPolls(t *testing.T) {
	srv, c := newStream(t, "s", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, lines(0, 50))
	a, stop := startAgent(t, srv, agentJSON(t, srv, dir, map[string]any{
		"filePattern": log, "kinesisStream": "s", "initialPosition": "START_OF_FILE",
		"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 300,
	}), Options{})
	waitFor(t, 10*time.Second, "50 records", func() bool { return a.Stats.RecordsSent.Load() >= 50 })
	// Replaced in place by more data than before: the size alone does not
	// show it, the first bytes do.
	if err := os.WriteFile(log, []byte(lines(1000, 1100)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "150 records", func() bool { return a.Stats.RecordsSent.Load() >= 150 })
	stop()
	got := strings.Join(dataOf(t, c, "s"), "")
	if got != lines(0, 50)+lines(1000, 1100) {
		t.Errorf("stream holds:\n%s", got)
	}
}

func TestDeletedFileIsReadToItsEnd(t *testing.T) {
	srv, c := newStream(t, "s", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(lines(0, 10))
	a, stop := startAgent(t, srv, agentJSON(t, srv, dir, map[string]any{
		"filePattern": log, "kinesisStream": "s", "initialPosition": "START_OF_FILE",
		"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 200,
	}), Options{})
	waitFor(t, 10*time.Second, "10 records", func() bool { return a.Stats.RecordsSent.Load() >= 10 })
	f.WriteString(lines(10, 20))
	os.Remove(log)
	f.WriteString(lines(20, 30))
	appendFile(t, log, lines(100, 105)) // a new file at the path
	waitFor(t, 10*time.Second, "35 records", func() bool { return a.Stats.RecordsSent.Load() >= 35 })
	stop()
	got := strings.Join(dataOf(t, c, "s"), "")
	if got != lines(0, 30)+lines(100, 105) {
		t.Errorf("stream holds:\n%s", got)
	}
}

func TestEndpointDownStopsReadingThenResumes(t *testing.T) {
	srv, c := newStream(t, "s", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, lines(0, 10))
	reg := prometheus.NewRegistry()
	a, stop := startAgent(t, srv, agentJSON(t, srv, dir, map[string]any{
		"filePattern": log, "kinesisStream": "s", "initialPosition": "START_OF_FILE",
		"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10,
		"retryInitialBackoffMillis": 10, "retryMaxBackoffMillis": 200,
	}), Options{MaxBufferedBytes: 1 << 20, Registerer: reg, NoRateLimit: true})
	waitFor(t, 10*time.Second, "10 records", func() bool { return a.Stats.RecordsSent.Load() >= 10 })
	srv.Stop(t)
	big := lines(10, 400010) // 4.8 MB
	appendFile(t, log, big)
	// The agent reads up to its buffer, then waits.
	waitFor(t, 10*time.Second, "reading to stop", func() bool {
		before := a.Stats.BytesRead.Load()
		time.Sleep(300 * time.Millisecond)
		return before > 0 && a.Stats.BytesRead.Load() == before
	})
	// The buffer counts data and partition keys: each 12-byte line holds
	// about 30 bytes of it. What is read beyond is one read (256 KiB).
	if n := a.Stats.BytesRead.Load(); n > 1<<20 {
		t.Errorf("read %d bytes of %d with the endpoint down and a 1 MiB buffer", n, len(big))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var backlog float64
	for _, mf := range mfs {
		if mf.GetName() == "millrace_agent_backlog_bytes" {
			backlog = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if backlog < float64(len(big))/2 {
		t.Errorf("backlog metric %v with %d bytes unsent", backlog, len(big))
	}
	srv.Restart(t)
	waitFor(t, 2*time.Minute, "400010 records", func() bool { return a.Stats.RecordsSent.Load() >= 400010 })
	stop()
	got := strings.Join(dataOf(t, c, "s"), "")
	if got != lines(0, 400010) {
		t.Errorf("stream holds %d bytes, want %d", len(got), len(lines(0, 400010)))
	}
}

func TestManyFilesAndFlows(t *testing.T) {
	srv, c := newStream(t, "s", 4)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "web"), 0o755)
	os.Mkdir(filepath.Join(dir, "db"), 0o755)
	var want []string
	for _, name := range []string{"web/a.log", "web/b.log", "web/c.log", "db/x.log"} {
		var s strings.Builder
		for i := range 200 {
			line := name + " " + lines(i, i+1)
			s.WriteString(line)
			want = append(want, line)
		}
		appendFile(t, filepath.Join(dir, name), s.String())
	}
	a, stop := startAgent(t, srv, agentJSON(t, srv, dir,
		map[string]any{"filePattern": filepath.Join(dir, "web", "*.log"), "kinesisStream": "s",
			"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10},
		map[string]any{"filePattern": filepath.Join(dir, "db", "*.log"), "kinesisStream": "s",
			"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10,
			"partitionKeyOption": "DETERMINISTIC"},
	), Options{NoRateLimit: true})
	waitFor(t, 10*time.Second, "800 records", func() bool { return a.Stats.RecordsSent.Load() >= 800 })
	stop()
	got := dataOf(t, c, "s")
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("got %d records, want %d, each once", len(got), len(want))
	}
	// Each file's lines are in order within each shard.
	for _, sh := range readStream(t, c, "s") {
		last := map[string]string{}
		for _, r := range sh {
			name, rest, _ := strings.Cut(string(r.Data), " ")
			if rest <= last[name] {
				t.Errorf("%s: %q after %q in a shard", name, rest, last[name])
			}
			last[name] = rest
		}
	}
}

package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/aggregation"
)

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll reads every record of every shard of a stream, deaggregated.
func readAll(t *testing.T, c *kinesis.Client, stream string) []aggregation.UserRecord {
	t.Helper()
	shards, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var all []aggregation.UserRecord
	for _, s := range shards.Shards {
		it, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, aggregation.Deaggregate(out.Records)...)
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return all
}

var putSummary = regexp.MustCompile(`^(\d+) records written \(([^)]*) of data\) in [0-9.hms]+, \d+ records/s(; (\d+) failed)?\n$`)

func TestPutFromFileDeliversEveryLineOnce(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "lines", 3)
	var b strings.Builder
	const n = 2500
	for i := range n {
		fmt.Fprintf(&b, "line %d\r\n", i)
		if i == 100 {
			b.WriteString("\n") // skipped
		}
	}
	b.WriteString("last, without a newline")
	file := writeTestFile(t, t.TempDir(), "in.txt", b.String())
	code, out, errOut := runCLI(t, nil, "put", "lines", "--endpoint", srv.URL, "--file", file)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	m := putSummary.FindStringSubmatch(errOut)
	if m == nil || m[1] != strconv.Itoa(n+1) || m[3] != "" {
		t.Fatalf("summary %q", errOut)
	}
	recs := readAll(t, c, "lines")
	seen := map[string]int{}
	keys := map[string]bool{}
	for _, r := range recs {
		seen[string(r.Data)]++
		keys[r.PartitionKey] = true
		if r.Aggregated {
			t.Fatalf("record %q aggregated without --aggregate", r.Data)
		}
	}
	if len(recs) != n+1 || len(seen) != n+1 || seen["last, without a newline"] != 1 || seen["line 0"] != 1 || seen["line 2499"] != 1 {
		t.Fatalf("%d records, %d distinct", len(recs), len(seen))
	}
	if len(keys) != n+1 {
		t.Errorf("%d distinct partition keys, want one per line (%d)", len(keys), n+1)
	}
}

func TestPutStdinKeysAndAggregation(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "keys", 2)
	var in strings.Builder
	want := map[string]string{"x": "fixed", "y": "fixed"}
	for i := range 200 {
		var line string
		switch i % 3 {
		case 0:
			line = fmt.Sprintf(`{"user":"ann","n":%d}`, i)
			want[line] = "ann"
		case 1:
			line = fmt.Sprintf(`{"n":%d,"user":"bob"}`, i)
			want[line] = "bob"
		case 2:
			line = fmt.Sprintf(`{"user":7,"n":%d}`, i)
			want[line] = "7"
		}
		in.WriteString(line + "\n")
	}
	stdin = strings.NewReader(in.String())
	t.Cleanup(func() { stdin = os.Stdin })
	if code, _, errOut := runCLI(t, nil, "put", "keys", "--endpoint", srv.URL, "--key-field", "user", "--aggregate"); code != 0 {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	stdin = strings.NewReader("x\ny\n")
	if code, _, errOut := runCLI(t, nil, "put", "keys", "--endpoint", srv.URL, "--partition-key", "fixed", "--file", "-"); code != 0 {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	got := map[string]string{}
	aggregated := 0
	for _, r := range readAll(t, c, "keys") {
		got[string(r.Data)] = r.PartitionKey
		if r.Aggregated {
			aggregated++
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", got, want)
	}
	// 200 records put at once are not all sent alone.
	if aggregated == 0 || aggregated > 200 {
		t.Errorf("%d records aggregated, want some of the 200 put with --aggregate", aggregated)
	}
}

func TestPutFailures(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "fails", 1)
	dir := t.TempDir()

	// A line that is not a JSON object with --key-field stops the input;
	// the lines before it are sent.
	file := writeTestFile(t, dir, "bad.jsonl", "{\"k\":\"a\"}\nnot json\n{\"k\":\"b\"}\n")
	code, _, errOut := runCLI(t, nil, "put", "fails", "--endpoint", srv.URL, "--file", file, "--key-field", "k")
	if code != exitError || !strings.Contains(errOut, "line 2: --key-field k: the line is not a JSON object") || !strings.HasPrefix(errOut, "1 records written") {
		t.Errorf("bad json: exit %d, %q", code, errOut)
	}

	// Records the stream refuses fail for good: exit status 1, counted.
	file = writeTestFile(t, dir, "ok.txt", "a\nb\n")
	code, _, errOut = runCLI(t, nil, "put", "nope", "--endpoint", srv.URL, "--file", file, "--record-ttl", "2s")
	if code != exitError || !strings.Contains(errOut, "2 of 2 records failed") || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("missing stream: exit %d, %q", code, errOut)
	}
	if m := putSummary.FindStringSubmatch(strings.SplitAfter(errOut, "\n")[0]); m == nil || m[1] != "0" || m[4] != "2" {
		t.Errorf("missing stream: summary %q", errOut)
	}

	// A line too long for a record.
	file = writeTestFile(t, dir, "long.txt", "short\n"+strings.Repeat("x", 1<<20+1)+"\n")
	code, _, errOut = runCLI(t, nil, "put", "fails", "--endpoint", srv.URL, "--file", file)
	if code != exitError || !strings.Contains(errOut, "line 2: longer than 1048576 bytes") {
		t.Errorf("long line: exit %d, %q", code, errOut)
	}
}

func TestPutUsageErrors(t *testing.T) {
	isolateAWSConfig(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"put"}, "put takes one stream name or ARN, got 0 arguments"},
		{[]string{"put", "s", "--partition-key", "k", "--key-field", "f"}, "--partition-key and --key-field exclude each other"},
		{[]string{"put", "s", "--partition-key", strings.Repeat("k", 257)}, "--partition-key is 257 bytes long, at most 256 allowed"},
		{[]string{"put", "s", "--file", "/nonexistent/in.txt"}, "/nonexistent/in.txt"},
		{[]string{"put", "s", "--record-ttl", "0s"}, "--record-ttl 0s must be positive"},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestReadLine(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("a\r\n\nb\nc"), 16)
	var got []string
	for {
		l, err := readLine(r)
		if err != nil {
			break
		}
		got = append(got, string(l))
	}
	if strings.Join(got, "|") != "a||b|c" {
		t.Fatalf("lines %q", got)
	}
}

// SIGINT stops put: it exits 1 saying so, and the summary counts every
// record read as either written or failed.
func TestPutInterrupted(t *testing.T) {
	srv, c := startServer(t, limitsOn)
	createStream(t, c, "stopped", 1)
	const n = 5000 // 5 s at the shard's 1000 records/s
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%d\n", i)
	}
	stdin = strings.NewReader(in.String())
	t.Cleanup(func() { stdin = os.Stdin })
	put := runBackground(t, "put", "stopped", "--endpoint", srv.URL)
	put.cancel()
	if code := put.wait(t); code != exitError {
		t.Fatalf("exit %d, stderr %q", code, put.stderr.String())
	}
	errOut := put.stderr.String()
	m := putSummary.FindStringSubmatch(strings.SplitAfter(errOut, "\n")[0])
	if m == nil || !strings.Contains(errOut, "millrace: interrupted: ") {
		t.Fatalf("stderr %q", errOut)
	}
	written, _ := strconv.Atoi(m[1])
	if got := len(readAll(t, c, "stopped")); got < written || written >= n {
		t.Errorf("%d records on the stream, %d reported written of %d", got, written, n)
	}
}

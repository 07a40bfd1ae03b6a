package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/aggregation"
)

// tailLine is one line of tail's text output.
type tailLine struct {
	shard, seq, key, arrival, data string
}

func parseTailLines(t *testing.T, lines []string) []tailLine {
	t.Helper()
	var out []tailLine
	for _, l := range lines {
		f := strings.SplitN(l, " ", 5)
		if len(f) != 5 {
			t.Fatalf("line %q has %d fields, want 5", l, len(f))
		}
		if _, err := time.Parse(arrivalLayout, f[3]); err != nil {
			t.Fatalf("line %q: arrival: %v", l, err)
		}
		out = append(out, tailLine{f[0], f[1], f[2], f[3], f[4]})
	}
	return out
}

func keysAndData(n int, key func(i int) string, data func(i int) string) ([]string, [][]byte) {
	keys, datas := make([]string, n), make([][]byte, n)
	for i := range n {
		keys[i], datas[i] = key(i), []byte(data(i))
	}
	return keys, datas
}

// The tail reads the parent shard to its end, then both children of a
// split made while it runs, so every record comes out once and the records
// of a key in the order they were put.
func TestTailFollowsSplit(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "split", 1)
	const before, after = 40, 200
	key := func(i int) string { return "k" + strconv.Itoa(i%8) }
	keys, datas := keysAndData(before, key, func(i int) string { return fmt.Sprintf("r%d", i) })
	putRecords(t, c, "split", keys, datas)

	tail := runBackground(t, "tail", "split", "--endpoint", srv.URL, "--from", "trim-horizon", "--max", strconv.Itoa(before+after))
	tail.waitLines(t, before)
	if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{
		StreamName: aws.String("split"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728"),
	}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	waitActive(t, c, "split")
	keys, datas = keysAndData(after, key, func(i int) string { return fmt.Sprintf("r%d", before+i) })
	putRecords(t, c, "split", keys, datas)

	if code := tail.wait(t); code != 0 {
		t.Fatalf("tail: exit %d, stderr %q", code, tail.stderr.String())
	}
	lines := parseTailLines(t, tail.stdout.lines())
	if len(lines) != before+after {
		t.Fatalf("%d lines, want %d", len(lines), before+after)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	shards := map[string]int{}
	for _, l := range lines {
		if seen[l.data] {
			t.Fatalf("record %s printed twice", l.data)
		}
		seen[l.data] = true
		n, _ := strconv.Atoi(strings.TrimPrefix(l.data, "r"))
		if l.key != key(n) {
			t.Errorf("record %s has key %s, want %s", l.data, l.key, key(n))
		}
		if p, ok := last[l.key]; ok && p > n {
			t.Errorf("key %s: record %d printed after %d", l.key, n, p)
		}
		last[l.key] = n
		shards[l.shard]++
		if wantParent := n < before; wantParent != (l.shard == "shardId-000000000000") {
			t.Errorf("record %d read from %s", n, l.shard)
		}
	}
	if shards["shardId-000000000001"] == 0 || shards["shardId-000000000002"] == 0 {
		t.Errorf("records per shard %v: want some on both children", shards)
	}
}

// Records a merge sends to the child are printed after those of both
// parents.
func TestTailFollowsMergeFromLatest(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "merge", 2)
	tail := runBackground(t, "tail", "merge", "--endpoint", srv.URL, "--key", "mine")
	// LATEST: records put before the tail holds its iterators are not
	// printed, so keep putting until one is.
	for i := 0; len(tail.stdout.lines()) == 0; i++ {
		putRecords(t, c, "merge", []string{"mine"}, [][]byte{[]byte("before-" + strconv.Itoa(i))})
		time.Sleep(20 * time.Millisecond)
		select {
		case code := <-tail.done:
			t.Fatalf("tail ended with %d: %q", code, tail.stderr.String())
		default:
		}
	}
	if _, err := c.MergeShards(t.Context(), &kinesis.MergeShardsInput{StreamName: aws.String("merge"),
		ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	waitActive(t, c, "merge")
	putRecords(t, c, "merge", []string{"other", "mine", "mine"}, [][]byte{[]byte("x"), []byte("after-1"), []byte("after-2")})
	for !strings.HasSuffix(tail.stdout.String(), " after-2\n") {
		select {
		case code := <-tail.done:
			t.Fatalf("tail ended with %d: %q; stdout %q", code, tail.stderr.String(), tail.stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	tail.cancel()
	if code := tail.wait(t); code != 0 {
		t.Fatalf("tail: exit %d, stderr %q", code, tail.stderr.String())
	}
	lines := parseTailLines(t, tail.stdout.lines())
	n := len(lines)
	if n < 3 || lines[n-2].data != "after-1" || lines[n-1].data != "after-2" {
		t.Fatalf("lines %v", lines)
	}
	for _, l := range lines[:n-2] {
		if !strings.HasPrefix(l.data, "before-") || l.key != "mine" {
			t.Errorf("line %v before the merge's records", l)
		}
	}
	if lines[n-2].shard != "shardId-000000000002" || lines[n-1].shard != "shardId-000000000002" {
		t.Errorf("after the merge, records read from %s and %s, want shardId-000000000002", lines[n-2].shard, lines[n-1].shard)
	}
}

func TestTailFilters(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "filters", 1)
	keys := []string{"a", "b", "a", "a", "b", "c"}
	datas := [][]byte{[]byte("apple pie"), []byte("apple tart"), []byte("banana"), []byte("cherry apple"), []byte("kiwi"), []byte("apple")}
	putRecords(t, c, "filters", keys, datas)
	// Arrival times and the timestamp sent have milliseconds.
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	putRecords(t, c, "filters", []string{"a", "b"}, [][]byte{[]byte("late apple"), []byte("late plum")})

	for _, tt := range []struct {
		args []string
		want []string // data, in order
	}{
		{[]string{"--key", "a", "--max", "4"}, []string{"apple pie", "banana", "cherry apple", "late apple"}},
		{[]string{"--grep", "^apple", "--max", "3"}, []string{"apple pie", "apple tart", "apple"}},
		{[]string{"--grep", "apple", "--key", "a", "--max", "3"}, []string{"apple pie", "cherry apple", "late apple"}},
		{[]string{"--from", "timestamp", "--timestamp", mid.Format(time.RFC3339Nano), "--max", "2"}, []string{"late apple", "late plum"}},
		{[]string{"--timestamp", mid.Format(time.RFC3339Nano), "--key", "b", "--max", "1"}, []string{"late plum"}},
		{[]string{"--max", "8"}, []string{"apple pie", "apple tart", "banana", "cherry apple", "kiwi", "apple", "late apple", "late plum"}},
	} {
		args := append([]string{"tail", "filters", "--endpoint", srv.URL, "--format", "raw"}, tt.args...)
		if !strings.Contains(strings.Join(tt.args, " "), "timestamp") {
			args = append(args, "--from", "trim-horizon")
		}
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", tt.args, code, errOut)
		}
		if got := strings.TrimSuffix(out, "\n"); got != strings.Join(tt.want, "\n") {
			t.Errorf("%q: got\n%s\nwant\n%s", tt.args, got, strings.Join(tt.want, "\n"))
		}
	}
}

// --max reached in the middle of one shard's batch ends the readers of
// every shard.
func TestTailMaxEndsEveryShard(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "max", 3)
	keys, datas := keysAndData(300, func(i int) string { return strconv.Itoa(i) }, func(i int) string { return strconv.Itoa(i) })
	putRecords(t, c, "max", keys, datas)
	for _, args := range [][]string{{"--max", "1"}, {"--max", "2", "--grep", "^1"}, {"--max", "299"}} {
		tail := runBackground(t, append([]string{"tail", "max", "--endpoint", srv.URL, "--from", "trim-horizon", "--format", "raw"}, args...)...)
		if code := tail.wait(t); code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", args, code, tail.stderr.String())
		}
		want, _ := strconv.Atoi(args[1])
		if got := len(tail.stdout.lines()); got != want {
			t.Errorf("%q: %d lines", args, got)
		}
	}
}

func TestTailFormats(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "formats", 1)
	agg, err := aggregation.Marshal([]aggregation.Record{
		{PartitionKey: "u1", Data: []byte("one")},
		{PartitionKey: "u2", Data: []byte(`{"n":2}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	putRecords(t, c, "formats", []string{"k1", "k 2", "k3", "k4", "agg"}, [][]byte{
		[]byte(`{"a": [1, 2]}`), []byte("two\nlines"), {0xff, 0x00, 0x01}, []byte("plain text"), agg})

	code, out, errOut := runCLI(t, nil, "tail", "formats", "--endpoint", srv.URL, "--from", "trim-horizon", "--max", "6")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	wantSuffix := []string{` k1 `, ` "k 2" `, ` k3 `, ` k4 `, ` u1 `, ` u2 `}
	wantData := []string{`{"a": [1, 2]}`, `"two\nlines"`, "base64:/wAB", "plain text", "one", `{"n":2}`}
	for i, l := range lines {
		if !strings.Contains(l, wantSuffix[i]) || !strings.HasSuffix(l, " "+wantData[i]) {
			t.Errorf("line %d: %q, want key%s and data %s", i, l, wantSuffix[i], wantData[i])
		}
		seq := strings.Fields(l)[1]
		if isAgg := i >= 4; isAgg != strings.HasSuffix(seq, ":"+strconv.Itoa(i-4)) {
			t.Errorf("line %d: sequence number %q", i, seq)
		}
	}

	code, out, errOut = runCLI(t, nil, "tail", "formats", "--endpoint", srv.URL, "--from", "trim-horizon", "--max", "6", "--format", "json")
	if code != 0 {
		t.Fatalf("json: exit %d, stderr %q", code, errOut)
	}
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []struct {
		key, data, enc string
		sub            *int64
	}{
		{"k1", `{"a":[1,2]}`, "json", nil},
		{"k 2", `"two\nlines"`, "text", nil},
		{"k3", `"/wAB"`, "base64", nil},
		{"k4", `"plain text"`, "text", nil},
		{"u1", `"one"`, "text", aws.Int64(0)},
		{"u2", `{"n":2}`, "json", aws.Int64(1)},
	}
	for i, l := range lines {
		var got tailJSON
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		w := want[i]
		if got.ShardID != "shardId-000000000000" || got.PartitionKey != w.key || string(got.Data) != w.data || got.Encoding != w.enc ||
			(got.SubSequenceNumber == nil) != (w.sub == nil) || (w.sub != nil && *got.SubSequenceNumber != *w.sub) || got.SequenceNumber == "" {
			t.Errorf("line %d: %s, want key %s data %s encoding %s", i, l, w.key, w.data, w.enc)
		}
		if _, err := time.Parse(arrivalLayout, got.Arrival); err != nil {
			t.Errorf("line %d: arrival %v", i, err)
		}
	}

	code, out, _ = runCLI(t, nil, "tail", "formats", "--endpoint", srv.URL, "--from", "trim-horizon", "--max", "1", "--pretty")
	if code != 0 || !strings.HasSuffix(out, "Z\n  {\n    \"a\": [\n      1,\n      2\n    ]\n  }\n") {
		t.Errorf("--pretty: exit %d, %q", code, out)
	}
}

// Against a server enforcing the shard limits, three tails of one shard
// ask for more than its 5 GetRecords calls a second: they are throttled,
// wait, and still print every record.
func TestTailUnderThroughputLimits(t *testing.T) {
	srv, c := startServer(t, limitsOn)
	createStream(t, c, "limited", 1)
	const n = 1500
	var tails []*background
	for range 3 {
		tails = append(tails, runBackground(t, "tail", "limited", "--endpoint", srv.URL, "--from", "trim-horizon", "--max", strconv.Itoa(n), "--format", "raw"))
	}
	// Put with the tool itself: the producer keeps to 1000 records/s.
	dir := t.TempDir()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d\n", i)
	}
	file := writeTestFile(t, dir, "in.txt", b.String())
	if code, _, errOut := runCLI(t, nil, "put", "limited", "--endpoint", srv.URL, "--file", file); code != 0 {
		t.Fatalf("put: exit %d, %q", code, errOut)
	}
	for i, tail := range tails {
		if code := tail.wait(t); code != 0 {
			t.Fatalf("tail %d: exit %d, stderr %q", i, code, tail.stderr.String())
		}
		got := map[string]bool{}
		for _, l := range tail.stdout.lines() {
			got[l] = true
		}
		if len(got) != n {
			t.Errorf("tail %d printed %d distinct records, want %d", i, len(got), n)
		}
	}
}

func TestTailUsageErrors(t *testing.T) {
	isolateAWSConfig(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tail"}, "tail takes one stream name or ARN, got 0 arguments"},
		{[]string{"tail", "a", "b"}, "got 2 arguments"},
		{[]string{"tail", "s", "--from", "start"}, `--from "start" must be latest, trim-horizon or timestamp`},
		{[]string{"tail", "s", "--from", "timestamp"}, "--from timestamp needs --timestamp"},
		{[]string{"tail", "s", "--timestamp", "yesterday"}, `--timestamp "yesterday" is not an RFC 3339 time`},
		{[]string{"tail", "s", "--from", "latest", "--timestamp", "2026-01-02T15:04:05Z"}, "--timestamp goes with --from timestamp"},
		{[]string{"tail", "s", "--format", "xml"}, `--format "xml" must be text, json or raw`},
		{[]string{"tail", "s", "--grep", "("}, "--grep: error parsing regexp"},
		{[]string{"tail", "s", "--max", "-1"}, "--max -1 must not be negative"},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestTailMissingStream(t *testing.T) {
	srv, _ := startServer(t)
	code, _, errOut := runCLI(t, nil, "tail", "nope", "--endpoint", srv.URL)
	if code != exitError || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// A tail stops cleanly, with status 0, when its context ends (SIGINT).
func TestTailStopsOnInterrupt(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "quiet", 2)
	putRecords(t, c, "quiet", []string{"k"}, [][]byte{[]byte("only")})
	tail := runBackground(t, "tail", "quiet", "--endpoint", srv.URL, "--from", "trim-horizon")
	tail.waitLines(t, 1)
	tail.cancel()
	if code := tail.wait(t); code != 0 || tail.stderr.String() != "" {
		t.Fatalf("exit %d, stderr %q", code, tail.stderr.String())
	}
}

// The stream may be named by its ARN.
func TestTailByARN(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "byarn", 1)
	putRecords(t, c, "byarn", []string{"k"}, [][]byte{[]byte("hello")})
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("byarn")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.StreamDescriptionSummary.StreamARN)
	code, stdout, errOut := runCLI(t, nil, "tail", arn, "--endpoint", srv.URL, "--from", "trim-horizon", "--max", "1", "--format", "raw")
	if code != 0 || stdout != "hello\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
}

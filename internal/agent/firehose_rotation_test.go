package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestFirehoseRotationRestartsAndKill is the headline scenario
// (runRotationScenario: rotation every 1-2 s by rename and copytruncate,
// SIGKILL once, SIGTERM once) with a Firehose flow into a Direct PUT
// delivery stream of Millrace that delivers to S3; every object is read
// back. A Firehose stream cannot be read back, so after SIGKILL the agent
// sends again what it sent after its last checkpoint. The test reads the
// checkpoint the killed agent left and holds the agent to exactly that:
// every line arrives; a line arrives twice only if it lies between a
// file's checkpointed offset and the end of what was written at the kill,
// and never more than twice; every other line (across every rotation and
// the graceful restart) arrives exactly once; and the lines arrive in the
// order written.
func TestFirehoseRotationRestartsAndKill(t *testing.T) {
	run := rotationRunTime(t)
	s3srv, srv, bucket := newS3DeliveryStream(t, "rotlogs")
	ctx := t.Context()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(agentJSON(t, srv, dir, map[string]any{
		"filePattern": filepath.Join(logDir, "app.log*"), "deliveryStream": "rotlogs",
		"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": "1000",
		"minTimeBetweenFilePollsMillis": 50,
	}), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["firehose.endpoint"] = srv.URL
	cfgJSON, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o644); err != nil {
		t.Fatal(err)
	}

	// The window of lines the killed agent may have sent without
	// checkpointing them: from the lowest checkpointed line of any file
	// (files begin at a line boundary and every line is lineLen bytes)
	// to the last line written when it died.
	var lo, hi int
	afterKill := func(w *rotWriter) {
		w.mu.Lock() // no rotation half done, no line half written
		defer w.mu.Unlock()
		hi = w.next
		lo = hi
		lineLen := len(fmt.Sprintf("seq %08d %s\n", 0, w.pad))
		cp, err := readCheckpoint(filepath.Join(dir, "checkpoints"))
		if err != nil || cp == nil {
			t.Errorf("no checkpoint after SIGKILL (%v): every line written so far counts as re-sendable", err)
			lo = 0
			return
		}
		for _, fc := range cp.Flows {
			for _, c := range fc.Files {
				if c.FingerprintLen == 0 {
					continue // empty when checkpointed: newer than every other file's lines
				}
				first, ok := firstLineOfFingerprint(t, logDir, c.FingerprintLen, c.Fingerprint, c.Offset)
				if !ok {
					t.Errorf("no file in %s has the checkpointed first bytes of %s", logDir, c.Path)
					lo = 0
					continue
				}
				lo = min(lo, first+int(c.Offset)/lineLen)
			}
		}
	}
	total, out, stopAgent := runRotationScenario(t, logDir, cfgPath, run, afterKill)
	t.Logf("after SIGKILL: lines %d to %d may have been sent since the last checkpoint", lo, hi-1)

	// Read every object until each line is there (or the deadline).
	type object struct {
		key, at string
		lines   []int
	}
	keyTime := regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-`)
	count := make([]int, total)
	var objects []object
	seen := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		clear(count)
		objects, seen = objects[:0], 0
		keys, err := s3srv.Keys(ctx, bucket, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			m := keyTime.FindStringSubmatch(k)
			if !strings.HasPrefix(k, "app/") || !strings.HasSuffix(k, ".gz") || m == nil {
				t.Fatalf("object %s is not app/...<stream>-<version>-<time>-<id>.gz", k)
			}
			o := object{key: k, at: m[1]}
			for _, line := range objectLines(t, ctx, s3srv, bucket, k) {
				n := lineNumber(t, k, line, total, strings.Repeat("x", 80))
				if count[n] == 0 {
					seen++
				}
				count[n]++
				o.lines = append(o.lines, n)
			}
			objects = append(objects, o)
		}
		if seen == total || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopAgent()

	var missing []int
	dups, bad := 0, 0
	for n, k := range count {
		switch {
		case k == 0:
			missing = append(missing, n)
		case k == 2 && n >= lo && n < hi:
			dups++
		case k > 1:
			if bad < 20 {
				t.Errorf("line %d arrived %d times (only lines %d to %d may arrive twice)", n, k, lo, hi-1)
			}
			bad++
		}
	}
	t.Logf("%d lines written over %v, %d objects in S3, %d lines delivered, %d missing, %d sent twice after SIGKILL (of %d re-sendable)",
		total, run, len(objects), seen, len(missing), dups, hi-lo)
	if len(missing) > 0 {
		t.Errorf("%d lines never arrived, the first %v", len(missing), missing[:min(len(missing), 10)])
	}

	// Order: objects in the order of the time in their keys (to the
	// second; within a second, by their first line), each line's first
	// arrival after the previous line's.
	sort.SliceStable(objects, func(i, j int) bool {
		if objects[i].at != objects[j].at {
			return objects[i].at < objects[j].at
		}
		return len(objects[j].lines) > 0 && (len(objects[i].lines) == 0 || objects[i].lines[0] < objects[j].lines[0])
	})
	arrived := make([]bool, total)
	last, disorder := -1, 0
	for _, o := range objects {
		for _, n := range o.lines {
			if arrived[n] {
				continue
			}
			arrived[n] = true
			if n < last && disorder < 20 {
				t.Errorf("line %d arrived after line %d (object %s)", n, last, o.key)
				disorder++
			}
			last = n
		}
	}
	if !strings.Contains(out.String(), "continuing in the copy") && run >= 10*time.Second {
		t.Errorf("no copytruncate copy was followed")
	}
}

// firstLineOfFingerprint finds the file in dir whose first n bytes hash
// to sum and that holds at least size bytes, and returns the number of
// its first line.
func firstLineOfFingerprint(t *testing.T, dir string, n int, sum string, size int64) (int, bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := fingerprintOf(f, n)
		st, _ := f.Stat()
		head := make([]byte, 13)
		f.ReadAt(head, 0)
		f.Close()
		if !ok || got != sum || st.Size() < size {
			continue
		}
		var first int
		if _, err := fmt.Sscanf(string(head), "seq %d ", &first); err != nil {
			t.Fatalf("%s begins with %q", e.Name(), head)
		}
		return first, true
	}
	return 0, false
}

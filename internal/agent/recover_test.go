package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// TestRecoveryAfterUncleanStop rewinds the checkpoint as a crash between a
// delivery and its checkpoint leaves it (offset behind, marked unclean):
// the next start must find the records already in the stream and not send
// them again, with either partition key option (DETERMINISTIC with lines
// that repeat, counted as a multiset).
func TestRecoveryAfterUncleanStop(t *testing.T) {
	for _, opt := range []string{"RANDOM", "DETERMINISTIC"} {
		t.Run(opt, func(t *testing.T) {
			srv, c := newStream(t, "s", 2)
			dir := t.TempDir()
			log := filepath.Join(dir, "a.log")
			var content []string
			for i := range 100 {
				if i%3 == 0 {
					content = append(content, "same line\n")
				} else {
					content = append(content, fmt.Sprintf("line %06d\n", i))
				}
			}
			appendFile(t, log, strings.Join(content, ""))
			cfg := agentJSON(t, srv, dir, map[string]any{
				"filePattern": log, "kinesisStream": "s", "initialPosition": "START_OF_FILE",
				"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10, "partitionKeyOption": opt,
			})
			a, stop := startAgent(t, srv, cfg, Options{NoRateLimit: true})
			waitFor(t, 10*time.Second, "100 records", func() bool { return a.Stats.RecordsSent.Load() >= 100 })
			stop()

			cpPath := filepath.Join(dir, "checkpoints")
			cp, err := readCheckpoint(cpPath)
			if err != nil || cp == nil || !cp.Clean {
				t.Fatalf("checkpoint after a clean stop: %+v, %v", cp, err)
			}
			// What the checkpoint held when the first 40 lines were
			// acknowledged: their offset and, per shard, the highest
			// sequence number among them.
			shards, err := c.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("s")})
			if err != nil {
				t.Fatal(err)
			}
			perShard := readStream(t, c, "s")
			next := make([]int, len(perShard))
			start := map[string]string{}
			parsed, err := ParseConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(log)
			if err != nil {
				t.Fatal(err)
			}
			r := &flowRunner{fl: &parsed.Flows[0], id: parsed.Flows[0].ID()}
			tr := &tracked{origin: statID(fi)}
			off := int64(0)
			for _, line := range content[:40] {
				pk := r.partitionKey(tr, off, []byte(line))
				off += int64(len(line))
				found := false
				// Each shard holds its lines in file order, so the next
				// line heads one of them.
				for i, recs := range perShard {
					if next[i] < len(recs) && recs[next[i]].PartitionKey == pk {
						start[*shards.Shards[i].ShardId] = maxSeq(start[*shards.Shards[i].ShardId], recs[next[i]].SequenceNumber)
						next[i]++
						found = true
						break
					}
				}
				if !found {
					t.Fatalf("line %q not in the stream", line)
				}
			}
			for _, fl := range cp.Flows {
				fl.Files[0].Offset = int64(len(strings.Join(content[:40], "")))
				fl.Since = time.Now().Add(-10 * time.Second)
				fl.ShardStart = start
			}
			cp.Clean = false
			if err := writeCheckpoint(cpPath, cp); err != nil {
				t.Fatal(err)
			}
			var more []string
			for i := 100; i < 120; i++ {
				if i%3 == 0 {
					more = append(more, "same line\n")
				} else {
					more = append(more, fmt.Sprintf("line %06d\n", i))
				}
			}
			appendFile(t, log, strings.Join(more, ""))
			content = append(content, more...)

			a, stop = startAgent(t, srv, cfg, Options{NoRateLimit: true})
			waitFor(t, 10*time.Second, "80 records sent or recovered", func() bool {
				return a.Stats.RecordsSent.Load()+a.Stats.RecordsRecovered.Load() >= 80
			})
			stop()
			if n := a.Stats.RecordsRecovered.Load(); n != 60 {
				t.Errorf("%d records recovered, want 60", n)
			}
			got := dataOf(t, c, "s")
			slices.Sort(got)
			want := slices.Clone(content)
			slices.Sort(want)
			if strings.Join(got, "") != strings.Join(want, "") {
				t.Errorf("stream holds %d records, want %d (each line once)", len(got), len(want))
			}
		})
	}
}

// TestRotationWhileStopped rotates while the agent is down: by
// copytruncate (the copy continues the checkpointed file, found by its
// first bytes), by rename, and by delete and re-create (which may reuse the
// inode: the fingerprint tells the new file from the old).
func TestRotationWhileStopped(t *testing.T) {
	srv, c := newStream(t, "s", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	other := filepath.Join(dir, "b.log")
	appendFile(t, log, lines(0, 100))
	appendFile(t, other, "b "+lines(0, 1))
	cfg := agentJSON(t, srv, dir, map[string]any{
		"filePattern": filepath.Join(dir, "*.log*"), "kinesisStream": "s", "initialPosition": "START_OF_FILE",
		"maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 10,
	})
	want := lines(0, 100) + "b " + lines(0, 1)
	run := func(n int64) {
		a, stop := startAgent(t, srv, cfg, Options{NoRateLimit: true})
		waitFor(t, 10*time.Second, fmt.Sprint(n, " records"), func() bool { return a.Stats.RecordsSent.Load() >= n })
		stop()
	}
	run(101)

	// copytruncate, with lines the agent never saw before the copy.
	appendFile(t, log, lines(100, 120))
	b, _ := os.ReadFile(log)
	os.WriteFile(log+".1", b, 0o644)
	os.Truncate(log, 0)
	appendFile(t, log, lines(120, 130))
	want += lines(100, 130)
	run(30)

	// rename, and delete and re-create.
	appendFile(t, log, lines(130, 140))
	os.Rename(log, log+".2")
	appendFile(t, log, lines(140, 150))
	os.Remove(other)
	appendFile(t, other, "B "+lines(0, 3))
	want += lines(130, 150) + "B " + lines(0, 3)
	run(23)

	got := dataOf(t, c, "s")
	slices.Sort(got)
	w := strings.SplitAfter(want, "\n")
	w = w[:len(w)-1]
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("stream holds %d records, want %d (each line once):\n%q", len(got), len(w), got)
	}
}

// TestRandomPartitionKeysStable: a RANDOM key is the FNV-1a of the flow,
// the file's original identity, the offset and the data, scaled to
// [0, 1e6), so that an agent recognises after a crash the records an
// earlier one (of an earlier version too) put.
func TestRandomPartitionKeysStable(t *testing.T) {
	r := &flowRunner{id: "kinesis:s:/var/log/app.log*", fl: &Flow{PartitionKeyOption: "RANDOM"}}
	tr := &tracked{origin: fileID{Dev: 2049, Ino: 1234567}}
	for _, tc := range []struct {
		start int64
		data  string
	}{{0, "line 1\n"}, {7, "line 2\n"}, {1 << 40, ""}, {12345, strings.Repeat("é", 300)}} {
		h := fnv.New64a()
		var b [24]byte
		h.Write([]byte(r.id))
		binary.BigEndian.PutUint64(b[0:], tr.origin.Dev)
		binary.BigEndian.PutUint64(b[8:], tr.origin.Ino)
		binary.BigEndian.PutUint64(b[16:], uint64(tc.start))
		h.Write(b[:])
		h.Write([]byte(tc.data))
		want := strconv.FormatFloat(float64(h.Sum64()>>11)/(1<<53)*1e6, 'f', -1, 64)
		if got := r.partitionKey(tr, tc.start, []byte(tc.data)); got != want {
			t.Errorf("partitionKey(%d, %.20q) = %s, want %s", tc.start, tc.data, got, want)
		}
	}
}

package consumer

import (
	"context"
	"testing"
	"time"
)

func keysN(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return keys
}

// Several workers share a stream: every record is processed, the leases
// spread over the workers, and after a graceful shutdown a new worker
// resumes exactly after the final checkpoints.
func TestWorkersShareStreamAndResume(t *testing.T) {
	e := newEnv(t)
	e.createStream("share", 4)
	keys := keysN(16)
	e.put("share", keys, 0, 20)
	s := newSink()
	cfg := fastConfig("share-app", "share")
	w1 := e.startWorker(cfg, "w1", s)
	w2 := e.startWorker(cfg, "w2", s)
	e.put("share", keys, 20, 40)
	e.eventually(60*time.Second, "every record processed", func() bool { return len(s.missing(keys, 0, 40)) == 0 })
	e.eventually(60*time.Second, "leases balanced over w1 and w2", func() bool { return balanced(e.ownership(w1), "w1", "w2") })
	if len(s.gaps) > 0 {
		t.Fatalf("records of a key out of order: %v", s.gaps[:min(5, len(s.gaps))])
	}
	shutdown(t, w1)
	shutdown(t, w2)
	own := e.ownership(w1)
	if own[""] != 4 {
		t.Fatalf("after a graceful shutdown the leases are %v, want 4 released", own)
	}

	// A new worker resumes exactly after the checkpoints: it sees only
	// records written afterwards.
	before := s.distinct()
	dups := s.duplicates()
	e.put("share", keys, 40, 50)
	w3 := e.startWorker(cfg, "w3", s)
	e.eventually(60*time.Second, "new records processed", func() bool { return len(s.missing(keys, 0, 50)) == 0 })
	if got := s.distinct() - before; got != len(keys)*10 {
		t.Fatalf("%d new distinct records, want %d", got, len(keys)*10)
	}
	if d := s.duplicates(); d != dups {
		t.Fatalf("the resumed worker redelivered %d records", d-dups)
	}
	for shard, ins := range s.inits {
		last := ins[len(ins)-1]
		if last.Checkpoint.IsSentinel() {
			t.Errorf("shard %s resumed from %s, want a sequence number", shard, last.Checkpoint)
		}
	}
	shutdown(t, w3)
	_ = context.Background()
}

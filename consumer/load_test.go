package consumer

import (
	"testing"
	"time"
)

// Three workers consume an 8-shard stream under load; one is killed and
// one added. Every record is processed, and the lease table is balanced
// again after each change; the time it takes is logged in lease periods.
func TestThreeWorkersEightShardsKillAndAdd(t *testing.T) {
	e := newEnv(t)
	e.createStream("load", 8)
	keys := keysN(64)
	s := newSink()
	cfg := fastConfig("load-app", "load")
	cfg.FailoverTime = 2 * time.Second
	cfg.TakeInterval = cfg.FailoverTime / 5
	lease := cfg.FailoverTime
	w1 := e.startWorker(cfg, "w1", s)
	w2 := e.startWorker(cfg, "w2", s)
	w3 := e.startWorker(cfg, "w3", s)
	stop1 := e.writer("load", keys[:32], 0)
	stop2 := e.writer("load", keys[32:], 0)
	e.eventually(60*time.Second, "three workers balanced", func() bool { return balanced(e.ownership(w1), "w1", "w2", "w3") })
	e.eventually(60*time.Second, "records flowing", func() bool { return s.distinct() > 2000 })

	w1.abort()
	killed := time.Now()
	e.eventually(60*time.Second, "balanced after the kill", func() bool { return balanced(e.ownership(w2), "w2", "w3") })
	afterKill := time.Since(killed)

	w4 := e.startWorker(cfg, "w4", s)
	added := time.Now()
	e.eventually(60*time.Second, "balanced after the join", func() bool { return balanced(e.ownership(w2), "w2", "w3", "w4") })
	afterJoin := time.Since(added)
	time.Sleep(lease) // keep writing with the new assignment

	r1, r2 := stop1(), stop2()
	e.eventually(60*time.Second, "every record processed", func() bool {
		return len(s.missing(keys[:32], 0, r1)) == 0 && len(s.missing(keys[32:], 0, r2)) == 0
	})
	if len(s.gaps) > 0 {
		t.Fatalf("records of a key out of order: %v", s.gaps[:min(5, len(s.gaps))])
	}
	own := e.ownership(w2)
	t.Logf("records written %d, processed %d distinct, %d redelivered, 0 lost; final assignment %v",
		32*r1+32*r2, s.distinct(), s.duplicates(), own)
	t.Logf("lease period %v, take interval %v: balanced %.2f lease periods after the kill (%v), %.2f after the join (%v)",
		lease, cfg.TakeInterval, afterKill.Seconds()/lease.Seconds(), afterKill.Round(time.Millisecond),
		afterJoin.Seconds()/lease.Seconds(), afterJoin.Round(time.Millisecond))
	shutdown(t, w2)
	shutdown(t, w3)
	shutdown(t, w4)
}

package consumer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writer puts records of keys in rounds until stopped; it returns the
// number of rounds written.
func (e *env) writer(stream string, keys []string, from int) (stop func() int) {
	var n atomic.Int64
	n.Store(int64(from))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			i := int(n.Load())
			e.put(stream, keys, i, i+1)
			n.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return int(n.Load())
	}
}

// A killed worker's leases are taken over once they expire; a joining
// worker gets its share by stealing; nothing is lost under load.
func TestFailoverAndJoin(t *testing.T) {
	e := newEnv(t)
	e.createStream("failover", 6)
	keys := keysN(24)
	s := newSink()
	cfg := fastConfig("failover-app", "failover")
	w1 := e.startWorker(cfg, "w1", s)
	w2 := e.startWorker(cfg, "w2", s)
	w3 := e.startWorker(cfg, "w3", s)
	stop := e.writer("failover", keys, 0)
	e.eventually(60*time.Second, "leases balanced over three workers", func() bool { return balanced(e.ownership(w1), "w1", "w2", "w3") })

	w1.abort() // dies without releasing its leases
	d := e.eventually(60*time.Second, "w1's leases taken over", func() bool { return balanced(e.ownership(w2), "w2", "w3") })
	t.Logf("after the kill: balanced over w2 and w3 in %v (lease duration %v)", d, cfg.FailoverTime)

	w4 := e.startWorker(cfg, "w4", s)
	d = e.eventually(60*time.Second, "leases rebalanced with w4", func() bool { return balanced(e.ownership(w2), "w2", "w3", "w4") })
	t.Logf("after the join: balanced over w2, w3 and w4 in %v", d)

	shutdown(t, w3) // leaves gracefully
	d = e.eventually(60*time.Second, "w3's leases taken over", func() bool { return balanced(e.ownership(w2), "w2", "w4") })
	t.Logf("after a graceful leave: balanced over w2 and w4 in %v", d)

	rounds := stop()
	e.eventually(60*time.Second, "every record processed", func() bool { return len(s.missing(keys, 0, rounds)) == 0 })
	if len(s.gaps) > 0 {
		t.Fatalf("records of a key out of order: %v", s.gaps[:min(5, len(s.gaps))])
	}
	t.Logf("%d records, %d redelivered after lease moves", len(keys)*rounds, s.duplicates())
	shutdown(t, w2)
	shutdown(t, w4)
}

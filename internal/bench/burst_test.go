package bench

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// okWriter answers every put as stored and counts the calls.
type okWriter struct {
	mu    sync.Mutex
	calls map[int]int // by worker
}

func (o *okWriter) putRecords(_ context.Context, w *workerState) putOutcome {
	o.mu.Lock()
	o.calls[int(w.id)]++
	o.mu.Unlock()
	return putOutcome{codes: make([]string, len(w.slots))}
}
func (o *okWriter) putRecord(ctx context.Context, w *workerState) putOutcome {
	return o.putRecords(ctx, w)
}
func (o *okWriter) getRecords(context.Context, string, int, *readScratch) ([][]byte, int64, string, int64, error) {
	return nil, 0, "", 0, nil
}

// gate stands in for the clock: a worker's paced call waits at the gate
// until every worker of its burst waits for the same instant, then the
// test's clock lets them all through together. So the test sees which
// calls the pacing releases at one instant without measuring any time.
type gate struct {
	mu      sync.Mutex
	waiting map[time.Time][]int // instant -> workers waiting for it
	release map[time.Time]chan struct{}
	size    int // workers released per instant
	calls   int // calls each worker may make
	made    map[int]int
	log     []released
}

type released struct {
	at      time.Time
	workers []int
}

func (g *gate) wait(ctx context.Context, worker int, at time.Time) bool {
	g.mu.Lock()
	if g.made[worker] == g.calls {
		g.mu.Unlock()
		return false // the end of the run
	}
	g.made[worker]++
	ch := g.release[at]
	if ch == nil {
		ch = make(chan struct{})
		g.release[at] = ch
	}
	g.waiting[at] = append(g.waiting[at], worker)
	if len(g.waiting[at]) == g.size {
		ws := slices.Clone(g.waiting[at])
		slices.Sort(ws)
		g.log = append(g.log, released{at, ws})
		delete(g.waiting, at)
		delete(g.release, at)
		close(ch)
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

func TestBurstsReleaseTheirCallsTogether(t *testing.T) {
	const workers, calls = 6, 5
	for _, burst := range []int{0, 1, 2, 3, 6} {
		cfg := Defaults()
		cfg.Workers, cfg.Burst, cfg.Batch, cfg.Size = workers, burst, 10, 1000
		cfg.RateMBps = 0.6       // 10 kB per call, 100 kB/s per worker: a call every 100 ms
		cfg.Duration = time.Hour // the gate ends the run
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		size := max(burst, 1)
		g := &gate{waiting: map[time.Time][]int{}, release: map[time.Time]chan struct{}{}, size: size, calls: calls, made: map[int]int{}}
		ws := make([]*workerState, workers)
		for i := range ws {
			ws[i] = &workerState{id: uint16(i), errors: map[string]int64{}, names: map[string]string{}, perShard: map[string]*ShardCount{}}
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for range cfg.Batch {
				ws[i].slots = append(ws[i].slots, newSlot(rng, cfg.Size))
			}
		}
		ow := &okWriter{calls: map[int]int{}}
		// A worker whose burst never fills would wait at the gate for
		// ever: the deadline turns that into a failure.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		writePhase(ctx, ctx, &cfg, ow, ws, 1, &counters{}, g.wait)
		cancel()

		for i := range workers {
			if ow.calls[i] != calls {
				t.Fatalf("burst %d: worker %d made %d calls, want %d (still waiting: %v)", burst, i, ow.calls[i], calls, g.waiting)
			}
		}
		// Each instant released one whole burst: workers b*size to
		// b*size+size-1, calls times each; the bursts' instants are an
		// interval apart and the groups spread evenly within it.
		interval := 100 * time.Millisecond
		groups := workers / size
		seen := map[int][]time.Time{}
		for _, r := range g.log {
			first := r.workers[0]
			want := make([]int, size)
			for k := range want {
				want[k] = first + k
			}
			if first%size != 0 || !slices.Equal(r.workers, want) {
				t.Fatalf("burst %d: released %v together, want %v", burst, r.workers, want)
			}
			seen[first/size] = append(seen[first/size], r.at)
		}
		var origin time.Time
		for grp := range groups {
			ats := seen[grp]
			slices.SortFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
			if len(ats) != calls {
				t.Fatalf("burst %d: group %d released %d times, want %d", burst, grp, len(ats), calls)
			}
			if grp == 0 {
				origin = ats[0]
			}
			for k, at := range ats {
				want := origin.Add(time.Duration(k)*interval + interval*time.Duration(grp)/time.Duration(groups))
				if d := at.Sub(want); d < -time.Microsecond || d > time.Microsecond {
					t.Fatalf("burst %d: group %d call %d scheduled %v after the first, want %v", burst, grp, k, at.Sub(origin), want.Sub(origin))
				}
			}
		}
		st := writeStats(ws, time.Second, cfg.Size, cfg.Burst)
		if burst <= 1 {
			if st.Bursts != 0 || st.BurstLatencyMs != nil {
				t.Fatalf("burst %d: burst stats %d %v", burst, st.Bursts, st.BurstLatencyMs)
			}
			continue
		}
		if st.Bursts != int64(groups*calls) || len(st.BurstLatencyMs) != burst {
			t.Fatalf("burst %d: %d bursts with %d ranks, want %d with %d", burst, st.Bursts, len(st.BurstLatencyMs), groups*calls, burst)
		}
		for k := 1; k < burst; k++ {
			if st.BurstLatencyMs[k].Max < st.BurstLatencyMs[k-1].Max || st.BurstLatencyMs[k].P50 < st.BurstLatencyMs[k-1].P50 {
				t.Fatalf("burst %d: rank %d answered before rank %d: %+v", burst, k+1, k, st.BurstLatencyMs)
			}
		}
	}
}

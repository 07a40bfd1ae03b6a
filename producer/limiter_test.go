package producer

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// serverBucket counts a shard's writes as the server does
// (internal/streams/throttle.go, after AWS): buckets of one second of the
// limits, refilled continuously, starting full; a record passes with one
// record token and its size in byte tokens, or, larger than the byte
// bucket, when the byte bucket is full (leaving it in debt).
type serverBucket struct {
	recRate, byteRate float64
	rec, bytes        float64
	last              time.Time
}

func newServerBucket(recRate, byteRate float64, now time.Time) *serverBucket {
	return &serverBucket{recRate: recRate, byteRate: byteRate, rec: recRate, bytes: byteRate, last: now}
}

func (s *serverBucket) admit(now time.Time, size int) bool {
	if dt := now.Sub(s.last).Seconds(); dt > 0 {
		s.rec = min(s.recRate, s.rec+dt*s.recRate)
		s.bytes = min(s.byteRate, s.bytes+dt*s.byteRate)
		s.last = now
	}
	n := float64(size)
	if s.rec < 1 || (s.bytes < n && s.bytes < s.byteRate) {
		return false
	}
	s.rec--
	s.bytes -= n
	return true
}

// call is one PutRecords call the limiter let go.
type call struct {
	sent, arrives time.Time
	sizes         []int
}

// saturate drives a limiter the way the dispatch loop does, on a fake
// clock, with a queue that never runs dry: records of the sizes next
// returns, calls of up to 500 records and 5 MiB, the loop waking when ready
// or when says. It returns the calls sent within d.
func saturate(l *rateLimiter, start time.Time, d time.Duration, rng *rand.Rand, next func() int) []call {
	var calls []call
	head := next()
	for now := start; now.Sub(start) < d; {
		l.refill(now)
		ok, at := l.ready(now, 500, maxRequestBytes)
		if ok {
			c := call{sent: now}
			bytes := 0
			for len(c.sizes) < maxRecordsPerRequest && (len(c.sizes) == 0 || bytes+head <= maxRequestBytes) && l.fits(len(c.sizes), bytes, head) {
				c.sizes = append(c.sizes, head)
				bytes += head
				head = next()
			}
			if len(c.sizes) > 0 {
				l.take(len(c.sizes), bytes)
				calls = append(calls, c)
				continue
			}
			at = l.when(now, 1, float64(head))
		}
		// The loop wakes when told, or later (a busy machine).
		now = at.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
	}
	return calls
}

// TestRateLimiterWithinServerLimits saturates the limiter with records of
// several size mixes and replays its calls into a model of the server's
// buckets, each call arriving after its own delay of 1 to 300 ms (so calls
// overtake one another): the server refuses nothing, and over every window
// the limiter sends no more than its half-second bucket plus the window's
// share of the limit.
func TestRateLimiterWithinServerLimits(t *testing.T) {
	const recLimit, byteLimit = 1000, 1 << 20
	mixes := []struct {
		name string
		held float64 // share of the binding limit held at least
		size func(*rand.Rand) int
	}{
		{"100 B unaggregated", 0.95, func(*rand.Rand) int { return 106 }},
		{"aggregates", 0.95, func(r *rand.Rand) int { return 40000 + r.IntN(11201) }},
		{"1 KiB", 0.95, func(r *rand.Rand) int { return 1030 }},
		// A record larger than half a second of the rate costs the
		// bucket's lead: the limiter waits as long as it did not have it.
		{"mixed up to 1 MiB", 0.85, func(r *rand.Rand) int {
			if r.IntN(50) == 0 {
				return 200<<10 + r.IntN(824<<10+300)
			}
			return 1 + r.IntN(60000)
		}},
	}
	for _, factor := range []float64{1, 0.5} {
		for _, mix := range mixes {
			t.Run(fmt.Sprintf("factor=%v/%s", factor, mix.name), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(factor*10)))
				start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				l := newRateLimiter(recLimit*factor, byteLimit*factor, start)
				calls := saturate(l, start, 60*time.Second, rng, func() int { return mix.size(rng) })

				// The server sees the calls in the order they arrive.
				for i := range calls {
					calls[i].arrives = calls[i].sent.Add(time.Millisecond + time.Duration(rng.Int64N(int64(299*time.Millisecond))))
				}
				byArrival := append([]call(nil), calls...)
				sort.SliceStable(byArrival, func(i, j int) bool { return byArrival[i].arrives.Before(byArrival[j].arrives) })
				srv := newServerBucket(recLimit, byteLimit, start)
				sent, sentBytes := 0, 0
				for _, c := range byArrival {
					for _, n := range c.sizes {
						if !srv.admit(c.arrives, n) {
							t.Fatalf("factor %v: the server refused a record of %d bytes at %v (%d records, %d bytes sent before)",
								factor, n, c.arrives.Sub(start), sent, sentBytes)
						}
						sent++
						sentBytes += n
					}
				}

				// The envelope: over any window from one call's sending to
				// another's, the records and bytes sent are at most the
				// bucket plus the window times the rate. A record larger
				// than the bucket lets it grow to its size (up to one
				// second of the rate), and one larger than that leaves it
				// in debt.
				recRate, byteRate := recLimit*factor*limiterHeadroom, byteLimit*factor*limiterHeadroom
				for i := range calls {
					recs, bytes, largest := 0, 0, 0
					for j := i; j < len(calls) && calls[j].sent.Sub(calls[i].sent) <= 2*time.Second; j++ {
						for _, n := range calls[j].sizes {
							recs++
							bytes += n
							largest = max(largest, n)
						}
						w := calls[j].sent.Sub(calls[i].sent).Seconds()
						if float64(recs) > max(1, recRate*limiterBurst)+recRate*w+1e-6 {
							t.Fatalf("factor %v: %d records sent in %.3f s", factor, recs, w)
						}
						bound := max(byteRate*limiterBurst, float64(largest)) + byteRate*w + max(0, float64(largest)-byteRate)
						if float64(bytes) > bound+1e-6 {
							t.Fatalf("factor %v: %d bytes sent in %.3f s (bound %.0f)", factor, bytes, w, bound)
						}
					}
				}
				// Saturated, the limiter holds its share of the limits.
				secs := calls[len(calls)-1].sent.Sub(start).Seconds()
				recShare, byteShare := float64(sent)/secs/(recLimit*factor), float64(sentBytes)/secs/(byteLimit*factor)
				if max(recShare, byteShare) < mix.held {
					t.Fatalf("factor %v: held %.1f%% of the record limit and %.1f%% of the byte limit", factor, 100*recShare, 100*byteShare)
				}
				t.Logf("factor %v: %d calls, held %.1f%% of the record limit, %.1f%% of the byte limit", factor, len(calls), 100*recShare, 100*byteShare)
			})
		}
	}
}

// TestRateLimiterBacksOffOnThrottling: a throttled answer empties the
// bucket and cuts the rate once per round trip; the rate climbs back.
func TestRateLimiterBacksOffOnThrottling(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	l := newRateLimiter(1000, 1<<20, start)
	if !l.fits(0, 0, 1000) {
		t.Fatal("a new limiter refuses a small record")
	}
	l.take(100, 100000)

	l.throttled(at(10), at(5))
	if l.scale != limiterDecrease || l.rec > 0 || l.bytes > 0 {
		t.Fatalf("after a throttle: scale %v, %v records and %v bytes of tokens", l.scale, l.rec, l.bytes)
	}
	// A second answer to a call sent before the cut carries no news.
	l.throttled(at(20), at(8))
	if l.scale != limiterDecrease {
		t.Fatalf("a stale answer cut the rate again: scale %v", l.scale)
	}
	// One to a call sent after it does.
	l.throttled(at(30), at(25))
	if want := limiterDecrease * limiterDecrease; l.scale < want-1e-9 || l.scale > want+3e-3 {
		t.Fatalf("scale %v, want %v", l.scale, want)
	}
	// Cuts stop at limiterMinScale.
	for i := 0; i < 100; i++ {
		l.throttled(at(40+i), at(39+i))
	}
	if l.scale < limiterMinScale || l.scale > limiterMinScale+0.01 {
		t.Fatalf("scale %v after many cuts, want %v", l.scale, limiterMinScale)
	}
	// The bucket refills at the cut rate.
	l.refill(at(1140))
	if want := 1 * (1 << 20) * limiterHeadroom * limiterMinScale; l.bytes < 0.95*want || l.bytes > 1.15*want {
		t.Fatalf("one second after the cuts the bucket holds %v bytes, want about %v", l.bytes, want)
	}
	// The rate climbs back by limiterIncrease per second, to the full rate.
	if l.scale < limiterMinScale+0.9*limiterIncrease || l.scale > limiterMinScale+1.1*limiterIncrease {
		t.Fatalf("scale %v one second after the cuts", l.scale)
	}
	l.refill(at(60000))
	if l.scale != 1 || l.bytes != l.byteCap() || l.rec != l.recCap() {
		t.Fatalf("after a minute: scale %v, %v records and %v bytes of tokens", l.scale, l.rec, l.bytes)
	}
}

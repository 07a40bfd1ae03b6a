package producer

import "time"

// Per-shard rate limiting.
//
// A Kinesis shard admits a record when its write buckets hold one record
// token and as many byte tokens as the record's data plus partition key: a
// KPL aggregate is one record of its whole size. Each bucket refills
// continuously and holds one second of its rate, and a record larger than
// the byte bucket passes only when the bucket is full (it leaves the bucket
// in debt). Millrace counts exactly so (internal/streams/throttle.go).
//
// The producer counts the same way, record by record, but its bucket cannot
// be in phase with the server's: the server charges a record when the call
// arrives, after a latency that varies from call to call; calls in flight
// to one shard may arrive in another order; another writer may share the
// shard. So the limiter keeps below the server's bucket instead of copying
// it:
//
//   - it holds half a second of tokens (limiterBurst), not one: the
//     server's bucket then stays half a second of the rate fuller than
//     the limiter's, so a call may arrive up to about half a second later
//     than the calls sent after it before the server refuses anything. A
//     record larger than half a second of the rate waits until the bucket
//     has grown to its size, and then leaves it as deep in debt as if it
//     had not grown, which gives the server its lead back;
//   - it refills at limiterHeadroom of the rate, so the server's bucket
//     regains what a disturbance took instead of staying as low as it went;
//   - a throttled answer cuts the shard's rate (×limiterDecrease, at most
//     once per round trip) and empties its bucket; the rate climbs back by
//     limiterIncrease of the full rate per second (AIMD, as TCP does).
//
// A shard whose queue holds more than its tokens waits for limiterQuantum
// of tokens before it sends, so a saturated shard gets about ten
// PutRecords calls a second, not one per record.
//
// Measured against the server's default limits, 4 shards saturated
// (TestShardLimitsMeasurement): a bucket of one second at the full rate
// had 0.1 to 1.8% of Kinesis records throttled, with or without the AIMD
// cuts; half a second at 98% has none throttled and holds about 98% of
// the binding limit (docs/performance.md has the figures).
const (
	limiterBurst    = 0.5  // seconds of rate the bucket holds
	limiterHeadroom = 0.98 // share of the limit the bucket refills at
	limiterDecrease = 0.8  // rate multiplier on a throttled answer
	limiterIncrease = 0.1  // rate regained per second, share of the full rate
	limiterMinScale = 0.25 // the cuts stop at this share of the full rate
	limiterQuantum  = 0.1  // seconds of rate a saturated shard waits for
)

// rateLimiter holds one shard's record and byte tokens. It is not safe for
// concurrent use (the producer's mutex guards it) and reads no clock: every
// call is given the time.
type rateLimiter struct {
	recRate, byteRate float64 // full rates, tokens per second
	scale             float64 // AIMD share of the full rates, limiterMinScale..1
	rec, bytes        float64 // tokens
	// big is the byte tokens a head record larger than the bucket waits
	// for (its size, at most one second of the rate); while it waits the
	// bucket may grow to it. 0 when no such record waits.
	big   float64
	last  time.Time
	cutAt time.Time // last rate cut
}

// newRateLimiter returns a limiter with a full bucket. recRate and byteRate
// are the shard's limits times RateLimitFactor.
func newRateLimiter(recRate, byteRate float64, now time.Time) *rateLimiter {
	l := &rateLimiter{recRate: recRate * limiterHeadroom, byteRate: byteRate * limiterHeadroom, scale: 1, last: now}
	l.rec, l.bytes = l.recCap(), l.byteCap()
	return l
}

func (l *rateLimiter) recCap() float64  { return max(1, l.recRate*limiterBurst) }
func (l *rateLimiter) byteCap() float64 { return l.byteRate * limiterBurst }

// byteRoom is what the byte bucket may hold now.
func (l *rateLimiter) byteRoom() float64 { return max(l.byteCap(), l.big) }

// refill adds the tokens earned since the last call.
func (l *rateLimiter) refill(now time.Time) {
	dt := now.Sub(l.last).Seconds()
	if dt <= 0 {
		return
	}
	l.last = now
	// The tokens of dt are earned at the rate of its start; the increase
	// applies from now on.
	l.rec = min(l.recCap(), l.rec+dt*l.recRate*l.scale)
	l.bytes = min(l.byteRoom(), l.bytes+dt*l.byteRate*l.scale)
	l.scale = min(1, l.scale+dt*limiterIncrease)
}

// fits reports whether one more Kinesis record of n bytes may go in a call
// that already holds recs records of bytes bytes, as the server would
// admit it: one record token and n byte tokens. A record larger than the
// bucket goes first in its call, once the bucket has grown to its size, or
// to one second of the rate if it is larger still: the server takes it
// only when its own bucket holds as much, or is full.
func (l *rateLimiter) fits(recs, bytes, n int) bool {
	if float64(recs+1) > l.rec {
		return false
	}
	if float64(bytes+n) <= l.bytes {
		return true
	}
	if recs > 0 || float64(n) <= l.byteCap() {
		return false
	}
	l.big = min(float64(n), l.byteRate)
	return l.bytes >= l.big
}

// take charges a call of recs records and bytes bytes. After a record
// larger than the bucket the bytes go as far below zero as if the bucket
// had not grown for it: the server's bucket, which that record emptied,
// regains its lead over this one before the next call.
func (l *rateLimiter) take(recs, bytes int) {
	l.rec -= float64(recs)
	l.bytes -= float64(bytes)
	if l.big > 0 {
		l.bytes = min(l.bytes, l.byteCap()-float64(bytes))
		l.big = 0
	}
}

// ready reports whether a shard whose queue holds about recs Kinesis
// records of bytes bytes should send now: when its tokens cover the queue,
// or limiterQuantum of the rate. Otherwise it returns when to look again.
// A head record larger than that waits for its own size (fits decides).
func (l *rateLimiter) ready(now time.Time, recs, bytes int) (bool, time.Time) {
	needRec := min(float64(recs), max(1, l.recRate*limiterQuantum))
	needBytes := min(float64(bytes), l.byteRate*limiterQuantum)
	if l.rec >= needRec && l.bytes >= needBytes {
		return true, time.Time{}
	}
	return false, l.when(now, needRec, needBytes)
}

// when returns when the bucket will hold rec record tokens and bytes byte
// tokens (at most its capacity) at the current rate, rounded up to the
// millisecond.
func (l *rateLimiter) when(now time.Time, rec, bytes float64) time.Time {
	rec, bytes = min(rec, l.recCap()), min(bytes, l.byteRoom())
	wait := 0.0
	if l.rec < rec {
		wait = (rec - l.rec) / (l.recRate * l.scale)
	}
	if l.bytes < bytes {
		wait = max(wait, (bytes-l.bytes)/(l.byteRate*l.scale))
	}
	return now.Add(time.Duration(wait*float64(time.Second)) + time.Millisecond)
}

// throttled is told that a call sent at sent had records refused for
// throughput. The first such answer to a call sent after the last cut cuts
// the rate and empties the bucket; answers to calls sent before it carry
// no news.
func (l *rateLimiter) throttled(now, sent time.Time) {
	if !sent.After(l.cutAt) {
		return
	}
	l.refill(now)
	l.cutAt = now
	l.scale = max(limiterMinScale, l.scale*limiterDecrease)
	l.rec, l.bytes = min(l.rec, 0), min(l.bytes, 0)
}

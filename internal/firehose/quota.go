package firehose

import (
	"time"

	"github.com/millrace/millrace/internal/awsproto"
)

// Quotas are the Direct PUT throughput quotas of each delivery stream:
// records, PutRecord/PutRecordBatch calls and bytes per second. A zero
// value is AWS's default quota for the delivery stream's region.
type Quotas struct {
	// Enabled: the quotas are enforced; a call over them is answered as
	// AWS answers it (ServiceUnavailableException "Slow down.").
	Enabled        bool
	RecordsPerSec  int
	RequestsPerSec int
	BytesPerSec    int64
}

// regionQuotas are AWS's default Direct PUT quotas of a region: US East
// (N. Virginia), US West (Oregon) and Europe (Ireland) have larger ones.
func regionQuotas(region string) (records, requests int, bytes int64) {
	switch region {
	case "us-east-1", "us-west-2", "eu-west-1":
		return 500_000, 2_000, 5 << 20
	default:
		return 100_000, 1_000, 1 << 20
	}
}

// bucket is a token bucket holding at most one second of its rate.
type bucket struct {
	rate, tokens float64
}

func (b *bucket) refill(elapsed time.Duration) {
	b.tokens = min(b.rate, b.tokens+elapsed.Seconds()*b.rate)
}

// quotaState is one delivery stream's buckets.
type quotaState struct {
	incarnation               int64
	last                      time.Time
	records, requests, nbytes bucket
}

func errSlowDown() error {
	return awsproto.NewError("ServiceUnavailableException", "Slow down.").WithStatus(503)
}

// admit takes one call with records data from a delivery stream's
// quotas. It returns how many of the records, from the first, fit in
// them: the others are throttled and counted. A call over the requests
// quota is refused as a whole.
func (s *Service) admit(d *deliveryStream, data [][]byte) (int, error) {
	q := s.opts.Quotas
	if !q.Enabled {
		return len(data), nil
	}
	now := s.now()
	s.mu.Lock()
	st := s.quotas[d.key()]
	if st == nil || st.incarnation != d.CreatedAt {
		recs, reqs, nbytes := regionQuotas(d.Region)
		if q.RecordsPerSec > 0 {
			recs = q.RecordsPerSec
		}
		if q.RequestsPerSec > 0 {
			reqs = q.RequestsPerSec
		}
		if q.BytesPerSec > 0 {
			nbytes = q.BytesPerSec
		}
		st = &quotaState{incarnation: d.CreatedAt, last: now,
			records: bucket{rate: float64(recs), tokens: float64(recs)}, requests: bucket{rate: float64(reqs), tokens: float64(reqs)},
			nbytes: bucket{rate: float64(nbytes), tokens: float64(nbytes)}}
		if s.quotas == nil {
			s.quotas = map[string]*quotaState{}
		}
		s.quotas[d.key()] = st
	}
	if elapsed := now.Sub(st.last); elapsed > 0 {
		st.records.refill(elapsed)
		st.requests.refill(elapsed)
		st.nbytes.refill(elapsed)
		st.last = now
	}
	n := 0
	refused := st.requests.tokens < 1
	if !refused {
		st.requests.tokens--
		for _, b := range data {
			// A record larger than a second of the bytes quota is taken
			// when the bucket is full, leaving it in debt.
			if st.records.tokens < 1 || (st.nbytes.tokens < float64(len(b)) && st.nbytes.tokens < st.nbytes.rate) {
				break
			}
			st.records.tokens--
			st.nbytes.tokens -= float64(len(b))
			n++
		}
	}
	s.mu.Unlock()
	if n < len(data) {
		s.counters(d).ThrottledRecords.Add(int64(len(data) - n))
	}
	if refused {
		return 0, errSlowDown()
	}
	return n, nil
}

package firehose

import (
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
	"github.com/millrace/millrace/internal/metrics"
)

// Counters are a delivery stream's running totals since the server
// started, which the CloudWatch metrics (AWS/Firehose) are made of.
type Counters struct {
	// Direct PUT: bytes and records accepted, and the calls that
	// accepted them.
	IncomingBytes, IncomingRecords, IncomingPutRequests atomic.Int64
	// ThrottledRecords are the records refused for the Direct PUT
	// throughput quotas.
	ThrottledRecords atomic.Int64
	// Delivery to the destination: records and bytes delivered, and the
	// attempts and successful ones.
	DeliveryRecords, DeliveryBytes, DeliveryAttempts, DeliverySuccess atomic.Int64
	// ExpiredRecords are the Direct PUT records dropped because they
	// could not be delivered (nor written to the error output) for 24
	// hours.
	ExpiredRecords atomic.Int64
	// DataFreshness is the age, in milliseconds, of the oldest record of
	// each delivered batch when it was delivered.
	DataFreshness metrics.Histogram
}

// StreamStats names one delivery stream's counters.
type StreamStats struct {
	Account, Region, Name string
	// Destination is the metric prefix's destination: "S3",
	// "HttpEndpoint", "Redshift", "AmazonOpenSearchService",
	// "Elasticsearch" or "Splunk".
	Destination string
	Counters    *Counters
}

type statsEntry struct {
	StreamStats
	incarnation int64
}

// counters returns a delivery stream's counters, new for a new
// incarnation (a stream deleted and created again starts from zero).
func (s *Service) counters(d *deliveryStream) *Counters {
	k := d.key()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.stats[k]
	if e == nil || e.incarnation != d.CreatedAt {
		dest := "S3"
		switch {
		case d.Dest.HTTP != nil:
			dest = "HttpEndpoint"
		case d.Dest.Redshift != nil:
			dest = "Redshift"
		case d.Dest.OpenSearch != nil && d.Dest.Elasticsearch:
			dest = "Elasticsearch"
		case d.Dest.OpenSearch != nil:
			dest = "AmazonOpenSearchService"
		case d.Dest.Splunk != nil:
			dest = "Splunk"
		}
		c := &Counters{}
		c.DataFreshness.Init(metrics.AgeBounds)
		e = &statsEntry{StreamStats: StreamStats{Account: d.Account, Region: d.Region, Name: d.Name, Destination: dest, Counters: c}, incarnation: d.CreatedAt}
		s.stats[k] = e
	}
	return e.Counters
}

func (s *Service) dropCounters(d *deliveryStream) {
	s.mu.Lock()
	delete(s.stats, d.key())
	s.mu.Unlock()
}

// Stats returns the counters of every delivery stream that has had
// traffic since the server started.
func (s *Service) Stats() []StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StreamStats, 0, len(s.stats))
	for _, e := range s.stats {
		out = append(out, e.StreamStats)
	}
	return out
}

// delivered counts a delivered batch.
func (c *Counters) delivered(b *sink.Batch, now time.Time) {
	n := 0
	oldest := b.FirstArrival
	for _, r := range b.Records {
		n += len(r.Data)
		if r.Arrival.Before(oldest) {
			oldest = r.Arrival
		}
	}
	c.DeliveryRecords.Add(int64(len(b.Records)))
	c.DeliveryBytes.Add(int64(n))
	c.DeliverySuccess.Add(1)
	c.DataFreshness.Observe(now.Sub(oldest).Milliseconds())
}

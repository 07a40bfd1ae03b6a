package producer_test

import (
	"context"
	"testing"
	"time"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
	"github.com/millrace/millrace/producer"
)

// TestThrottledStream writes more than one shard takes (1 MiB/s and
// 1,000 records/s, enforced by the server) as fast as Put allows. The
// producer's per-shard rate limit paces the sends; records the server
// still refuses (the two clocks differ) are retried with backoff; nothing
// expires and every record is read back once. With injected faults
// (ProvisionedThroughputExceeded and InternalFailure on a share of the
// PutRecords entries) every record still lands exactly once.
func TestThrottledStream(t *testing.T) {
	cases := []struct {
		name       string
		agg        bool
		keys, recs int // records per key
		size       int
		faults     bool
	}{
		// 2,400 records: 2.4 s of a shard's record rate.
		{"limits/aggregation=off", false, 8, 300, 100, false},
		// 2,400 KiB: 2.3 s of a shard's byte rate.
		{"limits/aggregation=on", true, 8, 300, 1024, false},
		{"faults/aggregation=off", false, 10, 100, 100, true},
		{"faults/aggregation=on", true, 10, 200, 100, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := servertest.Start(t, func(c *config.Config) {
				if tc.faults {
					c.FaultThrottleProbability, c.FaultInternalProbability, c.FaultSeed = 0.15, 0.1, 7
				} else {
					c.ThroughputLimits = "on"
				}
			})
			c := srv.Kinesis(readRetries)
			createStream(t, c, "throttled", 1)
			opts := producer.Options{
				DisableAggregation: !tc.agg, RecordTTL: time.Minute,
				RecordMaxBufferedTime: 5 * time.Millisecond, RetryBaseDelay: 5 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
			}
			if tc.faults {
				// Small aggregates, so the faults hit many of them.
				opts.AggregationMaxSize, opts.CollectionMaxCount = 1000, 20
			}
			p, err := producer.New(srv.Kinesis(), "throttled", opts)
			if err != nil {
				t.Fatal(err)
			}
			futs := putAll(t, p, tc.keys, tc.recs, tc.size)
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i, f := range futs {
				if r := f.Result(); r.Err != nil {
					t.Fatalf("record %d: %v", i, r.Err)
				}
			}
			st := p.Stats()
			t.Logf("%+v", st)
			if st.UserRecordsExpired != 0 || st.UserRecordsFailed != 0 || st.UserRecordsPut != uint64(len(futs)) {
				t.Fatalf("stats %+v", st)
			}
			if tc.faults && st.Retries == 0 {
				t.Fatalf("no retries with injected faults: %+v", st)
			}
			// Read back without limits or faults.
			srv.Config.ThroughputLimits = "off"
			srv.Config.FaultThrottleProbability, srv.Config.FaultInternalProbability = 0, 0
			srv.Restart(t)
			perKey := make([]int, tc.keys)
			for k := range perKey {
				perKey[k] = tc.recs
			}
			checkExactlyOnce(t, readInLineage(t, c, "throttled", aggregation.DropOutside), perKey, false)
		})
	}
}

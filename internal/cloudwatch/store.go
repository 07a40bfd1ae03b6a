package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// LogKey is the storage log that holds the per-minute aggregates: a shard
// of a stream number the domain never hands out (its counter starts at 1
// and counts up), so the aggregates ride on the engine's durable,
// time-indexed, trimmable log like any shard and, with a replicated
// engine, are cluster-wide. Firehose's Direct PUT logs take the number
// below (firehose.LogStream, math.MaxUint64-1); a new internal log takes
// the next one down.
var LogKey = storage.ShardKey{Stream: math.MaxUint64, Shard: 0}

// minuteRecord is one log record: every series' datum for one minute.
// Its arrival time is the minute's start; Minute repeats it, since the log
// raises an arrival older than the last one (after a clock step back).
type minuteRecord struct {
	Minute int64          `json:"t"` // Unix seconds of the minute's start
	Series []storedSeries `json:"s"`
}

type storedSeries struct {
	Account   string      `json:"a"`
	Region    string      `json:"r"`
	Namespace string      `json:"n"`
	Metric    string      `json:"m"`
	Dims      [][2]string `json:"d,omitempty"`
	Unit      string      `json:"u,omitempty"`
	Datum
}

func (s *storedSeries) key() Key {
	k := Key{Account: s.Account, Region: s.Region, Namespace: s.Namespace, Metric: s.Metric, Unit: s.Unit}
	for _, d := range s.Dims {
		k.Dims = append(k.Dims, Dim{d[0], d[1]})
	}
	return k
}

func toStored(k *Key, d Datum) storedSeries {
	s := storedSeries{Account: k.Account, Region: k.Region, Namespace: k.Namespace, Metric: k.Metric, Unit: k.Unit, Datum: d}
	for _, dim := range k.Dims {
		s.Dims = append(s.Dims, [2]string{dim.Name, dim.Value})
	}
	return s
}

// appendMinute writes one minute's data to the log.
func appendMinute(ctx context.Context, log storage.Log, minute time.Time, series []storedSeries) error {
	b, err := json.Marshal(minuteRecord{Minute: minute.Unix(), Series: series})
	if err != nil {
		return err
	}
	_, err = log.Append(ctx, LogKey, minute.UnixMilli(), []storage.Entry{{Data: b}})
	if err != nil {
		return fmt.Errorf("cloudwatch: writing the aggregates of %s: %w", minute.Format(time.RFC3339), err)
	}
	return nil
}

// readMinutes calls fn with every stored minute in [start, end), in order
// of writing (a minute may come more than once: a flush at shutdown and
// the rest of the minute after a restart).
func readMinutes(ctx context.Context, log storage.Log, start, end time.Time, fn func(minute time.Time, s *storedSeries)) error {
	// One minute of slack: a record's arrival is its minute's start, but
	// the log may have raised it.
	from, err := log.SeekTime(ctx, LogKey, start.Add(-time.Minute).UnixMilli())
	if err != nil {
		return fmt.Errorf("cloudwatch: reading the aggregates: %w", err)
	}
	for {
		recs, err := log.Read(ctx, LogKey, from, 256, 16<<20)
		if err != nil {
			return fmt.Errorf("cloudwatch: reading the aggregates: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		for i := range recs {
			r := &recs[i]
			from = r.Seq + 1
			if r.Arrival >= end.UnixMilli()+time.Minute.Milliseconds() {
				return nil
			}
			var m minuteRecord
			if err := json.Unmarshal(r.Data, &m); err != nil {
				return fmt.Errorf("cloudwatch: aggregate record %d: %w", r.Seq, err)
			}
			t := time.Unix(m.Minute, 0).UTC()
			if t.Before(start) || !t.Before(end) {
				continue
			}
			for j := range m.Series {
				fn(t, &m.Series[j])
			}
		}
	}
}

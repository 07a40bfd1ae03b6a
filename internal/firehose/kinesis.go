package firehose

import (
	"context"
	"maps"
	"time"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/sink"
	"github.com/millrace/millrace/internal/streams"
)

// kinesisReader reads a Kinesis-source delivery stream's stream through
// the streams domain (or, roles enforced, Kinesis's API as the source's
// role), shard by shard. It starts where the delivered
// progress says, or, for a shard never delivered, at the delivery
// stream's creation (Firehose starts at LATEST when it is created; a
// shard created later is read from its start).
type kinesisReader struct {
	s     *Service
	src   shardSource
	ref   streams.StreamRef
	start time.Time
	// pos is the sequence number of the last record read, per shard.
	pos   map[string]string
	iters map[string]string
	done  map[string]bool
	// listed is when the shard list was last read, polled when the
	// shards were last read.
	listed, polled time.Time
}

// pollGap keeps a reader within Kinesis's five GetRecords calls per
// second per shard.
const pollGap = 250 * time.Millisecond

// relist is how often the reader looks for new shards (after a split or
// merge).
const relist = 10 * time.Second

func newKinesisReader(s *Service, d *deliveryStream, p progress) *kinesisReader {
	r := &kinesisReader{s: s, ref: streams.StreamRef{ARN: awsproto.Value(d.KinesisSource.KinesisStreamARN)},
		start: time.UnixMilli(d.CreatedAt), pos: map[string]string{}, iters: map[string]string{}, done: map[string]bool{}}
	r.src = domainSource{s.opts.Streams}
	if s.opts.Roles != nil && s.opts.Router != nil {
		r.src = s.roleSource(d)
	}
	maps.Copy(r.pos, p.Shards)
	return r
}

func (r *kinesisReader) list(ctx context.Context) error {
	next := ""
	for {
		shards, token, err := r.src.listShards(ctx, r.ref, next)
		if err != nil {
			return err
		}
		for _, sh := range shards {
			id := sh.id
			if _, ok := r.iters[id]; ok || r.done[id] {
				continue
			}
			p := streams.IteratorParams{Ref: r.ref, ShardID: id}
			if seq, ok := r.pos[id]; ok {
				p.Type, p.StartingSequenceNumber = "AFTER_SEQUENCE_NUMBER", seq
			} else if time.UnixMilli(sh.createdAt).After(r.start) {
				p.Type = "TRIM_HORIZON"
			} else {
				t := r.start
				p.Type, p.Timestamp = "AT_TIMESTAMP", &t
			}
			it, err := r.src.iterator(ctx, p)
			if err != nil {
				return err
			}
			r.iters[id] = it
		}
		if token == "" {
			break
		}
		next = token
	}
	r.listed = r.s.now()
	return nil
}

func (r *kinesisReader) poll(ctx context.Context) ([]sink.Record, error) {
	if wait := pollGap - r.s.now().Sub(r.polled); wait > 0 && !sleep(ctx, wait) {
		return nil, ctx.Err()
	}
	r.polled = r.s.now()
	if len(r.iters) == 0 || r.s.now().Sub(r.listed) >= relist {
		if err := r.list(ctx); err != nil {
			return nil, err
		}
	}
	var out []sink.Record
	for id, it := range r.iters {
		res, err := r.src.records(ctx, r.ref, it)
		if err != nil {
			// An expired iterator or a throttled read: the shard is read
			// again from its position after the next listing.
			delete(r.iters, id)
			r.listed = time.Time{}
			continue
		}
		for _, rec := range res.Records {
			arrival := time.UnixMilli(rec.Arrival)
			base := id + ":" + rec.SequenceNumber
			// Firehose deaggregates KPL aggregates of a Kinesis source.
			if aggregation.IsAggregated(rec.Data) {
				if urs, err := aggregation.Unmarshal(rec.Data); err == nil {
					for i, u := range urs {
						out = append(out, sink.Record{ID: base + ":" + itoa(i), Data: u.Data, Arrival: arrival})
					}
					r.pos[id] = rec.SequenceNumber
					continue
				}
			}
			out = append(out, sink.Record{ID: base, Data: rec.Data, Arrival: arrival})
			r.pos[id] = rec.SequenceNumber
		}
		if res.NextShardIterator == "" {
			delete(r.iters, id)
			r.done[id] = true
		} else {
			r.iters[id] = res.NextShardIterator
		}
	}
	return out, nil
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func (r *kinesisReader) mark() progress { return progress{Shards: maps.Clone(r.pos)} }

func (r *kinesisReader) delivered(context.Context, progress, sink.Record) {}

// shardSource is how a kinesisReader reads: the streams domain directly,
// or (roles enforced) Kinesis's API in-process as the source's role.
type shardSource interface {
	listShards(ctx context.Context, ref streams.StreamRef, next string) ([]shardInfo, string, error)
	iterator(ctx context.Context, p streams.IteratorParams) (string, error)
	records(ctx context.Context, ref streams.StreamRef, iterator string) (*streams.GetRecordsResult, error)
}

// shardInfo is a shard of the source; createdAt (ms) is 0 when unknown,
// which reads a shard never delivered from the delivery stream's
// creation, as for a shard older than it (a shard created later holds
// only records that arrived after it anyway).
type shardInfo struct {
	id        string
	createdAt int64
}

type domainSource struct{ st *streams.Streams }

func (d domainSource) listShards(_ context.Context, ref streams.StreamRef, next string) ([]shardInfo, string, error) {
	page, err := d.st.ListShards(streams.ListShardsParams{Ref: ref, NextToken: next})
	if err != nil {
		return nil, "", err
	}
	out := make([]shardInfo, len(page.Shards))
	for i, sh := range page.Shards {
		out[i] = shardInfo{id: sh.ID(), createdAt: sh.CreatedAt}
	}
	return out, page.NextToken, nil
}

func (d domainSource) iterator(ctx context.Context, p streams.IteratorParams) (string, error) {
	return d.st.GetShardIterator(ctx, p)
}

func (d domainSource) records(ctx context.Context, _ streams.StreamRef, it string) (*streams.GetRecordsResult, error) {
	return d.st.GetRecords(ctx, it, 10000)
}

package kinesis

import (
	"context"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// The data-plane operations: PutRecord, PutRecords, GetShardIterator and
// GetRecords. They translate shapes only; the domain does the work.

func (svc *Service) putRecord(ctx context.Context, in *kinesisapi.PutRecordInput) (*kinesisapi.PutRecordOutput, error) {
	e := streams.PutEntry{Data: in.Data, PartitionKey: awsproto.Value(in.PartitionKey), ExplicitHashKey: awsproto.Value(in.ExplicitHashKey)}
	r, enc, err := svc.s.PutRecord(ctx, streamRef(ctx, in.StreamName, in.StreamARN), e, awsproto.Value(in.SequenceNumberForOrdering))
	if err != nil {
		return nil, err
	}
	return &kinesisapi.PutRecordOutput{
		ShardId:        ptr(r.ShardID),
		SequenceNumber: ptr(r.SequenceNumber),
		EncryptionType: ptr(kinesisapi.EncryptionType(enc)),
	}, nil
}

func (svc *Service) putRecords(ctx context.Context, in *kinesisapi.PutRecordsInput) (*kinesisapi.PutRecordsOutput, error) {
	entries := make([]streams.PutEntry, len(in.Records))
	for i := range in.Records {
		r := &in.Records[i]
		entries[i] = streams.PutEntry{Data: r.Data, PartitionKey: awsproto.Value(r.PartitionKey), ExplicitHashKey: awsproto.Value(r.ExplicitHashKey)}
	}
	res, err := svc.s.PutRecords(ctx, streamRef(ctx, in.StreamName, in.StreamARN), entries)
	if err != nil {
		return nil, err
	}
	out := &kinesisapi.PutRecordsOutput{
		FailedRecordCount: ptr(int32(res.FailedCount)),
		EncryptionType:    ptr(kinesisapi.EncryptionType(res.EncryptionType)),
		Records:           make([]kinesisapi.PutRecordsResultEntry, len(res.Records)),
	}
	for i := range res.Records {
		r := &res.Records[i]
		if r.ErrorCode != "" {
			out.Records[i] = kinesisapi.PutRecordsResultEntry{ErrorCode: ptr(r.ErrorCode), ErrorMessage: ptr(r.ErrorMessage)}
			continue
		}
		out.Records[i] = kinesisapi.PutRecordsResultEntry{ShardId: &r.ShardID, SequenceNumber: &r.SequenceNumber}
	}
	return out, nil
}

func (svc *Service) getShardIterator(ctx context.Context, in *kinesisapi.GetShardIteratorInput) (*kinesisapi.GetShardIteratorOutput, error) {
	p := streams.IteratorParams{
		Ref:                    streamRef(ctx, in.StreamName, in.StreamARN),
		ShardID:                awsproto.Value(in.ShardId),
		Type:                   string(awsproto.Value(in.ShardIteratorType)),
		StartingSequenceNumber: awsproto.Value(in.StartingSequenceNumber),
	}
	if in.Timestamp != nil {
		t := in.Timestamp.Time
		p.Timestamp = &t
	}
	it, err := svc.s.GetShardIterator(ctx, p)
	if err != nil {
		return nil, err
	}
	return &kinesisapi.GetShardIteratorOutput{ShardIterator: ptr(it)}, nil
}

// getRecordsSlices are a GetRecords response's records and their
// timestamps, reused across calls answered over HTTP.
type getRecordsSlices struct {
	records  []kinesisapi.Record
	arrivals []awsproto.Timestamp
}

var getRecordsSlicesPool sync.Pool // of *getRecordsSlices

func (svc *Service) getRecords(ctx context.Context, in *kinesisapi.GetRecordsInput) (*kinesisapi.GetRecordsOutput, error) {
	it, limit := awsproto.Value(in.ShardIterator), int(awsproto.Value(in.Limit))
	var res *streams.GetRecordsResult
	var err error
	var slices *getRecordsSlices
	var out *kinesisapi.GetRecordsOutput
	if awsproto.CanRunAfterResponse(ctx) {
		// The response is written before anything else can see the
		// records: their memory, and the response's slices, are taken
		// back once it is, for the next call.
		var release func()
		if res, release, err = svc.s.GetRecordsBuffered(ctx, it, limit); err != nil {
			return nil, err
		}
		slices, _ = getRecordsSlicesPool.Get().(*getRecordsSlices)
		if slices == nil {
			slices = new(getRecordsSlices)
		}
		awsproto.AfterResponse(ctx, func() {
			release()
			// The pooled slices keep no pointer into memory that is no
			// longer the call's (a collection may drop the lease).
			clear(out.Records)
			getRecordsSlicesPool.Put(slices)
		})
	} else if res, err = svc.s.GetRecords(ctx, it, limit); err != nil {
		return nil, err
	}
	out = &kinesisapi.GetRecordsOutput{MillisBehindLatest: ptr(res.MillisBehindLatest)}
	// One allocation for all the records' timestamps: pointers into it.
	var arrivals []awsproto.Timestamp
	// Records is never nil: an empty list is written as [], not null.
	if slices != nil && slices.records != nil && cap(slices.records) >= len(res.Records) {
		out.Records = slices.records[:len(res.Records)]
		arrivals = slices.arrivals[:len(res.Records)]
	} else {
		out.Records = make([]kinesisapi.Record, len(res.Records))
		arrivals = make([]awsproto.Timestamp, len(res.Records))
		if slices != nil {
			slices.records, slices.arrivals = out.Records, arrivals
		}
	}
	for i := range res.Records {
		r := &res.Records[i]
		arrivals[i] = awsproto.NewTimestamp(time.UnixMilli(r.Arrival))
		out.Records[i] = kinesisapi.Record{
			SequenceNumber:              &r.SequenceNumber,
			ApproximateArrivalTimestamp: &arrivals[i],
			Data:                        r.Data,
			PartitionKey:                &r.PartitionKey,
		}
		if r.EncryptionType != "" {
			out.Records[i].EncryptionType = ptr(kinesisapi.EncryptionType(r.EncryptionType))
		}
	}
	if res.NextShardIterator != "" {
		out.NextShardIterator = ptr(res.NextShardIterator)
	}
	for _, c := range res.ChildShards {
		out.ChildShards = append(out.ChildShards, kinesisapi.ChildShard{
			ShardId:      ptr(c.ShardID),
			ParentShards: c.ParentShards,
			HashKeyRange: &kinesisapi.HashKeyRange{
				StartingHashKey: ptr(c.StartingHashKey.String()),
				EndingHashKey:   ptr(c.EndingHashKey.String()),
			},
		})
	}
	return out, nil
}

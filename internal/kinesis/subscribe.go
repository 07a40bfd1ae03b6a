package kinesis

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/awsproto/eventstream"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// SubscribeToShard answers with an application/vnd.amazon.eventstream body:
// an initial-response event first (botocore and smithy-go fail the call
// without it), then SubscribeToShardEvent events as records become durable
// and at least every heartbeat, and an exception message if the
// subscription fails mid-stream. Payloads use the request's protocol.

// Content types of event payloads.
const (
	eventContentTypeJSON = "application/json"
	eventContentTypeCBOR = "application/cbor"
)

func (svc *Service) subscribeToShard(ctx context.Context, in *kinesisapi.SubscribeToShardInput) (*subscription, error) {
	p := streams.SubscribeParams{
		ConsumerARN: awsproto.Value(in.ConsumerARN),
		ShardID:     awsproto.Value(in.ShardId),
		// A client whose connection dropped (aws-sdk-go-v2 over HTTP/1.1
		// can lose one just after the initial response, docs/tls.md)
		// subscribes again at once; that must not meet the 5-second rule.
		Gone: func() bool { return awsproto.ClientGone(ctx) },
	}
	if sp := in.StartingPosition; sp != nil {
		p.Type = string(awsproto.Value(sp.Type))
		p.SequenceNumber = awsproto.Value(sp.SequenceNumber)
		if sp.Timestamp != nil {
			t := sp.Timestamp.Time
			p.Timestamp = &t
		}
	}
	sub, err := svc.s.Subscribe(ctx, p)
	if err != nil {
		return nil, err
	}
	return &subscription{svc: svc, sub: sub}, nil
}

// subscription streams one SubscribeToShard response.
type subscription struct {
	svc *Service
	sub *streams.Subscription
}

// ServeStream implements awsproto.Streamer.
func (s *subscription) ServeStream(ctx context.Context, w http.ResponseWriter, flush func()) {
	defer s.sub.Close()
	info := awsproto.Info(ctx)
	proto := info.Protocol
	contentType := eventContentTypeJSON
	if proto == awsproto.ProtocolCBOR {
		contentType = eventContentTypeCBOR
	}
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	enc := eventstream.NewEncoder(w)

	empty, err := awsproto.Encode(proto, struct{}{})
	if err != nil {
		s.svc.logger.Error("encoding the initial response", "request_id", info.RequestID, "err", err)
		return
	}
	if enc.Encode(eventstream.EventMessage(eventstream.EventTypeInitialResponse, contentType, empty)) != nil {
		return
	}
	flush()
	for {
		ev, err := s.sub.Next(ctx)
		if err != nil {
			s.end(ctx, enc, flush, proto, contentType, err)
			return
		}
		payload, err := awsproto.Encode(proto, eventShape(ev))
		if err != nil {
			s.svc.logger.Error("encoding a subscription event", "request_id", info.RequestID, "err", err)
			s.end(ctx, enc, flush, proto, contentType, errors.New("encoding failed"))
			return
		}
		if enc.Encode(eventstream.EventMessage(eventstream.EventTypeSubscribeToShardEvent, contentType, payload)) != nil {
			return // the client went away
		}
		flush()
	}
}

// end finishes the stream: nothing more for a subscription that is over
// (the body just ends) or whose client left, an exception message for a
// failure.
func (s *subscription) end(ctx context.Context, enc *eventstream.Encoder, flush func(), proto awsproto.Protocol, contentType string, err error) {
	if errors.Is(err, io.EOF) || ctx.Err() != nil {
		return
	}
	code, msg := "InternalFailureException", "Internal service failure."
	var ae *awsproto.Error
	if errors.As(apiError(err), &ae) {
		switch ae.Code {
		case codeResourceNotFound, codeResourceInUse:
			code, msg = ae.Code, ae.Message
		default:
			s.svc.logger.Error("subscription failed", "request_id", awsproto.Info(ctx).RequestID, "err", err)
		}
	}
	payload, perr := awsproto.Encode(proto, map[string]string{"message": msg})
	if perr != nil {
		return
	}
	if enc.Encode(eventstream.ExceptionMessage(code, contentType, payload)) == nil {
		flush()
	}
}

func eventShape(ev *streams.SubscribeEvent) *kinesisapi.SubscribeToShardEvent {
	out := &kinesisapi.SubscribeToShardEvent{
		Records:            make([]kinesisapi.Record, len(ev.Records)),
		MillisBehindLatest: ptr(ev.MillisBehindLatest),
	}
	if ev.ContinuationSequenceNumber != "" {
		out.ContinuationSequenceNumber = ptr(ev.ContinuationSequenceNumber)
	}
	for i := range ev.Records {
		r := &ev.Records[i]
		out.Records[i] = kinesisapi.Record{
			SequenceNumber:              ptr(r.SequenceNumber),
			ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(r.Arrival)),
			Data:                        r.Data,
			PartitionKey:                ptr(r.PartitionKey),
		}
		if r.EncryptionType != "" {
			out.Records[i].EncryptionType = ptr(kinesisapi.EncryptionType(r.EncryptionType))
		}
	}
	for _, c := range ev.ChildShards {
		out.ChildShards = append(out.ChildShards, kinesisapi.ChildShard{
			ShardId:      ptr(c.ShardID),
			ParentShards: c.ParentShards,
			HashKeyRange: &kinesisapi.HashKeyRange{
				StartingHashKey: ptr(c.StartingHashKey.String()),
				EndingHashKey:   ptr(c.EndingHashKey.String()),
			},
		})
	}
	return out
}

var _ awsproto.Streamer = (*subscription)(nil)

package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/millrace/millrace/internal/streams"
)

// item is one record of a batch and its JSON in the event, encoded once
// (a batch retried or split is not encoded again).
type item struct {
	rec  streams.Record
	json []byte
	pos  int64 // with lanes: the record's place in the shard's reads (esm_lanes.go)
}

// encode renders records as the Records of Lambda's Kinesis event, with
// the members in the order Lambda sends them. KPL aggregates are passed
// as they are: Lambda does not deaggregate them.
// role is the function's execution role, which Lambda names as
// invokeIdentityArn. The members that are the same for every record are
// rendered once, and the records' JSON share one buffer sized up front.
func (p *poller) encode(shardID, role string, recs []streams.Record) []item {
	const head = `{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":`
	mid := `},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"` + shardID + ":"
	tail := []byte(`","eventName":"aws:kinesis:record","invokeIdentityArn":`)
	tail = appendJSONString(tail, role)
	tail = append(tail, `,"awsRegion":`...)
	tail = appendJSONString(tail, p.m.Region)
	tail = append(tail, `,"eventSourceARN":`...)
	tail = appendJSONString(tail, p.m.streamArn())
	tail = append(tail, '}')
	size := 0
	for i := range recs {
		r := &recs[i]
		size += len(head) + len(r.PartitionKey) + 2 + len(`,"sequenceNumber":""`) + 2*len(r.SequenceNumber) +
			len(`,"data":""`) + base64.StdEncoding.EncodedLen(len(r.Data)) + len(`,"approximateArrivalTimestamp":`) + 24 +
			len(mid) + len(tail)
		if r.EncryptionType != "" {
			size += len(`,"encryptionType":""`) + len(r.EncryptionType)
		}
	}
	// A partition key that needs escaping can outgrow the estimate: the
	// buffer then grows, and the items before keep the old one.
	buf := make([]byte, 0, size)
	items := make([]item, len(recs))
	for i := range recs {
		r := &recs[i]
		start := len(buf)
		b := append(buf, head...)
		b = appendJSONString(b, r.PartitionKey)
		b = append(b, `,"sequenceNumber":"`...)
		b = append(b, r.SequenceNumber...)
		b = append(b, `","data":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Data)
		b = append(b, `","approximateArrivalTimestamp":`...)
		b = appendSeconds(b, r.Arrival)
		if r.EncryptionType != "" {
			b = append(b, `,"encryptionType":`...)
			b = appendJSONString(b, r.EncryptionType)
		}
		b = append(b, mid...)
		b = append(b, r.SequenceNumber...)
		b = append(b, tail...)
		buf = b
		items[i] = item{rec: *r, json: b[start:len(b):len(b)]}
	}
	return items
}

// eventPayload is the event of a batch: {"Records":[...]}.
func eventPayload(batch []item) []byte {
	n := eventOverhead
	for i := range batch {
		n += len(batch[i].json) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"Records":[`...)
	for i := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, batch[i].json...)
	}
	return append(b, "]}"...)
}

// appendSeconds writes an arrival time (ms) as epoch seconds with the
// milliseconds as a fraction (1545084650.987), as approximateArrivalTimestamp
// is.
func appendSeconds(b []byte, ms int64) []byte {
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	b = append(b, '.')
	switch {
	case frac == 0:
		return append(b, '0')
	case frac < 10:
		b = append(b, '0', '0')
	case frac < 100:
		b = append(b, '0')
	}
	for frac%10 == 0 {
		frac /= 10
	}
	return strconv.AppendInt(b, frac, 10)
}

// appendJSONString writes s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	plain := utf8.ValidString(s)
	for i := 0; plain && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	raw, _ := json.Marshal(s)
	return append(b, raw...)
}

// finished records the IteratorAge of a batch done with (delivered or
// given up on): the age of its last record now.
func (p *poller) finished(f *function, batch []item) {
	age := p.s.now().UnixMilli() - batch[len(batch)-1].rec.Arrival
	p.s.stats.function(f.Account, f.Region, f.Name).IteratorAge.Observe(max(age, 0))
	p.counters.IteratorAge.Observe(max(age, 0))
}

// failureRecord is Lambda's invocation record for a batch it gave up on.
type failureRecord struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	Version          string `json:"version"`
	Timestamp        string `json:"timestamp"`
	KinesisBatchInfo struct {
		ShardID                         string `json:"shardId"`
		StartSequenceNumber             string `json:"startSequenceNumber"`
		EndSequenceNumber               string `json:"endSequenceNumber"`
		ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
		ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
		BatchSize                       int    `json:"batchSize"`
		StreamArn                       string `json:"streamArn"`
	} `json:"KinesisBatchInfo"`
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// failed hands a batch the mapping gave up on to its on-failure
// destination (the records stay in the stream; the record says where).
// Without a destination the batch is dropped, as Lambda drops it.
func (p *poller) failed(ctx context.Context, shardID string, batch []item, condition string, invokes int, last result) {
	m, s := p.m, p.s
	var rec failureRecord
	rec.RequestContext.RequestID = newRevisionID()
	rec.RequestContext.FunctionArn = m.functionArn()
	rec.RequestContext.Condition = condition
	rec.RequestContext.ApproximateInvokeCount = invokes
	rec.ResponseContext.StatusCode = 200
	rec.ResponseContext.ExecutedVersion = latest
	rec.ResponseContext.FunctionError = last.functionError
	rec.Version = "1.0"
	rec.Timestamp = s.now().UTC().Format(isoMillis)
	first, lastRec := batch[0].rec, batch[len(batch)-1].rec
	bi := &rec.KinesisBatchInfo
	bi.ShardID = shardID
	bi.StartSequenceNumber, bi.EndSequenceNumber = first.SequenceNumber, lastRec.SequenceNumber
	bi.ApproximateArrivalOfFirstRecord = time.UnixMilli(first.Arrival).UTC().Format(isoMillis)
	bi.ApproximateArrivalOfLastRecord = time.UnixMilli(lastRec.Arrival).UTC().Format(isoMillis)
	bi.BatchSize = len(batch)
	bi.StreamArn = m.streamArn()
	raw, _ := json.Marshal(&rec)
	p.counters.Dropped.Add(int64(len(batch)))
	if f, _, err := s.load(ctx, m.Account, m.Region, m.FunctionName); err == nil && f != nil {
		p.finished(f, batch)
	}
	s.logger.Info("event source mapping gave up on a batch", "uuid", m.UUID, "shard", shardID,
		"condition", condition, "first", first.SequenceNumber, "last", lastRec.SequenceNumber, "records", len(batch))
	if m.OnFailure == "" {
		return
	}
	for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
		if err := p.sendFailure(ctx, shardID, raw); err == nil {
			p.counters.OnFailureDelivered.Add(int64(len(batch)))
			return
		} else if attempt == 4 {
			s.logger.Error("event source mapping: on-failure destination did not take the record", "uuid", m.UUID,
				"destination", m.OnFailure, "err", err)
			return
		}
		sleep(ctx, errorPause)
	}
}

// sendFailure writes the record to the destination: a Kinesis stream
// (partition key: the source shard, so one shard's records stay in
// order) or a Lambda function, invoked asynchronously.
func (p *poller) sendFailure(ctx context.Context, shardID string, raw []byte) error {
	dest := p.m.OnFailure
	if strings.HasPrefix(dest, "arn:aws:lambda:") || strings.Contains(dest, ":lambda:") {
		r := parseRef(ctx, dest)
		f, _, err := p.s.load(ctx, r.account, r.region, r.name)
		if err != nil {
			return err
		}
		if f == nil {
			return errNotFound(dest)
		}
		if p.s.roles != nil {
			// As Lambda does, as the mapped function's execution role.
			mf, _, err := p.s.load(ctx, p.m.Account, p.m.Region, p.m.FunctionName)
			if err != nil {
				return err
			}
			if mf == nil {
				return errNotFound(p.m.FunctionName)
			}
			return p.s.invokeAsRole(ctx, mf, f.arn(), raw)
		}
		// Queued durably before the checkpoint moves past the batch.
		return p.s.enqueue(ctx, f, &invocation{id: newRevisionID(), payload: raw})
	}
	if p.s.roles != nil {
		// As Lambda does, as the function's execution role.
		f, _, err := p.s.load(ctx, p.m.Account, p.m.Region, p.m.FunctionName)
		if err != nil {
			return err
		}
		if f == nil {
			return errNotFound(p.m.FunctionName)
		}
		return p.s.putAsRole(ctx, f, dest, shardID, raw)
	}
	ref, err := streams.ResourceRef(dest)
	if err != nil {
		return err
	}
	_, _, err = p.s.opts.Streams.PutRecord(ctx, ref, streams.PutEntry{Data: raw, PartitionKey: shardID}, "")
	return err
}

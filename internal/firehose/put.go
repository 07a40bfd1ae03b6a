package firehose

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/storage"
)

// maxBatchBytes is PutRecordBatch's limit on the sum of its records.
const maxBatchBytes = 4 << 20

// writable returns the delivery stream a put may write to.
func (s *Service) writable(ctx context.Context, name string) (*deliveryStream, error) {
	account, region := caller(ctx)
	d, _, err := s.get(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if d.KinesisSource != nil {
		// A Kinesis-source stream takes its records from the stream only.
		return nil, errInvalid("This operation is not permitted on KinesisStreamAsSource type Firehose stream %s", d.ARN)
	}
	if d.Status != string(firehoseapi.DeliveryStreamStatusActive) {
		return nil, awsproto.NewError("ResourceNotFoundException",
			"Firehose stream %s under account %s is not ACTIVE; its status is %s.", name, d.Account, d.Status)
	}
	return d, nil
}

// recordID is the RecordId of the record at a sequence number of a log.
// It is written without fmt: a delivery stream names every record twice
// (in PutRecordBatch's answer and when delivering it).
func recordID(log uint32, seq uint64) string {
	const digits = "0123456789abcdef"
	var b [24]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[log&15]
		log >>= 4
	}
	for i := 23; i >= 8; i-- {
		b[i] = digits[seq&15]
		seq >>= 4
	}
	return string(b[:])
}

// appendRecords writes records durably to the delivery stream's log.
func (s *Service) appendRecords(ctx context.Context, d *deliveryStream, data [][]byte) (storage.AppendResult, error) {
	entries := make([]storage.Entry, len(data))
	for i, b := range data {
		entries[i] = storage.Entry{Data: b}
	}
	res, err := s.log.Append(ctx, d.logKey(), s.now().UnixMilli(), entries)
	if err != nil {
		return res, err
	}
	s.signal(d.Log)
	c := s.counters(d)
	n := 0
	for _, b := range data {
		n += len(b)
	}
	c.IncomingBytes.Add(int64(n))
	c.IncomingRecords.Add(int64(len(data)))
	c.IncomingPutRequests.Add(1)
	return res, nil
}

func (s *Service) putRecord(ctx context.Context, in *firehoseapi.PutRecordInput) (*firehoseapi.PutRecordOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "PutRecord", name, nil, nil); err != nil {
		return nil, err
	}
	d, err := s.writable(ctx, name)
	if err != nil {
		return nil, err
	}
	if n, err := s.admit(d, [][]byte{in.Record.Data}); err != nil || n == 0 {
		return nil, errSlowDown()
	}
	res, err := s.appendRecords(ctx, d, [][]byte{in.Record.Data})
	if err != nil {
		return nil, awsproto.NewError("ServiceUnavailableException", "Slow down.").WithStatus(503)
	}
	return &firehoseapi.PutRecordOutput{RecordId: awsproto.Ptr(recordID(d.Log, res.FirstSeq)), Encrypted: awsproto.Ptr(d.encrypted())}, nil
}

func (d *deliveryStream) encrypted() bool {
	return d.Encryption != nil && awsproto.Value(d.Encryption.Status) == firehoseapi.DeliveryStreamEncryptionStatusEnabled
}

func (s *Service) putRecordBatch(ctx context.Context, in *firehoseapi.PutRecordBatchInput) (*firehoseapi.PutRecordBatchOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "PutRecordBatch", name, nil, nil); err != nil {
		return nil, err
	}
	d, err := s.writable(ctx, name)
	if err != nil {
		return nil, err
	}
	total := 0
	data := make([][]byte, len(in.Records))
	for i, r := range in.Records {
		total += len(r.Data)
		data[i] = r.Data
	}
	if total > maxBatchBytes {
		return nil, errInvalid("Records size exceeds 4 MB limit: the records of this request add up to %d bytes.", total)
	}
	out := &firehoseapi.PutRecordBatchOutput{
		RequestResponses: make([]firehoseapi.PutRecordBatchResponseEntry, len(data)),
		Encrypted:        awsproto.Ptr(d.encrypted()), FailedPutCount: awsproto.Ptr[int32](0),
	}
	admitted, err := s.admit(d, data)
	if err != nil {
		return nil, err
	}
	throttled := data[admitted:]
	data = data[:admitted]
	for i := range throttled {
		out.RequestResponses[admitted+i] = firehoseapi.PutRecordBatchResponseEntry{
			ErrorCode: awsproto.Ptr("ServiceUnavailableException"), ErrorMessage: awsproto.Ptr("Slow down.")}
	}
	out.FailedPutCount = awsproto.Ptr(int32(len(throttled)))
	if len(data) == 0 {
		return out, nil
	}
	res, err := s.appendRecords(ctx, d, data)
	if err != nil {
		// Nothing was written: every record failed, and the caller sends
		// them again, as after a throttled batch on AWS.
		s.logger.Warn("appending to a delivery stream's log", "stream", d.ARN, "err", err)
		for i := range out.RequestResponses {
			out.RequestResponses[i] = firehoseapi.PutRecordBatchResponseEntry{
				ErrorCode: awsproto.Ptr("ServiceUnavailableException"), ErrorMessage: awsproto.Ptr("Slow down.")}
		}
		out.FailedPutCount = awsproto.Ptr(int32(len(out.RequestResponses)))
		return out, nil
	}
	for i := range data {
		out.RequestResponses[i].RecordId = awsproto.Ptr(recordID(d.Log, res.FirstSeq+uint64(i)))
	}
	return out, nil
}

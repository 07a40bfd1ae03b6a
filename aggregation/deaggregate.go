package aggregation

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"google.golang.org/protobuf/proto"

	"github.com/millrace/millrace/aggregation/internal/aggpb"
)

// ErrNotAggregated is wrapped by the errors of Unmarshal: data is not a
// valid aggregated record.
var ErrNotAggregated = errors.New("aggregation: not an aggregated record")

// IsAggregated reports whether data starts with the magic bytes and is long
// enough to hold a message and the MD5 trailer. It does not check the MD5
// or the message: Unmarshal does.
func IsAggregated(data []byte) bool {
	return len(data) > Overhead && bytes.Equal(data[:len(Magic)], Magic[:])
}

// Unmarshal decodes an aggregated record into its user records, in order.
// The error wraps ErrNotAggregated when data is not a valid aggregate: no
// magic, an MD5 mismatch, a protobuf that does not parse (required fields
// included) or a key index outside its table. Data slices alias data.
func Unmarshal(data []byte) ([]Record, error) {
	if !IsAggregated(data) {
		return nil, fmt.Errorf("%w: no magic prefix or too short", ErrNotAggregated)
	}
	body := data[len(Magic) : len(data)-md5.Size]
	if sum := md5.Sum(body); !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return nil, fmt.Errorf("%w: MD5 trailer mismatch", ErrNotAggregated)
	}
	var msg aggpb.AggregatedRecord
	if err := proto.Unmarshal(body, &msg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAggregated, err)
	}
	out := make([]Record, len(msg.Records))
	for i, r := range msg.Records {
		pk := r.GetPartitionKeyIndex()
		if pk >= uint64(len(msg.PartitionKeyTable)) {
			return nil, fmt.Errorf("%w: record %d: partition key index %d outside a table of %d", ErrNotAggregated, i, pk, len(msg.PartitionKeyTable))
		}
		out[i] = Record{PartitionKey: msg.PartitionKeyTable[pk], Data: r.GetData()}
		if r.ExplicitHashKeyIndex != nil {
			ehk := r.GetExplicitHashKeyIndex()
			if ehk >= uint64(len(msg.ExplicitHashKeyTable)) {
				return nil, fmt.Errorf("%w: record %d: explicit hash key index %d outside a table of %d", ErrNotAggregated, i, ehk, len(msg.ExplicitHashKeyTable))
			}
			out[i].ExplicitHashKey = msg.ExplicitHashKeyTable[ehk]
		}
	}
	return out, nil
}

// UserRecord is one user record out of a Kinesis record.
type UserRecord struct {
	PartitionKey string
	// ExplicitHashKey is the record's explicit hash key in an aggregate, or
	// "" (a plain Kinesis record does not return its explicit hash key).
	ExplicitHashKey string
	Data            []byte
	// SequenceNumber, ApproximateArrivalTimestamp and EncryptionType are
	// those of the Kinesis record that carried the user record.
	SequenceNumber              string
	ApproximateArrivalTimestamp time.Time
	EncryptionType              types.EncryptionType
	// SubSequenceNumber is the index of the user record in its aggregate,
	// from 0; 0 for a record that was not aggregated.
	SubSequenceNumber int64
	// Aggregated is true when the record came out of an aggregate.
	Aggregated bool
}

// RangeFilter says what DeaggregateInRange drops.
type RangeFilter int

const (
	// DropOutside drops only the user records whose hash key lies outside
	// the range; the others of the same aggregate are kept. With a producer
	// that re-puts such records to their right shard (this module's and
	// the KPL do), every record is delivered once.
	DropOutside RangeFilter = iota
	// DropAggregate drops the whole aggregate when any of its user records
	// lies outside the range, exactly as the KCL does.
	DropAggregate
)

// Deaggregate returns the user records of records, in order. Aggregates are
// unpacked; any other record, including one that looks like an aggregate
// but is not valid, passes through unchanged.
func Deaggregate(records []types.Record) []UserRecord {
	out := make([]UserRecord, 0, len(records))
	for _, r := range records {
		out = appendUserRecords(out, r, nil, DropOutside)
	}
	return out
}

// DeaggregateInRange is Deaggregate for records read from a shard with hash
// range rng: user records of an aggregate whose effective hash key lies
// outside rng are dropped (see RangeFilter). Records that are not
// aggregates are never dropped, as in the KCL.
func DeaggregateInRange(records []types.Record, rng HashRange, filter RangeFilter) []UserRecord {
	out := make([]UserRecord, 0, len(records))
	for _, r := range records {
		out = appendUserRecords(out, r, &rng, filter)
	}
	return out
}

func appendUserRecords(out []UserRecord, r types.Record, rng *HashRange, filter RangeFilter) []UserRecord {
	base := UserRecord{
		PartitionKey:   deref(r.PartitionKey),
		Data:           r.Data,
		SequenceNumber: deref(r.SequenceNumber),
		EncryptionType: r.EncryptionType,
	}
	if r.ApproximateArrivalTimestamp != nil {
		base.ApproximateArrivalTimestamp = *r.ApproximateArrivalTimestamp
	}
	if !IsAggregated(r.Data) {
		return append(out, base)
	}
	subs, err := Unmarshal(r.Data)
	if err != nil {
		return append(out, base)
	}
	var keys []HashKey
	if rng != nil {
		// A key that does not parse makes the aggregate invalid, as the
		// KCL's BigInteger parse would.
		keys = make([]HashKey, len(subs))
		for i, s := range subs {
			k, err := EffectiveHashKey(s.PartitionKey, s.ExplicitHashKey)
			if err != nil {
				return append(out, base)
			}
			keys[i] = k
			if filter == DropAggregate && !rng.Contains(k) {
				return out
			}
		}
	}
	for i, s := range subs {
		if rng != nil && !rng.Contains(keys[i]) {
			continue
		}
		u := base
		u.PartitionKey, u.ExplicitHashKey, u.Data = s.PartitionKey, s.ExplicitHashKey, s.Data
		u.SubSequenceNumber = int64(i)
		u.Aggregated = true
		out = append(out, u)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

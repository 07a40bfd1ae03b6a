package aggregation

import (
	"crypto/md5"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Magic is the 4-byte prefix of an aggregated record.
var Magic = [4]byte{0xF3, 0x89, 0x9A, 0xC2}

// Overhead is the bytes an aggregated record adds around its protobuf
// message: the magic prefix and the MD5 trailer (the KPL's kFixedOverhead).
const Overhead = len(Magic) + md5.Size

// AggregatePartitionKey is the partition key of the Kinesis record that
// carries an aggregate. It is never used for routing (the aggregate carries
// an explicit hash key) and is one byte, as the KPL writes it.
const AggregatePartitionKey = "a"

// Record is a user record: what a producer is asked to put, and what a
// consumer gets back out of an aggregate.
type Record struct {
	PartitionKey string
	// ExplicitHashKey is a decimal hash key, or "" to route by the MD5 of
	// PartitionKey.
	ExplicitHashKey string
	Data            []byte
}

// ErrEmpty is returned by Build on an aggregator with no records.
var ErrEmpty = errors.New("aggregation: no records to aggregate")

// Aggregator builds one aggregated record. Its zero value is ready to use.
// Keys are deduplicated in the tables. An Aggregator is not safe for
// concurrent use.
//
// It writes the protobuf message (messages.proto's AggregatedRecord) itself,
// in field-number order as a deterministic protobuf encoder does, rather
// than building generated messages: a message and a boxed index per record
// were most of a producer's allocations.
type Aggregator struct {
	pkIndex  map[string]uint64
	ehkIndex map[string]uint64
	pkTable  []string
	ehkTable []string
	records  []aggRecord
	first    Record
	size     int // protobuf bytes of the message
}

// aggRecord is one Record of the message.
type aggRecord struct {
	pkIdx, ehkIdx uint64
	hasEHK        bool
	data          []byte
}

// Protobuf field numbers of messages.proto.
const (
	fieldPartitionKeyTable    = 1 // AggregatedRecord
	fieldExplicitHashKeyTable = 2
	fieldRecords              = 3
	fieldPartitionKeyIndex    = 1 // Record
	fieldExplicitHashKeyIndex = 2
	fieldData                 = 3
)

// Len returns the number of records added since the last Reset.
func (a *Aggregator) Len() int { return len(a.records) }

// Size returns the encoded size of the aggregated record holding the
// records added so far, Overhead included.
func (a *Aggregator) Size() int { return Overhead + a.size }

// SizeWith returns what Size would be after adding r.
func (a *Aggregator) SizeWith(r Record) int {
	extra, _, _, _, _ := a.plan(r)
	return Overhead + a.size + extra
}

// plan returns the bytes r adds to the message and the table indexes it
// would use (with whether each key is new).
func (a *Aggregator) plan(r Record) (extra int, pkIdx uint64, pkNew bool, ehkIdx uint64, ehkNew bool) {
	pkIdx, ok := a.pkIndex[r.PartitionKey]
	if !ok {
		pkIdx, pkNew = uint64(len(a.pkTable)), true
		extra += 1 + protowire.SizeBytes(len(r.PartitionKey))
	}
	inner := 1 + protowire.SizeVarint(pkIdx) + 1 + protowire.SizeBytes(len(r.Data))
	if r.ExplicitHashKey != "" {
		ehkIdx, ok = a.ehkIndex[r.ExplicitHashKey]
		if !ok {
			ehkIdx, ehkNew = uint64(len(a.ehkTable)), true
			extra += 1 + protowire.SizeBytes(len(r.ExplicitHashKey))
		}
		inner += 1 + protowire.SizeVarint(ehkIdx)
	}
	extra += 1 + protowire.SizeBytes(inner)
	return extra, pkIdx, pkNew, ehkIdx, ehkNew
}

// Add appends r. The partition key must not be empty and the explicit hash
// key, when set, must be a valid decimal hash key.
func (a *Aggregator) Add(r Record) error {
	if r.PartitionKey == "" {
		return errors.New("aggregation: empty partition key")
	}
	if r.ExplicitHashKey != "" {
		if _, err := ParseHashKey(r.ExplicitHashKey); err != nil {
			return err
		}
	}
	extra, pkIdx, pkNew, ehkIdx, ehkNew := a.plan(r)
	if a.pkIndex == nil {
		a.pkIndex = make(map[string]uint64)
		a.ehkIndex = make(map[string]uint64)
	}
	if pkNew {
		a.pkIndex[r.PartitionKey] = pkIdx
		a.pkTable = append(a.pkTable, r.PartitionKey)
	}
	rec := aggRecord{pkIdx: pkIdx, data: r.Data}
	if r.ExplicitHashKey != "" {
		if ehkNew {
			a.ehkIndex[r.ExplicitHashKey] = ehkIdx
			a.ehkTable = append(a.ehkTable, r.ExplicitHashKey)
		}
		rec.ehkIdx, rec.hasEHK = ehkIdx, true
	}
	if len(a.records) == 0 {
		a.first = r
	}
	a.records = append(a.records, rec)
	a.size += extra
	return nil
}

// Reset empties the aggregator for reuse.
func (a *Aggregator) Reset() {
	clear(a.pkIndex)
	clear(a.ehkIndex)
	clear(a.pkTable)
	a.pkTable = a.pkTable[:0]
	clear(a.ehkTable)
	a.ehkTable = a.ehkTable[:0]
	clear(a.records)
	a.records = a.records[:0]
	a.first = Record{}
	a.size = 0
}

// Build returns the aggregated record holding the records added so far,
// Size() bytes long.
func (a *Aggregator) Build() ([]byte, error) {
	if len(a.records) == 0 {
		return nil, ErrEmpty
	}
	out := make([]byte, len(Magic), Overhead+a.size)
	copy(out, Magic[:])
	for _, k := range a.pkTable {
		out = protowire.AppendTag(out, fieldPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for _, k := range a.ehkTable {
		out = protowire.AppendTag(out, fieldExplicitHashKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for _, r := range a.records {
		inner := 1 + protowire.SizeVarint(r.pkIdx) + 1 + protowire.SizeBytes(len(r.data))
		if r.hasEHK {
			inner += 1 + protowire.SizeVarint(r.ehkIdx)
		}
		out = protowire.AppendTag(out, fieldRecords, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(inner))
		out = protowire.AppendTag(out, fieldPartitionKeyIndex, protowire.VarintType)
		out = protowire.AppendVarint(out, r.pkIdx)
		if r.hasEHK {
			out = protowire.AppendTag(out, fieldExplicitHashKeyIndex, protowire.VarintType)
			out = protowire.AppendVarint(out, r.ehkIdx)
		}
		// data is a required field: an empty value is still written.
		out = protowire.AppendTag(out, fieldData, protowire.BytesType)
		out = protowire.AppendBytes(out, r.data)
	}
	if len(out) != len(Magic)+a.size {
		return nil, fmt.Errorf("aggregation: encoded %d protobuf bytes, sized %d", len(out)-len(Magic), a.size)
	}
	sum := md5.Sum(out[len(Magic):])
	return append(out, sum[:]...), nil
}

// KinesisRecord returns what to put to Kinesis for the records added so
// far, as the KPL does: a single record is put as it is (no container);
// two or more become an aggregated record with partition key "a" and, as
// explicit hash key, the effective hash key of the first record, so the
// aggregate lands on the first record's shard.
func (a *Aggregator) KinesisRecord() (Record, error) {
	switch len(a.records) {
	case 0:
		return Record{}, ErrEmpty
	case 1:
		return a.first, nil
	}
	data, err := a.Build()
	if err != nil {
		return Record{}, err
	}
	hk, err := EffectiveHashKey(a.first.PartitionKey, a.first.ExplicitHashKey)
	if err != nil {
		return Record{}, err
	}
	return Record{PartitionKey: AggregatePartitionKey, ExplicitHashKey: hk.String(), Data: data}, nil
}

// Marshal returns the aggregated record holding records, whatever their
// number (even one).
func Marshal(records []Record) ([]byte, error) {
	var a Aggregator
	for _, r := range records {
		if err := a.Add(r); err != nil {
			return nil, err
		}
	}
	return a.Build()
}

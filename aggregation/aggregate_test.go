package aggregation

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"google.golang.org/protobuf/proto"

	"github.com/millrace/millrace/aggregation/internal/aggpb"
)

func sampleRecords() []Record {
	return []Record{
		{PartitionKey: "user-1", Data: []byte("hello")},
		{PartitionKey: "user-2", Data: []byte{}},
		{PartitionKey: "user-1", Data: []byte("again, same key")},
		{PartitionKey: "ключ-ü", ExplicitHashKey: "0", Data: []byte{0, 1, 2, 255}},
		{PartitionKey: "user-3", ExplicitHashKey: MaxHashKey.String(), Data: bytes.Repeat([]byte("x"), 300)},
		{PartitionKey: "user-4", ExplicitHashKey: "0", Data: []byte("shares the EHK table entry")},
	}
}

func TestAggregatorRoundTrip(t *testing.T) {
	var a Aggregator
	in := sampleRecords()
	for i, r := range in {
		want := a.SizeWith(r)
		if err := a.Add(r); err != nil {
			t.Fatal(err)
		}
		if a.Size() != want {
			t.Fatalf("after record %d: Size %d, SizeWith predicted %d", i, a.Size(), want)
		}
		b, err := a.Build()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != a.Size() {
			t.Fatalf("after record %d: built %d bytes, Size says %d", i, len(b), a.Size())
		}
	}
	b, err := a.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:4], []byte{0xF3, 0x89, 0x9A, 0xC2}) {
		t.Fatalf("magic % x", b[:4])
	}
	sum := md5.Sum(b[4 : len(b)-16])
	if !bytes.Equal(sum[:], b[len(b)-16:]) {
		t.Fatal("trailer is not the MD5 of the message")
	}
	var msg aggpb.AggregatedRecord
	if err := proto.Unmarshal(b[4:len(b)-16], &msg); err != nil {
		t.Fatal(err)
	}
	if got := len(msg.PartitionKeyTable); got != 5 {
		t.Errorf("partition key table has %d entries, want 5 (deduplicated)", got)
	}
	if got := len(msg.ExplicitHashKeyTable); got != 2 {
		t.Errorf("explicit hash key table has %d entries, want 2", got)
	}
	if msg.Records[0].ExplicitHashKeyIndex != nil {
		t.Error("a record without an explicit hash key has an explicit_hash_key_index")
	}
	out, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	assertRecords(t, out, in)

	a.Reset()
	if a.Len() != 0 || a.Size() != Overhead {
		t.Fatalf("after Reset: Len %d Size %d", a.Len(), a.Size())
	}
	if _, err := a.Build(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Build on empty: %v", err)
	}
	// Reuse after Reset starts fresh tables.
	if err := a.Add(Record{PartitionKey: "z", Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	b, _ = a.Build()
	out, err = Unmarshal(b)
	if err != nil || len(out) != 1 || out[0].PartitionKey != "z" {
		t.Fatalf("after reuse: %+v %v", out, err)
	}
}

func assertRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].PartitionKey != want[i].PartitionKey || got[i].ExplicitHashKey != want[i].ExplicitHashKey || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAggregatorValidation(t *testing.T) {
	var a Aggregator
	if err := a.Add(Record{Data: []byte("x")}); err == nil {
		t.Error("empty partition key accepted")
	}
	for _, ehk := range []string{"-1", "01", "abc", "340282366920938463463374607431768211456", " 1"} {
		if err := a.Add(Record{PartitionKey: "k", ExplicitHashKey: ehk}); err == nil {
			t.Errorf("explicit hash key %q accepted", ehk)
		}
	}
	if a.Len() != 0 {
		t.Fatalf("rejected records were added: %d", a.Len())
	}
}

func TestKinesisRecord(t *testing.T) {
	var a Aggregator
	if _, err := a.KinesisRecord(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	one := Record{PartitionKey: "only", ExplicitHashKey: "42", Data: []byte("raw")}
	a.Add(one)
	got, err := a.KinesisRecord()
	if err != nil || got.PartitionKey != "only" || got.ExplicitHashKey != "42" || string(got.Data) != "raw" {
		t.Fatalf("single record = %+v, %v; want it unchanged", got, err)
	}
	a.Reset()
	a.Add(Record{PartitionKey: "first", Data: []byte("1")})
	a.Add(Record{PartitionKey: "second", Data: []byte("2")})
	got, err = a.KinesisRecord()
	if err != nil {
		t.Fatal(err)
	}
	if got.PartitionKey != "a" || got.ExplicitHashKey != PartitionKeyHash("first").String() || !IsAggregated(got.Data) {
		t.Fatalf("aggregate = pk %q ehk %q", got.PartitionKey, got.ExplicitHashKey)
	}
}

func TestHashKeys(t *testing.T) {
	for _, s := range []string{"0", "1", "18446744073709551615", "18446744073709551616", MaxHashKey.String(), "170141183460469231731687303715884105728"} {
		k, err := ParseHashKey(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if k.String() != s {
			t.Fatalf("%s round-trips as %s", s, k.String())
		}
	}
	if MaxHashKey.String() != "340282366920938463463374607431768211455" {
		t.Fatal(MaxHashKey.String())
	}
	// MD5("a") = 0cc175b9c0f1b6a831c399e269772661
	if got := PartitionKeyHash("a"); got.Hi != 0x0cc175b9c0f1b6a8 || got.Lo != 0x31c399e269772661 {
		t.Fatalf("hash of a = %x %x", got.Hi, got.Lo)
	}
	r, err := ParseHashRange("100", "200")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[uint64]bool{99: false, 100: true, 150: true, 200: true, 201: false} {
		if r.Contains(HashKey{Lo: k}) != want {
			t.Errorf("Contains(%d) != %v", k, want)
		}
	}
	if _, err := ParseHashRange("2", "1"); err == nil {
		t.Error("inverted range accepted")
	}
}

func kinesisRecord(seq string, data []byte) types.Record {
	ts := time.Unix(1700000000, 0)
	return types.Record{PartitionKey: aws.String("outer"), SequenceNumber: aws.String(seq), Data: data, ApproximateArrivalTimestamp: &ts}
}

func TestDeaggregate(t *testing.T) {
	in := sampleRecords()
	agg, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("not aggregated")
	out := Deaggregate([]types.Record{kinesisRecord("1", plain), kinesisRecord("2", agg), kinesisRecord("3", nil)})
	if len(out) != 2+len(in) {
		t.Fatalf("%d user records, want %d", len(out), 2+len(in))
	}
	if out[0].PartitionKey != "outer" || string(out[0].Data) != string(plain) || out[0].Aggregated || out[0].SubSequenceNumber != 0 {
		t.Fatalf("plain record = %+v", out[0])
	}
	for i, r := range in {
		u := out[1+i]
		if !u.Aggregated || u.SequenceNumber != "2" || u.SubSequenceNumber != int64(i) || u.PartitionKey != r.PartitionKey ||
			u.ExplicitHashKey != r.ExplicitHashKey || !bytes.Equal(u.Data, r.Data) || u.ApproximateArrivalTimestamp.IsZero() {
			t.Fatalf("user record %d = %+v, want %+v", i, u, r)
		}
	}
	if last := out[len(out)-1]; last.SequenceNumber != "3" || last.Aggregated {
		t.Fatalf("empty record = %+v", last)
	}
}

// Anything that is not a valid aggregate passes through unchanged.
func TestDeaggregatePassThrough(t *testing.T) {
	valid, _ := Marshal(sampleRecords())
	msg := func(m *aggpb.AggregatedRecord) []byte {
		body, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(body)
		return append(append(append([]byte{}, Magic[:]...), body...), sum[:]...)
	}
	badMD5 := bytes.Clone(valid)
	badMD5[len(badMD5)-1] ^= 1
	badBody := bytes.Clone(valid)
	badBody[5] ^= 0x40
	cases := map[string][]byte{
		"magic only":        Magic[:],
		"magic and trailer": append(append([]byte{}, Magic[:]...), make([]byte, 16)...),
		"bad magic":         append([]byte{0xF3, 0x89, 0x9A, 0xC3}, valid[4:]...),
		"bad md5":           badMD5,
		"corrupt body":      badBody,
		"missing data": msg(&aggpb.AggregatedRecord{PartitionKeyTable: []string{"k"},
			Records: []*aggpb.Record{{PartitionKeyIndex: proto.Uint64(0)}}}),
		"missing pk index": msg(&aggpb.AggregatedRecord{PartitionKeyTable: []string{"k"},
			Records: []*aggpb.Record{{Data: []byte("x")}}}),
		"pk index outside": msg(&aggpb.AggregatedRecord{PartitionKeyTable: []string{"k"},
			Records: []*aggpb.Record{{PartitionKeyIndex: proto.Uint64(1), Data: []byte("x")}}}),
		"ehk index outside": msg(&aggpb.AggregatedRecord{PartitionKeyTable: []string{"k"},
			Records: []*aggpb.Record{{PartitionKeyIndex: proto.Uint64(0), ExplicitHashKeyIndex: proto.Uint64(0), Data: []byte("x")}}}),
	}
	cases["garbage body"] = append(append(append([]byte{}, Magic[:]...), 0xFF, 0xFF, 0xFF), make([]byte, 16)...)
	sum := md5.Sum([]byte{0xFF, 0xFF, 0xFF})
	copy(cases["garbage body"][7:], sum[:])
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Unmarshal(data); !errors.Is(err, ErrNotAggregated) {
				t.Fatalf("Unmarshal: %v, want ErrNotAggregated", err)
			}
			out := Deaggregate([]types.Record{kinesisRecord("7", data)})
			if len(out) != 1 || out[0].Aggregated || !bytes.Equal(out[0].Data, data) || out[0].PartitionKey != "outer" {
				t.Fatalf("not passed through: %+v", out)
			}
		})
	}
}

func TestDeaggregateInRange(t *testing.T) {
	// Keys with explicit hash keys 10, 20, 30; the shard covers [15, 35].
	in := []Record{
		{PartitionKey: "a", ExplicitHashKey: "10", Data: []byte("10")},
		{PartitionKey: "b", ExplicitHashKey: "20", Data: []byte("20")},
		{PartitionKey: "c", ExplicitHashKey: "30", Data: []byte("30")},
	}
	agg, _ := Marshal(in)
	inside, _ := Marshal(in[1:])
	rng, _ := ParseHashRange("15", "35")
	recs := []types.Record{kinesisRecord("1", agg), kinesisRecord("2", inside), kinesisRecord("3", []byte("plain"))}

	out := DeaggregateInRange(recs, rng, DropOutside)
	var got []string
	for _, u := range out {
		got = append(got, fmt.Sprintf("%s/%d:%s", u.SequenceNumber, u.SubSequenceNumber, u.Data))
	}
	if want := "1/1:20 1/2:30 2/0:20 2/1:30 3/0:plain"; strings.Join(got, " ") != want {
		t.Fatalf("DropOutside: %s, want %s", strings.Join(got, " "), want)
	}

	out = DeaggregateInRange(recs, rng, DropAggregate)
	got = got[:0]
	for _, u := range out {
		got = append(got, fmt.Sprintf("%s/%d:%s", u.SequenceNumber, u.SubSequenceNumber, u.Data))
	}
	if want := "2/0:20 2/1:30 3/0:plain"; strings.Join(got, " ") != want {
		t.Fatalf("DropAggregate: %s, want %s", strings.Join(got, " "), want)
	}

	// Without explicit hash keys the MD5 of the partition key decides.
	k := PartitionKeyHash("p")
	byPK, _ := Marshal([]Record{{PartitionKey: "p", Data: []byte("x")}, {PartitionKey: "p", Data: []byte("y")}})
	if n := len(DeaggregateInRange([]types.Record{kinesisRecord("1", byPK)}, HashRange{Start: k, End: k}, DropOutside)); n != 2 {
		t.Fatalf("records in range by partition key: %d, want 2", n)
	}
	if n := len(DeaggregateInRange([]types.Record{kinesisRecord("1", byPK)}, HashRange{Start: HashKey{}, End: HashKey{Lo: 1}}, DropOutside)); n != 0 {
		t.Fatalf("records out of range by partition key: %d, want 0", n)
	}
}

func FuzzUnmarshal(f *testing.F) {
	valid, _ := Marshal(sampleRecords())
	f.Add(valid)
	f.Add(Magic[:])
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Unmarshal(data)
		out := Deaggregate([]types.Record{kinesisRecord("1", data)})
		if err != nil {
			if !errors.Is(err, ErrNotAggregated) {
				t.Fatalf("error %v does not wrap ErrNotAggregated", err)
			}
			if len(out) != 1 || !bytes.Equal(out[0].Data, data) || out[0].Aggregated {
				t.Fatal("invalid aggregate not passed through")
			}
			return
		}
		if len(out) != len(recs) {
			t.Fatalf("Deaggregate gave %d records, Unmarshal %d", len(out), len(recs))
		}
		// A valid aggregate whose keys are valid re-encodes to the same
		// records (Unmarshal accepts any EHK string; Add validates).
		var a Aggregator
		for _, r := range recs {
			if r.PartitionKey == "" || a.Add(r) != nil {
				return
			}
		}
		b, err := a.Build()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		assertRecords(t, again, recs)
	})
}

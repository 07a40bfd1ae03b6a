package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestStampAndParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSlot(rng, 100)
	id := recordID(7, 3, 12345)
	s.stamp(id)
	got, ok := parseRecord(s.data)
	if !ok || got != id {
		t.Fatalf("parse: %x %v, want %x", got, ok, id)
	}
	for _, i := range []int{0, 9, 50, 99} {
		c := append([]byte(nil), s.data...)
		c[i] ^= 1
		if _, ok := parseRecord(c); ok {
			t.Errorf("flipped byte %d not detected", i)
		}
	}
	if _, ok := parseRecord(s.data[:8]); ok {
		t.Error("short record accepted")
	}
}

// The raw body is valid JSON whose records decode to the stamped slots.
func TestRawBodyRestamp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	slots := []slot{newSlot(rng, 1024), newSlot(rng, 17)}
	rb := buildRawBody(`str"eam`, slots, false)
	for i := range slots {
		slots[i].stamp(recordID(1, 0, uint32(i+40)))
	}
	rb.restamp(slots)
	var in struct {
		StreamName string
		Records    []struct {
			Data         string
			PartitionKey string
		}
	}
	if err := json.Unmarshal(rb.json, &in); err != nil {
		t.Fatal(err)
	}
	if in.StreamName != `str"eam` || len(in.Records) != 2 {
		t.Fatalf("%+v", in)
	}
	for i, r := range in.Records {
		d, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil || string(d) != string(slots[i].data) || r.PartitionKey != slots[i].pk {
			t.Fatalf("record %d does not match its slot (%v)", i, err)
		}
	}
}

func TestBitset(t *testing.T) {
	var b bitset
	for _, n := range []uint32{0, 63, 64, 1000} {
		if b.set(n) {
			t.Fatalf("%d already set", n)
		}
		if !b.set(n) || !b.has(n) {
			t.Fatalf("%d not set", n)
		}
	}
	if b.has(1) || b.has(5000) {
		t.Fatal("unexpected member")
	}
}

func TestScanGetRecords(t *testing.T) {
	body := `{"MillisBehindLatest":1234,"NextShardIterator":"AAA/+=","Records":[` +
		`{"ApproximateArrivalTimestamp":1.5,"Data":"QUJD","PartitionKey":"\"Data\":\"x","SequenceNumber":"1"},` +
		`{"Data":"","PartitionKey":"k","SequenceNumber":"2"}]}`
	recs, keyBytes, next, behind, err := scanGetRecords([]byte(body))
	// The keys are `"Data":"x` (9 bytes, escaped in the JSON) and `k`.
	if err != nil || next != "AAA/+=" || behind != 1234 || len(recs) != 2 || string(recs[0]) != "ABC" || len(recs[1]) != 0 || keyBytes != 10 {
		t.Fatalf("%q %d %q %d %v", recs, keyBytes, next, behind, err)
	}
	if _, _, _, _, err := scanGetRecords([]byte(`{"Records":[{"Data":"QU*D"}]}`)); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func TestScanShardIDs(t *testing.T) {
	w := &workerState{names: map[string]string{}}
	body := `{"EncryptionType":"NONE","FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000001"},` +
		`{"SequenceNumber":"2","ShardId":"shardId-000000000000"}]}`
	got, err := scanShardIDs([]byte(body), w, 2)
	if err != nil || len(got) != 2 || got[0] != "shardId-000000000001" || got[1] != "shardId-000000000000" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := scanShardIDs([]byte(body), w, 3); err == nil {
		t.Fatal("3 ShardIds read from a response with 2")
	}
}

// TestScanGetRecordsData holds the decoding of records' data in GetRecords
// responses to encoding/base64's StdEncoding: the same bytes from the same
// text, and an error where it has one (padding, trailing bits, newlines,
// characters outside the alphabet), alone and after a valid run long
// enough that the vector code takes part of the text. (FuzzBase64 in
// internal/kinesis holds the decoder to encoding/base64 on any text.)
func TestScanGetRecordsData(t *testing.T) {
	valid := base64.StdEncoding.AppendEncode(nil, bytes.Repeat([]byte{0xFB, 0x0F, 0x61}, 40))
	for _, text := range []string{
		"", "QQ==", "QUI=", "QUJD", "QR==", "QUJ=", "QQ=", "QUI", "Q===", "QQ==QQ==",
		"QUJD\nRA==", "QUJD\r\nRA==", "QUJD\n", "QU\nJD", "QQ==\n",
		"QUJD\tRA==", "QUJD-_==", "QUJD\x00RA==", "QUJD\xffRA==", "+/+/", "QUJD\\",
	} {
		for _, k := range []int{0, 4, 32, 96, len(valid)} {
			data := append(valid[:k:k], text...)
			body := `{"Records":[{"Data":"` + string(data) + `","PartitionKey":"k"},{"Data":"` + string(data) + `","PartitionKey":"k"}]}`
			want, werr := base64.StdEncoding.DecodeString(string(data))
			recs, _, _, _, err := scanGetRecords([]byte(body))
			if (err != nil) != (werr != nil) || err == nil && (len(recs) != 2 || !bytes.Equal(recs[0], want) || !bytes.Equal(recs[1], want)) {
				t.Fatalf("%q: got %x %v, encoding/base64 %x %v", data, recs, err, want, werr)
			}
		}
	}
}

// FuzzScanGetRecords holds the read-back's scanner to encoding/json on
// responses it wrote (its keys in its order or the struct's, any partition
// key escaped as it escapes, data of any length or null, ChildShards
// before the records, indented or not): the same records' data (null Data
// is no record) and the same partition key bytes.
func FuzzScanGetRecords(f *testing.F) {
	f.Add([]byte("ABC"), "k", uint8(3), false)
	f.Add([]byte{}, "\"Data\":\"x\\<é>", uint8(0), true)
	f.Add(bytes.Repeat([]byte{0xFF}, 300), "\x00\u2028", uint8(17), false)
	type record struct {
		SequenceNumber              string
		Data                        []byte
		ApproximateArrivalTimestamp float64
		EncryptionType              string `json:",omitempty"`
		PartitionKey                string
	}
	type response struct {
		ChildShards        []map[string]any `json:",omitempty"`
		Records            []record
		NextShardIterator  string
		MillisBehindLatest int64
	}
	f.Fuzz(func(t *testing.T, data []byte, pk string, n uint8, indent bool) {
		var in response
		for i := range int(n % 20) {
			r := record{SequenceNumber: strconv.Itoa(i), Data: data[:i*len(data)/20], ApproximateArrivalTimestamp: 1.7e9 + float64(i)/1000, PartitionKey: pk[:i*len(pk)/20]}
			if i%3 == 1 {
				r.EncryptionType = "KMS"
				r.Data = nil
			}
			in.Records = append(in.Records, r)
		}
		if n%2 == 1 {
			in.ChildShards = []map[string]any{{"ShardId": "s-1", "ParentShards": []string{"a", "b"}, "HashKeyRange": map[string]string{"StartingHashKey": "0"}}}
		}
		var body []byte
		if indent {
			body, _ = json.MarshalIndent(&in, " ", "\t")
		} else {
			body, _ = json.Marshal(&in)
		}
		var out response
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		var want [][]byte
		var wantKeys int64
		for _, r := range out.Records {
			if r.Data != nil {
				want = append(want, r.Data)
			}
			wantKeys += int64(len(r.PartitionKey))
		}
		recs, keyBytes, _, _, err := scanGetRecords(body)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if keyBytes != wantKeys || len(recs) != len(want) {
			t.Fatalf("%s: %d records, %d key bytes; want %d, %d", body, len(recs), keyBytes, len(want), wantKeys)
		}
		for i := range want {
			if !bytes.Equal(recs[i], want[i]) {
				t.Fatalf("%s: record %d is %x, want %x", body, i, recs[i], want[i])
			}
		}
	})
}

package kinesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

// Types with the shapes' layout but no fast path: decoding into them runs
// the generic decoder.
type (
	genericPutRecords kinesisapi.PutRecordsInput
	genericPutRecord  kinesisapi.PutRecordInput
)

// Every body decodes to the same value, or fails with the same error,
// with and without the fast path.
var putRecordsBodies = []string{
	`{"StreamName":"s","Records":[{"Data":"AAEC","PartitionKey":"a"},{"PartitionKey":"b","Data":"/w==","ExplicitHashKey":"12"}]}`,
	` { "StreamARN" : "arn:aws:kinesis:us-east-1:000000000000:stream/s" , "Records" : [ { "Data" : "QUJD" , "PartitionKey" : "k" } ] } `,
	`{"Records":[{"Data":"QUJD","PartitionKey":"k"}],"StreamName":"s","StreamARN":"a"}`,
	`{"StreamName":"s","Records":[]}`,
	`{"StreamName":"s","Records":null}`,
	`{"StreamName":"s"}`,
	`{"StreamName":"s","Records":[{"Data":"","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJ","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QU=D","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJ*","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUI=","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJ=","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"a===","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k\u00e9"}]}`,
	`{"StreamName":"s\"q","Records":[{"Data":"QUJD","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k","PartitionKey":"j"}]}`,
	`{"StreamName":"s","StreamName":"t","Records":[{"Data":"QUJD","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k"}],"Extra":{"a":[1,2]}}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k","Other":1}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":null}]}`,
	`{"StreamName":5,"Records":[{"Data":"QUJD","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k"}]}x`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k"},]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k"}]`,
	`{"StreamName":"s","Records":{"Data":"QUJD"}}`,
	"{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"QUJD\",\"PartitionKey\":\"a\tb\"}]}",
	`{"StreamName":"s","Records":[{"Data":"QUJD","PartitionKey":"k"}]} {}`,
	`{"StreamName":"s","Records":[{"Data":"QUJ\u0044","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJD\nQUJD","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QU\"JD","PartitionKey":"k"}]}`,
	`{"StreamName":"s","Records":[{"Data":"QUJDé","PartitionKey":"k"}]}`,
	// Raw line breaks, which base64 decoding skips and JSON refuses.
	"{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"QUJD\r\n\r\n\",\"PartitionKey\":\"k\"}]}",
	"{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"QUJD\",\"PartitionKey\":\"k\"},{\"Data\":\"QUJD\nQUJD\n\n\n\",\"PartitionKey\":\"k\"}]}",
	`[]`, `null`, ``, `{}`,
}

var putRecordBodies = []string{
	`{"StreamName":"s","Data":"AAEC","PartitionKey":"a"}`,
	`{"StreamARN":"a","Data":"AAEC","PartitionKey":"a","ExplicitHashKey":"5","SequenceNumberForOrdering":"49"}`,
	`{"StreamName":"s","Data":"AAE","PartitionKey":"a"}`,
	`{"StreamName":"s","Data":"","PartitionKey":"a"}`,
	`{"StreamName":"s","Data":"AAEC","PartitionKey":"a","Data":"AAEC"}`,
	`{"StreamName":"s","PartitionKey":"a"}`,
	`{"StreamName":"s","Data":"AAEC","PartitionKey":"a","X":null}`,
	`{"StreamName":"s","Data":"AAEC","PartitionKey":"a"`,
	"{\"StreamName\":\"s\",\"Data\":\"QUJD\r\n\r\n\",\"PartitionKey\":\"a\"}",
	"{\"StreamName\":\"s\",\"Data\":\"QU\nJDQUJ\rD\n\n\",\"PartitionKey\":\"a\"}",
}

// Every body decodes to the same value, or fails with the same error,
// with and without the fast path.
func TestFastDecodersMatchGeneric(t *testing.T) {
	for _, body := range putRecordsBodies {
		checkFastPutRecords(t, []byte(body))
	}
	for _, body := range putRecordBodies {
		checkFastPutRecord(t, []byte(body))
	}
}

// FuzzFastDecoders holds the hand-written PutRecords and PutRecord decoders
// to the generic decoder on any input: the same value or the same error,
// and no panic.
func FuzzFastDecoders(f *testing.F) {
	for _, b := range putRecordsBodies {
		f.Add([]byte(b))
	}
	for _, b := range putRecordBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFastPutRecords(t, body)
		checkFastPutRecord(t, body)
	})
}

func checkFastPutRecords(t *testing.T, body []byte) {
	t.Helper()
	var fast kinesisapi.PutRecordsInput
	var gen genericPutRecords
	ferr := awsproto.Decode(awsproto.ProtocolJSON, body, &fast)
	gerr := awsproto.Decode(awsproto.ProtocolJSON, body, &gen)
	if fmt.Sprint(ferr) != fmt.Sprint(gerr) {
		t.Errorf("%q: fast error %v, generic %v", body, ferr, gerr)
		return
	}
	if ferr == nil && !reflect.DeepEqual(fast, kinesisapi.PutRecordsInput(gen)) {
		t.Errorf("%q: fast %+v, generic %+v", body, fast, gen)
	}
}

func checkFastPutRecord(t *testing.T, body []byte) {
	t.Helper()
	var fast kinesisapi.PutRecordInput
	var gen genericPutRecord
	ferr := awsproto.Decode(awsproto.ProtocolJSON, body, &fast)
	gerr := awsproto.Decode(awsproto.ProtocolJSON, body, &gen)
	if fmt.Sprint(ferr) != fmt.Sprint(gerr) {
		t.Errorf("%q: fast error %v, generic %v", body, ferr, gerr)
		return
	}
	if ferr == nil && !reflect.DeepEqual(fast, kinesisapi.PutRecordInput(gen)) {
		t.Errorf("%q: fast %+v, generic %+v", body, fast, gen)
	}
}

// Random regular bodies: the fast path takes them and agrees with the
// generic one.
func TestFastPutRecordsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		in := kinesisapi.PutRecordsInput{StreamName: awsproto.Ptr("stream-" + fmt.Sprint(rng.IntN(100)))}
		for range 1 + rng.IntN(20) {
			data := make([]byte, 1+rng.IntN(40))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			e := kinesisapi.PutRecordsRequestEntry{Data: data, PartitionKey: awsproto.Ptr(fmt.Sprint(rng.Uint64()))}
			if rng.IntN(4) == 0 {
				e.ExplicitHashKey = awsproto.Ptr(fmt.Sprint(rng.Uint64()))
			}
			in.Records = append(in.Records, e)
		}
		body, _ := json.Marshal(&in)
		var fast kinesisapi.PutRecordsInput
		if !decodePutRecordsJSON(body, &fast) {
			t.Fatalf("fast path refused %s", body)
		}
		var gen genericPutRecords
		if err := awsproto.Decode(awsproto.ProtocolJSON, body, &gen); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, kinesisapi.PutRecordsInput(gen)) || !reflect.DeepEqual(fast, in) {
			t.Fatalf("%s: fast %+v, generic %+v", body, fast, gen)
		}
	}
}

// Large bodies (256 KiB of data and more, records of every length mod 3,
// padded and not): every record gets exactly its data, and bad text early
// or late in the body sends it to the generic decoder, whose error it then
// gets.
func TestFastPutRecordsLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	in := kinesisapi.PutRecordsInput{StreamName: awsproto.Ptr("s")}
	for size := 0; size < 256<<10; {
		data := make([]byte, 1+rng.IntN(3000))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		size += len(data)
		in.Records = append(in.Records, kinesisapi.PutRecordsRequestEntry{Data: data, PartitionKey: awsproto.Ptr(fmt.Sprint(rng.Uint64()))})
	}
	body, _ := json.Marshal(&in)
	var fast kinesisapi.PutRecordsInput
	if !decodePutRecordsJSON(body, &fast) {
		t.Fatal("fast path refused a large regular body")
	}
	if !reflect.DeepEqual(fast, in) {
		t.Fatal("a large body decoded differs from what was encoded")
	}
	checkFastPutRecords(t, body)

	// A character base64 does not have, early and late in the body.
	for _, at := range []int{len(body) / 10, len(body) * 9 / 10} {
		i := at + bytes.Index(body[at:], []byte(`"Data":"`)) + len(`"Data":"`)
		bad := bytes.Clone(body)
		bad[i] = '*'
		if decodePutRecordsJSON(bad, &fast) {
			t.Errorf("fast path took a body with bad base64 at byte %d", i)
		}
		checkFastPutRecords(t, bad)
	}
}

// The fast encoders write exactly what encoding/json writes.
func TestFastEncodersMatchEncodingJSON(t *testing.T) {
	type genericGet kinesisapi.GetRecordsOutput
	type genericPut kinesisapi.PutRecordsOutput
	enc := kinesisapi.EncryptionType("KMS")
	for _, ms := range []int64{0, 1, 10, 100, 120, 999, 1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_010, 1_700_000_000_500, -1, -1500} {
		ts := awsproto.TimestampPtr(time.UnixMilli(ms))
		if got, want := string(appendTimestamp(nil, ms)), string(ts.AppendJSON(nil)); got != want {
			t.Errorf("timestamp %d: %s, want %s", ms, got, want)
		}
	}
	gets := []kinesisapi.GetRecordsOutput{
		{Records: []kinesisapi.Record{}, MillisBehindLatest: awsproto.Ptr(int64(0)), NextShardIterator: awsproto.Ptr("AAAA/+=")},
		{Records: nil},
		{Records: []kinesisapi.Record{
			{SequenceNumber: awsproto.Ptr("4960"), PartitionKey: awsproto.Ptr("pk"), Data: []byte{0, 1, 2, 255}, ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(1_700_000_000_120))},
			{SequenceNumber: awsproto.Ptr("4961"), PartitionKey: awsproto.Ptr(""), Data: []byte{}, EncryptionType: &enc, ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(1_700_000_000_000))},
		}, MillisBehindLatest: awsproto.Ptr(int64(12345))},
		{Records: []kinesisapi.Record{{SequenceNumber: awsproto.Ptr("1"), PartitionKey: awsproto.Ptr("a<b&c>"), Data: []byte("x"), ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(5))}}},
		{Records: []kinesisapi.Record{{SequenceNumber: awsproto.Ptr("1"), PartitionKey: awsproto.Ptr("é\"\\"), Data: nil, ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(5))}}},
		{Records: []kinesisapi.Record{}, ChildShards: []kinesisapi.ChildShard{{ShardId: awsproto.Ptr("shardId-000000000001"), ParentShards: []string{"shardId-000000000000"}}}},
	}
	for _, out := range gets {
		got, err := awsproto.Encode(awsproto.ProtocolJSON, &out)
		if err != nil {
			t.Fatal(err)
		}
		g := genericGet(out)
		want, _ := json.Marshal(&g)
		if !bytes.Equal(got, want) {
			t.Errorf("GetRecords:\n got %s\nwant %s", got, want)
		}
		checkPieces(t, &out, want)
	}
	// Responses written in pieces: records of every size around the
	// piece size, many small records, a record larger than many pieces.
	rng := rand.New(rand.NewPCG(1, 2))
	var big kinesisapi.GetRecordsOutput
	big.NextShardIterator = awsproto.Ptr(strings.Repeat("A", 300))
	big.MillisBehindLatest = awsproto.Ptr(int64(99))
	for i, size := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 1000, 6143, 6144, 6145, 8190, 8191, 8192, 8193, 12288, 20000, 65536, 1 << 20, 3} {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		for k := 0; k < 40; k++ {
			big.Records = append(big.Records, kinesisapi.Record{
				SequenceNumber: awsproto.Ptr(strconv.Itoa(i*100 + k)), PartitionKey: awsproto.Ptr(strings.Repeat("k", 1+k*6)),
				Data: data[:max(0, len(data)-k)], ApproximateArrivalTimestamp: awsproto.TimestampPtr(time.UnixMilli(int64(1_700_000_000_000 + k))),
			})
		}
	}
	g := genericGet(big)
	want, _ := json.Marshal(&g)
	checkPieces(t, &big, want)
	puts := []kinesisapi.PutRecordsOutput{
		{FailedRecordCount: awsproto.Ptr(int32(0)), EncryptionType: awsproto.Ptr(kinesisapi.EncryptionType("NONE")), Records: []kinesisapi.PutRecordsResultEntry{
			{ShardId: awsproto.Ptr("shardId-000000000000"), SequenceNumber: awsproto.Ptr("4960")},
			{ErrorCode: awsproto.Ptr("ProvisionedThroughputExceededException"), ErrorMessage: awsproto.Ptr("Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000.")},
		}},
		{Records: nil},
		{FailedRecordCount: awsproto.Ptr(int32(1)), Records: []kinesisapi.PutRecordsResultEntry{{ErrorCode: awsproto.Ptr("InternalFailure"), ErrorMessage: awsproto.Ptr("a <b> & \"c\"")}}},
	}
	for _, out := range puts {
		got, err := awsproto.Encode(awsproto.ProtocolJSON, &out)
		if err != nil {
			t.Fatal(err)
		}
		g := genericPut(out)
		want, _ := json.Marshal(&g)
		if !bytes.Equal(got, want) {
			t.Errorf("PutRecords:\n got %s\nwant %s", got, want)
		}
		if strings.Contains(string(got), "<") {
			t.Errorf("unescaped HTML character in %s", got)
		}
	}
	type genericPutOne kinesisapi.PutRecordOutput
	for _, out := range []kinesisapi.PutRecordOutput{
		{ShardId: awsproto.Ptr("shardId-000000000003"), SequenceNumber: awsproto.Ptr("49600000000000000000000000000000000000000000000000000003"), EncryptionType: awsproto.Ptr(kinesisapi.EncryptionType("NONE"))},
		{ShardId: awsproto.Ptr("shardId-000000000000"), SequenceNumber: awsproto.Ptr("1")},
		{},
		{ShardId: awsproto.Ptr("a<b>"), SequenceNumber: awsproto.Ptr("é"), EncryptionType: awsproto.Ptr(kinesisapi.EncryptionType("K&S"))},
	} {
		got, err := awsproto.Encode(awsproto.ProtocolJSON, &out)
		if err != nil {
			t.Fatal(err)
		}
		g := genericPutOne(out)
		want, _ := json.Marshal(&g)
		if !bytes.Equal(got, want) {
			t.Errorf("PutRecord:\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzFastEncoders holds the hand-written response encoders to
// encoding/json on any strings, bytes and times, including invalid UTF-8
// and characters that need escaping.
func FuzzFastEncoders(f *testing.F) {
	f.Add("pk", []byte{0, 1, 2, 255}, "4960", int64(1_700_000_000_120), "a <b> & \"c\"")
	f.Add("é\"\\", []byte(nil), "1", int64(-1500), "\xff\xfe\u2028")
	f.Add("", []byte{}, "", int64(0), "")
	f.Fuzz(func(t *testing.T, s1 string, data []byte, s2 string, ms int64, s3 string) {
		ms %= 1e13 // within the years Timestamp handles
		ts := awsproto.TimestampPtr(time.UnixMilli(ms))
		enc := kinesisapi.EncryptionType(s3)
		type (
			genericGet    kinesisapi.GetRecordsOutput
			genericPut    kinesisapi.PutRecordsOutput
			genericPutOne kinesisapi.PutRecordOutput
		)
		get := kinesisapi.GetRecordsOutput{
			Records: []kinesisapi.Record{
				{SequenceNumber: &s2, PartitionKey: &s1, Data: data, ApproximateArrivalTimestamp: ts},
				{SequenceNumber: &s1, PartitionKey: &s3, Data: data[:len(data)/2], EncryptionType: &enc, ApproximateArrivalTimestamp: ts},
			},
			MillisBehindLatest: &ms,
			NextShardIterator:  &s3,
		}
		check := func(what string, out, generic any) {
			got, err := awsproto.Encode(awsproto.ProtocolJSON, out)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want, err := json.Marshal(generic)
			if err != nil {
				t.Fatalf("%s: encoding/json: %v", what, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
			}
		}
		g := genericGet(get)
		check("GetRecords", &get, &g)
		want, _ := json.Marshal(&g)
		checkPieces(t, &get, want)
		put := kinesisapi.PutRecordsOutput{
			FailedRecordCount: awsproto.Ptr(int32(len(data))),
			EncryptionType:    &enc,
			Records: []kinesisapi.PutRecordsResultEntry{
				{ShardId: &s1, SequenceNumber: &s2},
				{ErrorCode: &s3, ErrorMessage: &s1},
			},
		}
		p := genericPut(put)
		check("PutRecords", &put, &p)
		one := kinesisapi.PutRecordOutput{ShardId: &s1, SequenceNumber: &s2, EncryptionType: &enc}
		o := genericPutOne(one)
		check("PutRecord", &one, &o)
	})
}

// checkPieces checks that a GetRecords response written in pieces is
// want, whole, with the length JSONSize announced, for several piece
// sizes; a response the sized encoder refuses must be one that needs
// escaping or has child shards.
func checkPieces(t *testing.T, out *kinesisapi.GetRecordsOutput, want []byte) {
	t.Helper()
	n, ok := awsproto.JSONSize(out)
	if !ok {
		escaped := bytes.ContainsAny(want, "\\") || bytes.ContainsFunc(want, func(r rune) bool { return r >= 0x80 })
		missing := false
		for _, r := range out.Records {
			missing = missing || r.SequenceNumber == nil || r.PartitionKey == nil || r.ApproximateArrivalTimestamp == nil
		}
		if len(out.ChildShards) == 0 && !escaped && !missing {
			t.Fatalf("sized encoder refused %.200s", want)
		}
		return
	}
	if n != len(want) {
		t.Fatalf("JSONSize %d, encoding is %d bytes", n, len(want))
	}
	for _, piece := range []int{8 << 10, 64 << 10, 128 << 10} {
		var w piecesWriter
		written, err := awsproto.WriteJSONPieces(&w, out, piece)
		if err != nil || written != n {
			t.Fatalf("piece %d: wrote %d of %d bytes, %v", piece, written, n, err)
		}
		if !bytes.Equal(w.buf.Bytes(), want) {
			t.Fatalf("piece %d:\n got %.300s\nwant %.300s", piece, w.buf.Bytes(), want)
		}
		if w.largest > piece {
			t.Fatalf("piece %d: a write of %d bytes", piece, w.largest)
		}
	}
}

type piecesWriter struct {
	buf     bytes.Buffer
	largest int
}

func (w *piecesWriter) Write(b []byte) (int, error) {
	w.largest = max(w.largest, len(b))
	return w.buf.Write(b)
}

// TestPlainStringEveryByte puts every byte value at every position of
// strings of up to 20 bytes, against a byte-at-a-time reference.
func TestPlainStringEveryByte(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
		}
		return true
	}
	base := []byte("49634156872917200000000123")
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for c := range 256 {
				b := append([]byte(nil), base[:n]...)
				b[pos] = byte(c)
				if pos > 0 && c%3 == 0 {
					b[pos-1] = byte(c + 1) // neighbours that borrow
				}
				if got, want := plainString(string(b)), plain(string(b)); got != want {
					t.Fatalf("%q: got %v, want %v", b, got, want)
				}
			}
		}
	}
}

func TestTimestampLen(t *testing.T) {
	check := func(ms int64) {
		if got, want := timestampLen(ms), len(appendTimestamp(nil, ms)); got != want {
			t.Fatalf("%d: timestampLen %d, formatted %d (%s)", ms, got, want, appendTimestamp(nil, ms))
		}
	}
	for _, ms := range []int64{0, 1, 10, 100, 999, 1000, 1001, 1010, 1100, -1, -10, -100, -999, -1000, -1001,
		1_700_000_000_123, 1_700_000_000_120, 1_700_000_000_100, 1_700_000_000_000, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		check(ms)
	}
	for p := int64(1); p < math.MaxInt64/10; p *= 10 {
		for _, d := range []int64{-1001, -1000, -999, -1, 0, 1, 999, 1000, 1001} {
			check(p + d)
			check(-p + d)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		check(rng.Int64() >> rng.UintN(63))
		check(-(rng.Int64() >> rng.UintN(63)))
	}
}

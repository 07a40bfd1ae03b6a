package awsproto_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

// Request bodies as the AWS SDK for Java v2 writes them
// (SdkCborGenerator): an indefinite-length map (0xbf ... 0xff), text-string
// member names, byte-string blobs and tag 1 around epoch milliseconds.
const (
	// {"StreamName":"test","Records":[
	//   {"Data":h'010203',"PartitionKey":"pk1"},
	//   {"Data":h'',"PartitionKey":"pk2","ExplicitHashKey":"0"}]}
	putRecordsCBOR = "bf" +
		"6a53747265616d4e616d65" + "6474657374" + // "StreamName": "test"
		"675265636f726473" + "9f" + // "Records": [_
		"bf" + "6444617461" + "43010203" + "6c506172746974696f6e4b6579" + "63706b31" + "ff" +
		"bf" + "6444617461" + "40" + "6c506172746974696f6e4b6579" + "63706b32" + "6f4578706c69636974486173684b6579" + "6130" + "ff" +
		"ff" + "ff"
	// {"StreamName":"test","ShardId":"shardId-000000000000",
	//  "ShardIteratorType":"AT_TIMESTAMP","Timestamp":1(1767323045678)}
	getShardIteratorAtTimestampCBOR = "bf" +
		"6a53747265616d4e616d65" + "6474657374" +
		"6753686172644964" + "74736861726449642d303030303030303030303030" +
		"7153686172644974657261746f7254797065" + "6c41545f54494d455354414d50" +
		"6954696d657374616d70" + "c1" + "1b0000019b7ca98f2e" +
		"ff"
)

func hexBytes(t testing.TB, s string) ([]byte, error) {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b, nil
}

var wantTime = time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)

func TestCBORGoldenPutRecords(t *testing.T) {
	body, _ := hexBytes(t, putRecordsCBOR)
	var in kinesisapi.PutRecordsInput
	if err := awsproto.Decode(awsproto.ProtocolCBOR, body, &in); err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	if *in.StreamName != "test" || len(in.Records) != 2 {
		t.Fatalf("decoded %+v", in)
	}
	r0, r1 := in.Records[0], in.Records[1]
	if !bytes.Equal(r0.Data, []byte{1, 2, 3}) || *r0.PartitionKey != "pk1" || r0.ExplicitHashKey != nil {
		t.Errorf("record 0 = %+v", r0)
	}
	if r1.Data == nil || len(r1.Data) != 0 || *r1.PartitionKey != "pk2" || *r1.ExplicitHashKey != "0" {
		t.Errorf("record 1 = %+v", r1)
	}
}

func TestCBORGoldenGetShardIteratorAtTimestamp(t *testing.T) {
	body, _ := hexBytes(t, getShardIteratorAtTimestampCBOR)
	var in kinesisapi.GetShardIteratorInput
	if err := awsproto.Decode(awsproto.ProtocolCBOR, body, &in); err != nil {
		t.Fatal(err)
	}
	if *in.ShardIteratorType != kinesisapi.ShardIteratorTypeAtTimestamp || *in.ShardId != "shardId-000000000000" {
		t.Errorf("decoded %+v", in)
	}
	if !in.Timestamp.Equal(wantTime) {
		t.Errorf("Timestamp = %v, want %v (tag 1 carries milliseconds)", in.Timestamp, wantTime)
	}
}

func TestCBORTimestampForms(t *testing.T) {
	for name, item := range map[string]any{
		"tagged integer":   cbor.Tag{Number: 1, Content: uint64(1767323045678)},
		"untagged integer": uint64(1767323045678),
		"tagged float":     cbor.Tag{Number: 1, Content: 1767323045678.0},
		"untagged float":   1767323045678.0,
	} {
		body, err := cbor.Marshal(map[string]any{"ShardId": "s", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": item})
		if err != nil {
			t.Fatal(err)
		}
		var in kinesisapi.GetShardIteratorInput
		if err := awsproto.Decode(awsproto.ProtocolCBOR, body, &in); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !in.Timestamp.Equal(wantTime) {
			t.Errorf("%s: %v, want %v", name, in.Timestamp, wantTime)
		}
	}
}

func TestCBOROutput(t *testing.T) {
	out := kinesisapi.GetRecordsOutput{
		Records: []kinesisapi.Record{{
			Data: []byte{0xde, 0xad}, PartitionKey: awsproto.Ptr("pk"), SequenceNumber: awsproto.Ptr("1"),
			ApproximateArrivalTimestamp: awsproto.TimestampPtr(wantTime),
		}},
		MillisBehindLatest: awsproto.Ptr[int64](0),
	}
	b, err := awsproto.Encode(awsproto.ProtocolCBOR, &out)
	if err != nil {
		t.Fatal(err)
	}
	// Data is a byte string and the timestamp tag 1 + integer milliseconds.
	if !bytes.Contains(b, []byte{0x64, 'D', 'a', 't', 'a', 0x42, 0xde, 0xad}) {
		t.Errorf("Data is not a byte string: %x", b)
	}
	if !bytes.Contains(b, append([]byte{0xc1, 0x1b}, 0, 0, 0x01, 0x9b, 0x7c, 0xa9, 0x8f, 0x2e)) {
		t.Errorf("timestamp is not tag 1 around milliseconds: %x", b)
	}
	var back kinesisapi.GetRecordsOutput
	if err := awsproto.Decode(awsproto.ProtocolCBOR, b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Records[0].ApproximateArrivalTimestamp.Equal(wantTime) || !bytes.Equal(back.Records[0].Data, []byte{0xde, 0xad}) {
		t.Errorf("round trip = %+v", back.Records[0])
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := kinesisapi.PutRecordsInput{StreamName: awsproto.Ptr("s"), Records: []kinesisapi.PutRecordsRequestEntry{{Data: []byte("hello"), PartitionKey: awsproto.Ptr("k")}}}
	b, err := awsproto.Encode(awsproto.ProtocolJSON, &in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Records":[{"Data":"aGVsbG8=","PartitionKey":"k"}],"StreamName":"s"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back kinesisapi.PutRecordsInput
	if err := awsproto.Decode(awsproto.ProtocolJSON, b, &back); err != nil {
		t.Fatal(err)
	}
	if string(back.Records[0].Data) != "hello" || *back.StreamName != "s" {
		t.Errorf("round trip = %+v", back)
	}

	out := kinesisapi.GetRecordsOutput{Records: []kinesisapi.Record{{Data: []byte{}, PartitionKey: awsproto.Ptr("k"), SequenceNumber: awsproto.Ptr("1"), ApproximateArrivalTimestamp: awsproto.TimestampPtr(wantTime)}}}
	b, err = awsproto.Encode(awsproto.ProtocolJSON, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ApproximateArrivalTimestamp":1767323045.678`) {
		t.Errorf("timestamp not in fractional seconds: %s", b)
	}
}

func TestJSONTimestamps(t *testing.T) {
	for text, want := range map[string]time.Time{
		"1767323045":       time.Unix(1767323045, 0),
		"1767323045.678":   wantTime,
		"1.767323045678E9": wantTime,
		"-1.5":             time.Unix(-2, 5e8),
	} {
		var in kinesisapi.GetShardIteratorInput
		if err := awsproto.Decode(awsproto.ProtocolJSON, []byte(`{"Timestamp":`+text+`}`), &in); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if !in.Timestamp.Equal(want) {
			t.Errorf("%s: %v, want %v", text, in.Timestamp.Time, want)
		}
	}
	// A huge exponent is refused before any exact arithmetic on it.
	for _, text := range []string{"1e999999999", "-1E-999999999"} {
		var in kinesisapi.GetShardIteratorInput
		var ae *awsproto.Error
		if err := awsproto.Decode(awsproto.ProtocolJSON, []byte(`{"Timestamp":`+text+`}`), &in); !errors.As(err, &ae) || ae.Code != "SerializationException" {
			t.Errorf("%s: got %v, want a SerializationException", text, err)
		}
	}
	for ts, want := range map[time.Time]string{
		wantTime:                 "1767323045.678",
		time.Unix(1767323045, 0): "1767323045",
		time.Unix(5, 100e6):      "5.1",
	} {
		b, _ := json.Marshal(awsproto.NewTimestamp(ts))
		if string(b) != want {
			t.Errorf("%v: %s, want %s", ts, b, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		body string
		into any
		want string
	}{
		{`{"Limit":"5","ShardIterator":"x"}`, &kinesisapi.GetRecordsInput{}, "class java.lang.String can not be converted to an Integer"},
		{`{"Limit":true}`, &kinesisapi.GetRecordsInput{}, "class java.lang.Boolean can not be converted to an Integer"},
		{`{"Limit":[1]}`, &kinesisapi.GetRecordsInput{}, "Start of list found where not expected"},
		{`{"Limit":2147483648}`, &kinesisapi.GetRecordsInput{}, "Numeric value (2147483648) out of range of int"},
		// Huge exponents are refused before any exact arithmetic on them.
		{`{"Limit":1e999999999}`, &kinesisapi.GetRecordsInput{}, "Numeric value (1e999999999) out of range of int"},
		{`{"Limit":1e-999999999}`, &kinesisapi.GetRecordsInput{}, "Numeric value (1e-999999999) out of range of int"},
		{`{"StreamName":5}`, &kinesisapi.DeleteStreamInput{}, "class java.math.BigDecimal can not be converted to an String"},
		{`{"StreamName":false}`, &kinesisapi.DeleteStreamInput{}, "class java.lang.Boolean can not be converted to an String"},
		{`{"EnforceConsumerDeletion":"yes"}`, &kinesisapi.DeleteStreamInput{}, "'YES' can not be converted to an Boolean"},
		{`{"EnforceConsumerDeletion":1}`, &kinesisapi.DeleteStreamInput{}, "class java.math.BigDecimal can not be converted to an Boolean"},
		{`{"Records":{}}`, &kinesisapi.PutRecordsInput{}, "Start of structure or map found where not expected."},
		{`{"Records":"x"}`, &kinesisapi.PutRecordsInput{}, "Expected list or null"},
		{`{"Records":[5]}`, &kinesisapi.PutRecordsInput{}, "Expected null"},
		{`{"Records":[{"Data":"abc"}]}`, &kinesisapi.PutRecordsInput{}, "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3"},
		{`{"Records":[{"Data":"ab.="}]}`, &kinesisapi.PutRecordsInput{}, "'ab.=' can not be converted to a Blob: Invalid Base64 character: '.'"},
		{`{"Records":[{"Data":"YR=="}]}`, &kinesisapi.PutRecordsInput{}, "'YR==' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"},
		{`{"Records":[{"Data":true}]}`, &kinesisapi.PutRecordsInput{}, "class java.lang.Boolean can not be converted to a Blob"},
		{`{"Tags":[]}`, &kinesisapi.AddTagsToStreamInput{}, "Start of list found where not expected"},
		{`{"Tags":"x"}`, &kinesisapi.AddTagsToStreamInput{}, "Expected map or null"},
		{`[]`, &kinesisapi.DeleteStreamInput{}, "Start of list found where not expected"},
		{`{} {}`, &kinesisapi.DeleteStreamInput{}, "Could not parse request body into json: unexpected data after the top-level value"},
	}
	for _, tt := range tests {
		err := awsproto.Decode(awsproto.ProtocolJSON, []byte(tt.body), tt.into)
		var ae *awsproto.Error
		if !errors.As(err, &ae) || ae.Code != "SerializationException" || ae.Message != tt.want {
			t.Errorf("%s: got %v, want SerializationException: %s", tt.body, err, tt.want)
		}
	}
	// Fractions are dropped, nulls are absent members.
	var in kinesisapi.GetRecordsInput
	if err := awsproto.Decode(awsproto.ProtocolJSON, []byte(`{"Limit":5.9,"ShardIterator":null}`), &in); err != nil || *in.Limit != 5 || in.ShardIterator != nil {
		t.Errorf("got %v %+v", err, in)
	}
}

func TestEncodeErrorCapitalMessage(t *testing.T) {
	var in kinesisapi.GetRecordsInput
	err := awsproto.Decode(awsproto.ProtocolJSON, []byte(`{"Limit":"x"}`), &in)
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatal(err)
	}
	b, _ := awsproto.EncodeError(awsproto.ProtocolJSON, ae)
	if want := `{"__type":"SerializationException","Message":"class java.lang.String can not be converted to an Integer"}`; string(b) != want {
		t.Errorf("%s, want %s", b, want)
	}
}

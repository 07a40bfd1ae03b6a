package firehose

import (
	"reflect"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
)

func TestFastPutRecordBatch(t *testing.T) {
	var in firehoseapi.PutRecordBatchInput
	if !decodePutRecordBatchJSON([]byte(` {"DeliveryStreamName": "s", "Records": [{"Data":"aGk="}, {"Data": ""}]} `), &in) {
		t.Fatal("the SDK's form was not taken")
	}
	if awsproto.Value(in.DeliveryStreamName) != "s" || len(in.Records) != 2 || string(in.Records[0].Data) != "hi" || len(in.Records[1].Data) != 0 {
		t.Fatalf("decoded %+v", in)
	}
	for _, body := range []string{`{"DeliveryStreamName":"s"}`, `{"DeliveryStreamName":"s","Records":[{"Data":"a"}]}`,
		`{"DeliveryStreamName":"s\u0041","Records":[]}`, `{"DeliveryStreamName":"s","Records":[],"X":1}`, `{"Records":[]}`} {
		if decodePutRecordBatchJSON([]byte(body), new(firehoseapi.PutRecordBatchInput)) {
			t.Errorf("%s was taken", body)
		}
	}
}

// FuzzFastPutRecordBatch: whatever the fast decoder takes, the generic
// decoder decodes to the same input.
func FuzzFastPutRecordBatch(f *testing.F) {
	for _, s := range []string{`{"DeliveryStreamName":"s","Records":[{"Data":"aGk="}]}`, `{"Records":[],"DeliveryStreamName":"x"}`,
		` { "DeliveryStreamName" : "a" , "Records" : [ { "Data" : "" } ] } `, `{"DeliveryStreamName":"s","Records":[{"Data":"aGk"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast firehoseapi.PutRecordBatchInput
		if !decodePutRecordBatchJSON(body, &fast) {
			return
		}
		var slow firehoseapi.PutRecordBatchInput
		awsproto.RegisterFastJSONDecoder(func([]byte, *firehoseapi.PutRecordBatchInput) bool { return false })
		defer awsproto.RegisterFastJSONDecoder(decodePutRecordBatchJSON)
		if err := awsproto.Decode(awsproto.ProtocolJSON, body, &slow); err != nil {
			t.Fatalf("fast took %q, generic refuses it: %v", body, err)
		}
		for i := range slow.Records {
			if slow.Records[i].Data == nil {
				slow.Records[i].Data = []byte{}
			}
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, generic %+v", body, fast, slow)
		}
	})
}

func TestFastPutRecordBatchCapsRecords(t *testing.T) {
	var in firehoseapi.PutRecordBatchInput
	if !decodePutRecordBatchJSON([]byte(`{"DeliveryStreamName":"s","Records":[{"Data":"YWI="},{"Data":"Y2Q="}]}`), &in) {
		t.Fatal("not taken")
	}
	// Appending to one record's data must not write over the next one's.
	_ = append(in.Records[0].Data, 'X')
	if string(in.Records[0].Data) != "ab" || string(in.Records[1].Data) != "cd" {
		t.Fatalf("records %q %q", in.Records[0].Data, in.Records[1].Data)
	}
	// Raw line breaks inside the base64 text (which the base64 decoder
	// skips) are not JSON: left to the generic decoder.
	for _, body := range []string{"{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YWI=\\n\\n\\n\\n\"}]}",
		"{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YW\r\nI=\"}]}", `{"DeliveryStreamName":"s","Records":[{"Data":"YW\u0049="}]}`} {
		if decodePutRecordBatchJSON([]byte(body), new(firehoseapi.PutRecordBatchInput)) {
			t.Errorf("%q was taken", body)
		}
	}
}

func TestRecordID(t *testing.T) {
	for _, c := range []struct {
		log  uint32
		seq  uint64
		want string
	}{{0, 0, "000000000000000000000000"}, {1, 2, "000000010000000000000002"}, {0xdeadbeef, 1<<64 - 1, "deadbeefffffffffffffffff"}, {0x1a, 0xabc123, "0000001a0000000000abc123"}} {
		if got := recordID(c.log, c.seq); got != c.want {
			t.Errorf("recordID(%d, %d) = %s, want %s", c.log, c.seq, got, c.want)
		}
	}
}

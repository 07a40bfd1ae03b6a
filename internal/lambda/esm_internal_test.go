package lambda

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/millrace/millrace/internal/streams"
)

const (
	testSeq1 = "49590338271490256608559692538361571095921575989136588898"
	testSeq2 = "49590338271490256608559692540925702759324208523137515618"
)

func testPoller(reportFailures bool) *poller {
	return &poller{m: &mapping{UUID: "u", Account: "123456789012", Region: "us-east-2", FunctionName: "fn",
		EventSourceArn: "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream", ReportBatchItemFailures: reportFailures}}
}

// The event is Lambda's, byte for byte: members in Lambda's order, data in
// base64, the arrival in fractional epoch seconds, encryptionType only
// for encrypted records.
func TestKinesisEventBytes(t *testing.T) {
	p := testPoller(false)
	items := p.encode("shardId-000000000006", "arn:aws:iam::123456789012:role/lambda-role", []streams.Record{
		{SequenceNumber: testSeq1, Arrival: 1545084650987, Data: []byte("Hello, this is a test."), PartitionKey: "1"},
		{SequenceNumber: testSeq2, Arrival: 1545084711166, Data: []byte{0xff, 0}, PartitionKey: "k\"2", EncryptionType: "KMS"},
	})
	got := string(eventPayload(items))
	want := `{"Records":[` +
		`{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"1","sequenceNumber":"` + testSeq1 + `","data":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==","approximateArrivalTimestamp":1545084650.987},` +
		`"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000006:` + testSeq1 + `","eventName":"aws:kinesis:record",` +
		`"invokeIdentityArn":"arn:aws:iam::123456789012:role/lambda-role","awsRegion":"us-east-2","eventSourceARN":"arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"},` +
		`{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"k\"2","sequenceNumber":"` + testSeq2 + `","data":"/wA=","approximateArrivalTimestamp":1545084711.166,"encryptionType":"KMS"},` +
		`"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000006:` + testSeq2 + `","eventName":"aws:kinesis:record",` +
		`"invokeIdentityArn":"arn:aws:iam::123456789012:role/lambda-role","awsRegion":"us-east-2","eventSourceARN":"arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"}]}`
	if got != want {
		t.Fatalf("event:\n got %s\nwant %s", got, want)
	}
	// aws-lambda-go reads it into its own types.
	var ev events.KinesisEvent
	if err := json.Unmarshal([]byte(got), &ev); err != nil {
		t.Fatal(err)
	}
	r := ev.Records[1]
	if string(r.Kinesis.Data) != "\xff\x00" || r.Kinesis.PartitionKey != "k\"2" || r.Kinesis.EncryptionType != "KMS" ||
		!r.Kinesis.ApproximateArrivalTimestamp.Round(time.Millisecond).Equal(time.UnixMilli(1545084711166)) || r.EventSourceArn != p.m.EventSourceArn {
		t.Errorf("aws-lambda-go read %+v", r)
	}
}

func TestAppendSeconds(t *testing.T) {
	for ms, want := range map[int64]string{
		1545084650987: "1545084650.987", 1545084650000: "1545084650.0", 1545084650100: "1545084650.1",
		1545084650010: "1545084650.01", 1545084650001: "1545084650.001", 1545084650120: "1545084650.12",
	} {
		if got := string(appendSeconds(nil, ms)); got != want {
			t.Errorf("%d ms: %s, want %s", ms, got, want)
		}
	}
}

func testBatch() []item {
	return []item{{rec: streams.Record{SequenceNumber: "1"}}, {rec: streams.Record{SequenceNumber: "2"}}, {rec: streams.Record{SequenceNumber: "3"}}}
}

// A response is read as Lambda reads it.
func TestFailedFrom(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		fnErr      string
		want       int
	}{
		{"function error", `{}`, "Unhandled", 0},
		{"empty response", ``, "", -1},
		{"null response", `null`, "", -1},
		{"empty object", `{}`, "", -1},
		{"null list", `{"batchItemFailures":null}`, "", -1},
		{"empty list", `{"batchItemFailures":[]}`, "", -1},
		{"one failure", `{"batchItemFailures":[{"itemIdentifier":"2"}]}`, "", 1},
		{"lowest failure", `{"batchItemFailures":[{"itemIdentifier":"3"},{"itemIdentifier":"2"}]}`, "", 1},
		{"empty identifier", `{"batchItemFailures":[{"itemIdentifier":""}]}`, "", 0},
		{"null identifier", `{"batchItemFailures":[{"itemIdentifier":null}]}`, "", 0},
		{"bad key name", `{"batchItemFailures":[{"itemidentifier":"2"}]}`, "", 0},
		{"unknown record", `{"batchItemFailures":[{"itemIdentifier":"9"}]}`, "", 0},
		{"not json", `oops`, "", 0},
	} {
		p := testPoller(true)
		if got := p.failedFrom(result{body: []byte(tc.body), functionError: tc.fnErr}, testBatch()); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// Without ReportBatchItemFailures the response is not read.
	if got := testPoller(false).failedFrom(result{body: []byte(`{"batchItemFailures":[{"itemIdentifier":"2"}]}`)}, testBatch()); got != -1 {
		t.Errorf("without ReportBatchItemFailures: %d, want -1", got)
	}
}

// FuzzFailedFrom feeds arbitrary function responses to the partial batch
// response reader.
func FuzzFailedFrom(f *testing.F) {
	f.Add([]byte(`{"batchItemFailures":[{"itemIdentifier":"2"}]}`))
	f.Add([]byte(`{"batchItemFailures":[{"itemIdentifier":null}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := testPoller(true).failedFrom(result{body: body}, testBatch())
		if got < -1 || got >= 3 {
			t.Fatalf("failedFrom = %d for %q", got, body)
		}
	})
}

func TestFilterPatterns(t *testing.T) {
	rec := func(pk, data string) *item {
		return &item{rec: streams.Record{PartitionKey: pk, SequenceNumber: testSeq1, Arrival: 1545084650987, Data: []byte(data)}}
	}
	order := rec("user-1", `{"kind":"order","amount":300,"tags":["a","b"],"meta":{"region":"eu-west-1"},"gone":null}`)
	text := rec("vip-7", `not json`)
	for _, tc := range []struct {
		pattern string
		it      *item
		want    bool
	}{
		{`{"data":{"kind":["order"]}}`, order, true},
		{`{"data":{"kind":["refund","order"]}}`, order, true},
		{`{"data":{"kind":["refund"]}}`, order, false},
		{`{"data":{"amount":[300]}}`, order, true},
		{`{"data":{"amount":[300.0]}}`, order, false}, // numbers match by their text
		{`{"data":{"amount":[{"numeric":[">",100,"<=",300]}]}}`, order, true},
		{`{"data":{"amount":[{"numeric":["<",300]}]}}`, order, false},
		{`{"data":{"tags":["b"]}}`, order, true},
		{`{"data":{"meta":{"region":[{"prefix":"eu-"}]}}}`, order, true},
		{`{"data":{"meta":{"region":[{"suffix":"-2"}]}}}`, order, false},
		{`{"data":{"kind":[{"anything-but":["refund"]}]}}`, order, true},
		{`{"data":{"kind":[{"anything-but":{"prefix":"ord"}}]}}`, order, false},
		{`{"data":{"kind":[{"equals-ignore-case":"ORDER"}]}}`, order, true},
		{`{"data":{"gone":[null]}}`, order, true},
		{`{"data":{"missing":[{"exists":false}]}}`, order, true},
		{`{"data":{"kind":[{"exists":false}]}}`, order, false},
		{`{"data":{"kind":["order"]},"partitionKey":["user-2"]}`, order, false}, // AND across keys
		{`{"partitionKey":[{"prefix":"vip-"}]}`, text, true},
		{`{"data":{"kind":["order"]}}`, text, false}, // data pattern, data not JSON
		{`{"partitionKey":["vip-7"],"kinesisSchemaVersion":["1.0"]}`, text, true},
	} {
		f, err := parseFilter(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := passes([]*eventFilter{f}, tc.it); got != tc.want {
			t.Errorf("%s on %s: %v, want %v", tc.pattern, tc.it.rec.Data, got, tc.want)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"data":"order"}`, `{"a":[]}`, `{"a":[{"prefix":1}]}`, `{"a":[{"numeric":[">","x"]}]}`,
		`{"a":[{"nope":1}]}`, `{"a":[{"prefix":"x","suffix":"y"}]}`, `{"a":[["x"]]}`, `{"a":{}}`} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

// FuzzFilterPattern feeds arbitrary patterns and data to the filters.
func FuzzFilterPattern(f *testing.F) {
	f.Add(`{"data":{"kind":["order"]}}`, `{"kind":"order"}`)
	f.Add(`{"data":{"n":[{"numeric":[">",1,"<",5]}]},"partitionKey":[{"prefix":"a"}]}`, `{"n":3}`)
	f.Fuzz(func(t *testing.T, pattern, data string) {
		flt, err := parseFilter(pattern)
		if err != nil {
			return
		}
		passes([]*eventFilter{flt}, &item{rec: streams.Record{PartitionKey: "a", Data: []byte(data)}})
	})
}

// A windowed invocation's event is aws-lambda-go's KinesisTimeWindowEvent.
func TestWindowEvent(t *testing.T) {
	p := testPoller(false)
	p.m.TumblingWindow = 120
	w := &shardWorker{p: p, shardID: "shardId-000000000006",
		ck: checkpoint{WindowStart: 1607497440000, State: json.RawMessage(`{"count":"3"}`)}}
	items := p.encode(w.shardID, "arn:aws:iam::123456789012:role/r", []streams.Record{{SequenceNumber: testSeq1, Arrival: 1607497441000, Data: []byte("x"), PartitionKey: "k"}})
	var ev events.KinesisTimeWindowEvent
	if err := json.Unmarshal(w.windowPayload(items, true), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Window.Start.UTC().Format(time.RFC3339) != "2020-12-09T07:04:00Z" || ev.Window.End.UTC().Format(time.RFC3339) != "2020-12-09T07:06:00Z" ||
		ev.State["count"] != "3" || ev.ShardID != w.shardID || ev.EventSourceARN != p.m.EventSourceArn ||
		!ev.IsFinalInvokeForWindow || ev.IsWindowTerminatedEarly || len(ev.Records) != 1 {
		t.Errorf("aws-lambda-go read %+v", ev)
	}
	for body, ok := range map[string]bool{`{"state":{"a":"1"}}`: true, `{"state":{}}`: true, `{}`: false, `{"state":null}`: false, `null`: false, `x`: false} {
		if _, got := windowState(result{body: []byte(body)}); got != ok {
			t.Errorf("windowState(%s): %v, want %v", body, got, ok)
		}
	}
}

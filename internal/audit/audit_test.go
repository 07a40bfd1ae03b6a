package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
)

func TestRotationAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(Options{Path: path, MaxBytes: 2000, MaxFiles: 3, FlushEntries: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		l.Write(&Event{EventName: "CreateStream", RequestID: strings.Repeat("x", 50)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range []string{path, path + ".1", path + ".2"} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		st, _ := f.Stat()
		if st.Size() > 2000 {
			t.Errorf("%s is %d bytes, above the rotation size", p, st.Size())
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			total++
		}
		f.Close()
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a fourth file is kept: %v", err)
	}
	if total == 0 || total >= 60 {
		t.Errorf("%d events in the kept files; want some, and the oldest rotated away", total)
	}
}

func TestEventWithoutRecordData(t *testing.T) {
	info := &awsproto.RequestInfo{Operation: "PutRecords", Region: "us-east-1", AccountID: "123456789012", Received: time.Now(),
		Principal: &awsproto.Principal{Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/a", AccountID: "123456789012", UserName: "a", AccessKeyID: "AKIA"},
		Resources: []string{"arn:aws:kinesis:us-east-1:123456789012:stream/s"}}
	body := `{"StreamName":"s","Records":[{"Data":"c2VjcmV0LWRhdGE=","PartitionKey":"secret-key"}]}`
	ev := NewEvent(info, []byte(body), nil, awsproto.NewError("AccessDeniedException", "no"), true, time.Now())
	b, _ := json.Marshal(ev)
	s := string(b)
	if strings.Contains(s, "c2VjcmV0") || strings.Contains(s, "secret-key") {
		t.Fatalf("record data in event: %s", s)
	}
	for _, want := range []string{`"streamName":"s"`, `"partitionKey":"HIDDEN_DUE_TO_SECURITY_REASONS"`, `"errorCode":"AccessDeniedException"`,
		`"eventCategory":"Data"`, `"userName":"a"`, `"type":"AWS::Kinesis::Stream"`, `"eventType":"AwsApiCall"`} {
		if !strings.Contains(s, want) {
			t.Errorf("event lacks %s: %s", want, s)
		}
	}
}

func TestDataEventsByService(t *testing.T) {
	for _, c := range []struct {
		service, op string
		data        bool
	}{
		{"", "PutRecord", true}, {"kinesis", "GetRecords", true}, {"kinesis", "CreateStream", false},
		{"dynamodb", "PutItem", true}, {"dynamodb", "Query", true}, {"dynamodb", "TransactWriteItems", true},
		{"dynamodb", "CreateTable", false}, {"dynamodb", "DescribeTable", false}, {"dynamodb", "PutRecord", false},
	} {
		if got := isDataEvent(&awsproto.RequestInfo{Service: c.service, Operation: c.op}); got != c.data {
			t.Errorf("%s:%s data event %v, want %v", c.service, c.op, got, c.data)
		}
	}
}

package opensearch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
)

var arrival = time.Date(2016, 2, 25, 13, 4, 5, 0, time.UTC)

func batch(data ...string) *sink.Batch {
	b := &sink.Batch{ID: "b1", Stream: "logs", Version: 1, FirstArrival: arrival}
	for i, d := range data {
		b.Records = append(b.Records, sink.Record{ID: fmt.Sprintf("r%d", i), Data: []byte(d), Arrival: arrival})
	}
	return b
}

func TestIndexRotation(t *testing.T) {
	// Firehose's documented names for 2016-02-25T13:00Z.
	for rot, want := range map[string]string{
		"NoRotation": "myindex",
		"OneHour":    "myindex-2016-02-25-13",
		"OneDay":     "myindex-2016-02-25",
		"OneWeek":    "myindex-2016-w08",
		"OneMonth":   "myindex-2016-02",
	} {
		if got := IndexName("myindex", rot, arrival.Add(-4*time.Minute)); got != want {
			t.Errorf("%s: %s, want %s", rot, got, want)
		}
	}
	// Rotation is by UTC; the ISO week year differs from the calendar's
	// at the turn of a year.
	if got := IndexName("i", "OneWeek", time.Date(2021, 1, 2, 0, 0, 0, 0, time.UTC)); got != "i-2020-w53" {
		t.Errorf("OneWeek 2021-01-02: %s", got)
	}
	if got := IndexName("i", "OneHour", time.Date(2024, 1, 1, 0, 30, 0, 0, time.FixedZone("x", 3600))); got != "i-2023-12-31-23" {
		t.Errorf("OneHour across zones: %s", got)
	}
}

func TestBulkDelivery(t *testing.T) {
	srv, ts := newBulkServer(t)
	srv.SetAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("admin:secret")))
	d, err := New(Config{ClusterEndpoint: strings.Replace(ts.URL, "http://", "http://admin:secret@", 1) + "/", IndexName: "logs", IndexRotationPeriod: "OneDay"})
	if err != nil {
		t.Fatal(err)
	}
	b := batch(
		`{"msg":"a"}`,
		"{\n  \"msg\": \"multi-line record\"\n}\n",
		`not json`,
		`{"bad":1}`,
		`[1,2]`,
		`{"msg":"z"}`,
	)
	res, err := d.Deliver(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, r := range res.Rejected {
		got[r.Index] = r.Code
	}
	want := map[int]string{2: CodeInvalidDocument, 3: "mapper_parsing_exception", 4: CodeInvalidDocument}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
	if n := srv.Count("logs-2016-02-25"); n != 3 {
		t.Errorf("%d documents in logs-2016-02-25 (indexes %s), want 3", n, srv.Indexes())
	}
	// A retry of the same batch overwrites: FIREHOSE_DEFAULT ids are stable.
	if _, err := d.Deliver(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count("logs-2016-02-25"); n != 3 {
		t.Errorf("after a retry %d documents, want still 3", n)
	}
}

func TestNoDocumentIDAndType(t *testing.T) {
	srv, ts := newBulkServer(t)
	d, err := New(Config{ClusterEndpoint: ts.URL, IndexName: "ev", TypeName: "_doc", IndexRotationPeriod: "NoRotation", DocumentIdOptions: &DocumentIdOptions{"NO_DOCUMENT_ID"}})
	if err != nil {
		t.Fatal(err)
	}
	b := batch(`{"a":1}`, `{"a":2}`)
	for i := 0; i < 2; i++ {
		if _, err := d.Deliver(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Count("ev"); n != 4 {
		t.Errorf("%d documents, want 4: without ids a retry duplicates", n)
	}
}

func TestRetryableItemsFailTheBatch(t *testing.T) {
	srv, ts := newBulkServer(t)
	srv.SetBusy(true)
	d, _ := New(Config{ClusterEndpoint: ts.URL, IndexName: "x"})
	_, err := d.Deliver(context.Background(), batch(`{"a":1}`))
	var e *Error
	if !errors.As(err, &e) || e.Code != "OS.BulkItemsRetryable" || !strings.Contains(e.Message, "es_rejected_execution_exception") {
		t.Fatalf("busy cluster: %v", err)
	}
	srv.SetAuth("Basic nope")
	srv.SetBusy(false)
	_, err = d.Deliver(context.Background(), batch(`{"a":1}`))
	if !errors.As(err, &e) || e.Code != "OS.401" {
		t.Fatalf("refused credentials: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"arn only":  {Config{DomainARN: "arn:aws:es:us-east-1:1:domain/d", IndexName: "i"}, "ClusterEndpoint"},
		"bad url":   {Config{ClusterEndpoint: "ftp://h", IndexName: "i"}, "http(s)"},
		"no index":  {Config{ClusterEndpoint: "https://h"}, "IndexName"},
		"upper":     {Config{ClusterEndpoint: "https://h", IndexName: "Logs"}, "not a valid index name"},
		"rotation":  {Config{ClusterEndpoint: "https://h", IndexName: "i", IndexRotationPeriod: "OneYear"}, "IndexRotationPeriod"},
		"id format": {Config{ClusterEndpoint: "https://h", IndexName: "i", DocumentIdOptions: &DocumentIdOptions{"UUID"}}, "DefaultDocumentIdFormat"},
	} {
		if _, err := New(tc.cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidConfig saying %q", name, err, tc.want)
		}
	}
}

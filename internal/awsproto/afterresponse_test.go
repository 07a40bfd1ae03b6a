package awsproto_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

// recordingWriter notes how many body bytes were written when the
// functions registered with AfterResponse ran.
type recordingWriter struct {
	*httptest.ResponseRecorder
	writtenAtRelease int
}

// TestAfterResponse: a function registered by a handler runs once every
// byte of the response has been written, for a large response written in
// pieces and a small one, and for errors; outside a router it is refused.
func TestAfterResponse(t *testing.T) {
	var w *recordingWriter
	ran := 0
	release := func() { ran++; w.writtenAtRelease = w.Body.Len() }
	r := awsproto.NewRouter(awsproto.RouterOptions{
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes:     1024,
		DefaultRegion:    "us-east-1",
		DefaultAccountID: "000000000000",
	})
	r.Register("Kinesis_20131202", "1.1", map[string]awsproto.Handler{
		"GetRecords": awsproto.Op(func(ctx context.Context, in *kinesisapi.GetRecordsInput) (*kinesisapi.GetRecordsOutput, error) {
			if !awsproto.CanRunAfterResponse(ctx) || !awsproto.AfterResponse(ctx, release) {
				t.Error("the router refused a function to run after the response")
			}
			n := int(awsproto.Value(in.Limit))
			if n == 2 {
				return nil, awsproto.NewError("InvalidArgumentException", "no")
			}
			out := &kinesisapi.GetRecordsOutput{MillisBehindLatest: awsproto.Ptr[int64](0), Records: []kinesisapi.Record{}}
			for i := 0; i < n; i++ {
				out.Records = append(out.Records, kinesisapi.Record{
					Data: make([]byte, 1000), PartitionKey: awsproto.Ptr("k"), SequenceNumber: awsproto.Ptr("1"),
					ApproximateArrivalTimestamp: awsproto.Ptr(awsproto.Timestamp{}),
				})
			}
			return out, nil
		}),
	})
	for _, limit := range []string{"1", "1000", "2"} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(`{"ShardIterator":"x","Limit":`+limit+`}`))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", testAuth)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		w = &recordingWriter{ResponseRecorder: httptest.NewRecorder()}
		ran = 0
		r.ServeHTTP(w, req)
		if ran != 1 {
			t.Fatalf("limit %s: the function ran %d times, want once", limit, ran)
		}
		if w.Body.Len() < 30 || w.writtenAtRelease != w.Body.Len() {
			t.Errorf("limit %s: it ran with %d of the response's %d bytes written", limit, w.writtenAtRelease, w.Body.Len())
		}
	}
	if awsproto.CanRunAfterResponse(context.Background()) || awsproto.AfterResponse(context.Background(), func() { t.Error("ran outside a router") }) {
		t.Error("AfterResponse accepted a function outside a router")
	}
}

package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
	"github.com/millrace/millrace/internal/firehose/splunk/hectest"
)

func newHEC(t *testing.T) (*hectest.Server, *httptest.Server) {
	h := hectest.Start(t)
	return h, h.Server
}

func batch(id string, data ...string) *sink.Batch {
	b := &sink.Batch{ID: id, Stream: "s", Version: 1, FirstArrival: time.Now()}
	for i, d := range data {
		b.Records = append(b.Records, sink.Record{ID: fmt.Sprint(i), Data: []byte(d), Arrival: time.Now()})
	}
	return b
}

func dest(t *testing.T, cfg Config) *Destination {
	t.Helper()
	if cfg.HECToken == "" {
		cfg.HECToken = "tok-123"
	}
	cfg.ackPoll = time.Millisecond
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEventEndpointWithAcks(t *testing.T) {
	h, srv := newHEC(t)
	h.AckAfter = 3 // acknowledged on the fourth poll
	d := dest(t, Config{HECEndpoint: srv.URL, HECEndpointType: "Event"})
	res, err := d.Deliver(context.Background(), batch("b-1",
		`{"event":{"msg":"a"},"sourcetype":"json"}`,
		`{"time":1700000000,"event":"b"}{"event":"c"}`,
		`{"msg":"no event field"}`,
		`not json`,
		`{"event":""}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, r := range res.Rejected {
		if r.Code != CodeInvalidEvent {
			t.Errorf("rejection %+v", r)
		}
		idx = append(idx, r.Index)
	}
	if fmt.Sprint(idx) != "[2 3 4]" {
		t.Errorf("rejected %v, want [2 3 4]", idx)
	}
	if got := strings.Join(h.Events(), " "); got != `{"msg":"a"} "b" "c"` {
		t.Errorf("indexed %s", got)
	}
	if h.Polls(0) != 4 {
		t.Errorf("%d ack polls, want 4 (acknowledged on the fourth)", h.Polls(0))
	}
	if !strings.Contains(res.Location, "ackId 0") {
		t.Errorf("location %q", res.Location)
	}
	// A retry of the batch uses the same channel.
	if _, err := d.Deliver(context.Background(), batch("b-1", `{"event":1}`)); err != nil {
		t.Fatal(err)
	}
	if h.Channels()[0] != h.Channels()[1] {
		t.Errorf("channels %v differ for one batch id", h.Channels())
	}
}

func TestRawEndpoint(t *testing.T) {
	h, srv := newHEC(t)
	d := dest(t, Config{HECEndpoint: srv.URL + "/", HECEndpointType: "Raw"})
	if _, err := d.Deliver(context.Background(), batch("b", "line one\n", "not json at all\n")); err != nil {
		t.Fatal(err)
	}
	if len(h.Events()) != 1 || h.Events()[0] != "line one\nnot json at all\n" {
		t.Errorf("raw body %q", h.Events())
	}
}

func TestAckTimeout(t *testing.T) {
	h, srv := newHEC(t)
	h.NoAck = true
	d := dest(t, Config{HECEndpoint: srv.URL, HECEndpointType: "Event"})
	d.ackTimeout = 20 * time.Millisecond
	_, err := d.Deliver(context.Background(), batch("b", `{"event":1}`))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeAckTimeout {
		t.Fatalf("no acknowledgement: %v, want %s", err, CodeAckTimeout)
	}
}

func TestNoAcknowledgement(t *testing.T) {
	h, srv := newHEC(t)
	h.Ack = false
	d := dest(t, Config{HECEndpoint: srv.URL, HECEndpointType: "Event"})
	res, err := d.Deliver(context.Background(), batch("b", `{"event":1}`))
	if err != nil || !strings.Contains(res.Location, "no acknowledgement") {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestErrorCodes(t *testing.T) {
	h, srv := newHEC(t)
	var e *Error
	d := dest(t, Config{HECEndpoint: srv.URL, HECEndpointType: "Event", HECToken: "wrong"})
	if _, err := d.Deliver(context.Background(), batch("b", `{"event":1}`)); !errors.As(err, &e) || e.Code != CodeInvalidToken {
		t.Errorf("wrong token: %v", err)
	}
	h.Busy = true
	d = dest(t, Config{HECEndpoint: srv.URL, HECEndpointType: "Event"})
	if _, err := d.Deliver(context.Background(), batch("b", `{"event":1}`)); !errors.As(err, &e) || e.Code != CodeIndexerBusy {
		t.Errorf("busy: %v", err)
	}
	d = dest(t, Config{HECEndpoint: "http://127.0.0.1:1", HECEndpointType: "Raw"})
	if _, err := d.Deliver(context.Background(), batch("b", "x")); !errors.As(err, &e) || e.Code != CodeConnectionError {
		t.Errorf("no server: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ptr := func(v int32) *int32 { return &v }
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"url":     {Config{HECEndpoint: "splunk:8088", HECEndpointType: "Raw", HECToken: "t"}, "HECEndpoint"},
		"type":    {Config{HECEndpoint: "https://s:8088", HECEndpointType: "Metrics", HECToken: "t"}, "HECEndpointType"},
		"token":   {Config{HECEndpoint: "https://s:8088", HECEndpointType: "Raw"}, "HECToken"},
		"timeout": {Config{HECEndpoint: "https://s:8088", HECEndpointType: "Raw", HECToken: "t", HECAcknowledgmentTimeoutInSeconds: ptr(60)}, "180..600"},
	} {
		if _, err := New(tc.cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidConfig saying %q", name, err, tc.want)
		}
	}
}

// FuzzEventRecords: the event check never panics, and what it accepts the
// contract server indexes.
func FuzzEventRecords(f *testing.F) {
	for _, s := range []string{`{"event":1}`, `{"event":{"a":[1]}}{"event":"x","time":1}`, `{"event":""}`, `{}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := checkEvents(data)
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		for i := 0; i < n; i++ {
			var ev map[string]json.RawMessage
			if err := dec.Decode(&ev); err != nil || ev["event"] == nil {
				t.Fatalf("accepted %q but event %d does not decode: %v", data, i, err)
			}
		}
	})
}

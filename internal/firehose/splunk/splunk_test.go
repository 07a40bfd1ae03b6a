package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// hecServer follows the documented HEC contract: POST
// /services/collector/event (a sequence of {"event": ...} objects) or
// /services/collector/raw (any bytes), "Authorization: Splunk <token>",
// and with indexer acknowledgement on, an X-Splunk-Request-Channel GUID
// (code 10 "Data channel is missing" without it); the answer is
// {"text":"Success","code":0,"ackId":n}. POST /services/collector/ack
// ?channel=<guid> with {"acks":[n,...]} answers {"acks":{"n":true|false}}.
// An ackId turns true after ackAfter polls; never with noAck.
type hecServer struct {
	mu       sync.Mutex
	token    string
	ack      bool // indexer acknowledgement on
	ackAfter int
	noAck    bool
	busy     bool
	nextAck  int64
	polls    map[int64]int
	channels map[int64]string
	events   []string // what was indexed, one entry per event or raw body
	channel  []string
}

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func newHEC(t *testing.T) (*hecServer, *httptest.Server) {
	h := &hecServer{token: "tok-123", ack: true, polls: map[int64]int{}, channels: map[int64]string{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hecServer) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (h *hecServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Method != http.MethodPost {
		h.answer(w, 400, map[string]any{"text": "Method not allowed", "code": 6})
		return
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Splunk ") {
		h.answer(w, 401, map[string]any{"text": "Token is required", "code": 2})
		return
	}
	if strings.TrimPrefix(auth, "Splunk ") != h.token {
		h.answer(w, 403, map[string]any{"text": "Invalid token", "code": 4})
		return
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if h.ack && ch == "" {
		h.answer(w, 400, map[string]any{"text": "Data channel is missing", "code": 10})
		return
	}
	if ch != "" && !guid.MatchString(ch) {
		h.answer(w, 400, map[string]any{"text": "Invalid data channel", "code": 11})
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/services/collector/ack":
		var req struct {
			Acks []int64 `json:"acks"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			h.answer(w, 400, map[string]any{"text": "Invalid data format", "code": 6})
			return
		}
		out := map[string]bool{}
		for _, id := range req.Acks {
			h.polls[id]++
			out[fmt.Sprint(id)] = !h.noAck && h.channels[id] == ch && h.polls[id] > h.ackAfter
		}
		h.answer(w, 200, map[string]any{"acks": out})
		return
	case "/services/collector/event":
		if h.busy {
			h.answer(w, 503, map[string]any{"text": "Server is busy", "code": 9})
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		var got []string
		for n := 0; ; n++ {
			var ev map[string]json.RawMessage
			err := dec.Decode(&ev)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				h.answer(w, 400, map[string]any{"text": "Invalid data format", "code": 6, "invalid-event-number": n})
				return
			}
			if _, ok := ev["event"]; !ok {
				h.answer(w, 400, map[string]any{"text": "Event field is required", "code": 12, "invalid-event-number": n})
				return
			}
			got = append(got, string(ev["event"]))
		}
		h.events = append(h.events, got...)
	case "/services/collector/raw":
		h.events = append(h.events, string(body))
	default:
		h.answer(w, 404, map[string]any{"text": "The requested URL was not found on this server.", "code": 404})
		return
	}
	h.channel = append(h.channel, ch)
	if !h.ack {
		h.answer(w, 200, map[string]any{"text": "Success", "code": 0})
		return
	}
	id := h.nextAck
	h.nextAck++
	h.channels[id] = ch
	h.answer(w, 200, map[string]any{"text": "Success", "code": 0, "ackId": id})
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
	h.ackAfter = 3 // acknowledged on the fourth poll
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
	if got := strings.Join(h.events, " "); got != `{"msg":"a"} "b" "c"` {
		t.Errorf("indexed %s", got)
	}
	if h.polls[0] != 4 {
		t.Errorf("%d ack polls, want 4 (acknowledged on the fourth)", h.polls[0])
	}
	if !strings.Contains(res.Location, "ackId 0") {
		t.Errorf("location %q", res.Location)
	}
	// A retry of the batch uses the same channel.
	if _, err := d.Deliver(context.Background(), batch("b-1", `{"event":1}`)); err != nil {
		t.Fatal(err)
	}
	if h.channel[0] != h.channel[1] {
		t.Errorf("channels %v differ for one batch id", h.channel)
	}
}

func TestRawEndpoint(t *testing.T) {
	h, srv := newHEC(t)
	d := dest(t, Config{HECEndpoint: srv.URL + "/", HECEndpointType: "Raw"})
	if _, err := d.Deliver(context.Background(), batch("b", "line one\n", "not json at all\n")); err != nil {
		t.Fatal(err)
	}
	if len(h.events) != 1 || h.events[0] != "line one\nnot json at all\n" {
		t.Errorf("raw body %q", h.events)
	}
}

func TestAckTimeout(t *testing.T) {
	h, srv := newHEC(t)
	h.noAck = true
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
	h.ack = false
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
	h.busy = true
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

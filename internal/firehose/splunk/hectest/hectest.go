// Package hectest is a server that follows the Splunk HTTP Event
// Collector contract (event, raw and ack endpoints), for tests of the
// Splunk destination: no Splunk can be installed where they run.
package hectest

import (
	"bytes"
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
)

// Server follows the documented HEC contract: POST
// /services/collector/event (a sequence of {"event": ...} objects) or
// /services/collector/raw (any bytes), "Authorization: Splunk <token>",
// and with indexer acknowledgement on, an X-Splunk-Request-Channel GUID
// (code 10 "Data channel is missing" without it); the answer is
// {"text":"Success","code":0,"ackId":n}. POST /services/collector/ack
// ?channel=<guid> with {"acks":[n,...]} answers {"acks":{"n":true|false}}.
// An ackId turns true after AckAfter polls; never with NoAck.
// Set the exported fields before the first request.
type Server struct {
	*httptest.Server
	Token    string // "tok-123" unless changed
	Ack      bool   // indexer acknowledgement on (the default)
	AckAfter int
	NoAck    bool
	Busy     bool // every event request answers 503, code 9

	mu       sync.Mutex
	nextAck  int64
	polls    map[int64]int
	channels map[int64]string
	events   []string // what was indexed, one entry per event or raw body
	channel  []string
}

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Start starts a server on loopback, closed when the test ends.
func Start(t testing.TB) *Server {
	h := &Server{Token: "tok-123", Ack: true, polls: map[int64]int{}, channels: map[int64]string{}}
	h.Server = httptest.NewServer(h)
	t.Cleanup(h.Close)
	return h
}

// StartTLS starts a server on loopback with a certificate of its own
// (Server.Client trusts it), closed when the test ends.
func StartTLS(t testing.TB) *Server {
	h := &Server{Token: "tok-123", Ack: true, polls: map[int64]int{}, channels: map[int64]string{}}
	h.Server = httptest.NewTLSServer(h)
	t.Cleanup(h.Close)
	return h
}

// Events is what was indexed: one entry per event, or per raw body.
func (h *Server) Events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

// Polls is how many times an ackId was polled.
func (h *Server) Polls(ackID int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.polls[ackID]
}

// Channels are the request channels of the event and raw requests, in
// order.
func (h *Server) Channels() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.channel...)
}

func (h *Server) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ServeHTTP answers a HEC request.
func (h *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	if strings.TrimPrefix(auth, "Splunk ") != h.Token {
		h.answer(w, 403, map[string]any{"text": "Invalid token", "code": 4})
		return
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if h.Ack && ch == "" {
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
			out[fmt.Sprint(id)] = !h.NoAck && h.channels[id] == ch && h.polls[id] > h.AckAfter
		}
		h.answer(w, 200, map[string]any{"acks": out})
		return
	case "/services/collector/event":
		if h.Busy {
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
	if !h.Ack {
		h.answer(w, 200, map[string]any{"text": "Success", "code": 0})
		return
	}
	id := h.nextAck
	h.nextAck++
	h.channels[id] = ch
	h.answer(w, 200, map[string]any{"text": "Success", "code": 0, "ackId": id})
}

// Package bulktest is a server that follows the OpenSearch and
// Elasticsearch _bulk contract, for tests of the OpenSearch destination:
// no OpenSearch or Elasticsearch server can be installed where they run.
package bulktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Server follows the documented _bulk contract: POST /_bulk with
// Content-Type application/x-ndjson, pairs of action and document lines,
// each line one JSON value, the body ending in a newline; the answer is
// {"took","errors","items":[{"index":{"_index","_id","status","error"}}]}
// with one item per action, in order. Documents with a field "bad" fail
// mapping (400 mapper_parsing_exception); with busy set, every item is
// refused with 429 es_rejected_execution_exception.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string]map[string]string // index -> id -> document
	auto int
	busy bool
	auth string // expected Authorization header, if any
	reqs int
}

// Start starts a server on loopback, closed when the test ends.
func Start(t testing.TB) *Server {
	s := &Server{docs: map[string]map[string]string{}}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// StartTLS starts a server on loopback with a certificate of its own
// (Server.Client trusts it), closed when the test ends.
func StartTLS(t testing.TB) *Server {
	s := &Server{docs: map[string]map[string]string{}}
	s.Server = httptest.NewTLSServer(s)
	t.Cleanup(s.Close)
	return s
}

// SetBusy makes every item be refused (429) or accepted again.
func (s *Server) SetBusy(busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = busy
}

// SetAuth sets the Authorization header every request must carry ("":
// none).
func (s *Server) SetAuth(auth string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = auth
}

// Docs returns a copy of an index's documents by id.
func (s *Server) Docs(index string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.docs[index]))
	for k, v := range s.docs[index] {
		out[k] = v
	}
	return out
}

func (s *Server) fail(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "reason": reason}, "status": status})
}

// ServeHTTP answers a _bulk request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs++
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
		s.fail(w, 405, "invalid_request", r.Method+" "+r.URL.Path)
		return
	}
	if s.auth != "" && r.Header.Get("Authorization") != s.auth {
		s.fail(w, 401, "security_exception", "missing authentication credentials")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" && ct != "application/json" {
		s.fail(w, 406, "illegal_argument_exception", "Content-Type header ["+ct+"] is not supported")
		return
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	if !bytes.HasSuffix(body.Bytes(), []byte("\n")) {
		s.fail(w, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	sc := bufio.NewScanner(&body)
	sc.Buffer(nil, 64<<20)
	var items []map[string]any
	errors := false
	for sc.Scan() {
		var act map[string]map[string]string
		if err := json.Unmarshal(sc.Bytes(), &act); err != nil || len(act) != 1 {
			s.fail(w, 400, "illegal_argument_exception", "Malformed action/metadata line")
			return
		}
		meta, ok := act["index"]
		if !ok {
			s.fail(w, 400, "illegal_argument_exception", "only index actions expected")
			return
		}
		if !sc.Scan() {
			s.fail(w, 400, "illegal_argument_exception", "action without a document")
			return
		}
		doc := sc.Text()
		var obj map[string]any
		if err := json.Unmarshal([]byte(doc), &obj); err != nil {
			s.fail(w, 400, "x_content_parse_exception", err.Error())
			return
		}
		id := meta["_id"]
		if id == "" {
			s.auto++
			id = fmt.Sprintf("auto-%d", s.auto)
		}
		res := map[string]any{"_index": meta["_index"], "_id": id}
		switch {
		case meta["_index"] == "":
			res["status"] = 400
			res["error"] = map[string]any{"type": "action_request_validation_exception", "reason": "index is missing"}
			errors = true
		case s.busy:
			res["status"] = 429
			res["error"] = map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected execution"}
			errors = true
		case obj["bad"] != nil:
			res["status"] = 400
			res["error"] = map[string]any{"type": "mapper_parsing_exception", "reason": "failed to parse field [bad]"}
			errors = true
		default:
			if s.docs[meta["_index"]] == nil {
				s.docs[meta["_index"]] = map[string]string{}
			}
			_, existed := s.docs[meta["_index"]][id]
			s.docs[meta["_index"]][id] = doc
			res["status"] = 201
			if existed {
				res["status"] = 200
			}
		}
		items = append(items, map[string]any{"index": res})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": errors, "items": items})
}

// Count is the number of documents in an index.
func (s *Server) Count(index string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs[index])
}

// Indexes names the indexes that hold documents, sorted, comma-separated.
func (s *Server) Indexes() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for k := range s.docs {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/server/servertest"
)

// firehoseServer answers PutRecordBatch as Firehose does (JSON 1.1,
// per-record results), failing some records and some whole calls on
// purpose, and keeps the records it accepted in order.
type firehoseServer struct {
	mu       sync.Mutex
	stream   string
	records  []string
	calls    int
	failed   int
	failNext bool
}

func (f *firehoseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "Firehose_20150804.PutRecordBatch" {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"%s"}`, r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct {
		DeliveryStreamName string
		Records            []struct{ Data string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Records) == 0 || len(in.Records) > 500 {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"ValidationException","message":"bad request: %v"}`, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if in.DeliveryStreamName != f.stream {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"ResourceNotFoundException","message":"Firehose %s not found."}`, in.DeliveryStreamName)
		return
	}
	if f.calls%5 == 0 {
		w.WriteHeader(500)
		fmt.Fprint(w, `{"__type":"ServiceUnavailableException","message":"Slow down."}`)
		return
	}
	type result struct {
		RecordId     string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedPutCount   int
		Encrypted        bool
		RequestResponses []result
	}{}
	for i, rec := range in.Records {
		// Every third call fails its last record: a failure that no
		// later record of the call overtakes, so order is kept.
		if f.calls%3 == 0 && i == len(in.Records)-1 {
			out.FailedPutCount++
			f.failed++
			out.RequestResponses = append(out.RequestResponses, result{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."})
			continue
		}
		b, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"SerializationException"}`)
			return
		}
		f.records = append(f.records, string(b))
		out.RequestResponses = append(out.RequestResponses, result{RecordId: fmt.Sprintf("id-%d", len(f.records))})
	}
	json.NewEncoder(w).Encode(out)
}

func TestFirehoseFlow(t *testing.T) {
	srv := servertest.Start(t) // for the Kinesis client the agent also builds
	fh := &firehoseServer{stream: "delivery"}
	hs := httptest.NewServer(fh)
	defer hs.Close()
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, lines(0, 3000))
	var cfg map[string]any
	json.Unmarshal(agentJSON(t, srv, dir, map[string]any{
		"filePattern": log, "deliveryStream": "delivery", "initialPosition": "START_OF_FILE",
		"maxBufferAgeMillis": 1000, "maxBufferSizeRecords": 100, "minTimeBetweenFilePollsMillis": 10,
		"retryInitialBackoffMillis": 1, "retryMaxBackoffMillis": 20,
		"dataProcessingOptions": []any{map[string]any{"optionName": "ADDBRACKETS"}},
	}), &cfg)
	cfg["firehose.endpoint"] = hs.URL
	b, _ := json.Marshal(cfg)
	a, stop := startAgent(t, srv, b, Options{})
	waitFor(t, 20*time.Second, "3000 records", func() bool { return a.Stats.RecordsSent.Load() >= 3000 })
	appendFile(t, log, lines(3000, 3100))
	waitFor(t, 20*time.Second, "3100 records", func() bool { return a.Stats.RecordsSent.Load() >= 3100 })
	stop()
	fh.mu.Lock()
	defer fh.mu.Unlock()
	var want []string
	for _, l := range strings.SplitAfter(lines(0, 3100), "\n") {
		if l != "" {
			want = append(want, "["+strings.TrimSuffix(l, "\n")+"]\n")
		}
	}
	if !slices.Equal(fh.records, want) {
		t.Errorf("%d records delivered (want %d), in order each once: %v", len(fh.records), len(want), slices.Equal(fh.records, want))
	}
	if fh.failed == 0 {
		t.Error("no record failed: the retry path was not exercised")
	}
	cp, err := readCheckpoint(filepath.Join(dir, "checkpoints"))
	if err != nil || cp == nil || !cp.Clean {
		t.Errorf("checkpoint after the stop: %+v, %v", cp, err)
	}
}

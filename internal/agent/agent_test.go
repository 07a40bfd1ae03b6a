package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShipsLinesOnceInOrder(t *testing.T) {
	srv, c := newStream(t, "logs", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines(0, 100)+"partial")
	cfg := agentJSON(t, srv, dir, map[string]any{
		"filePattern": filepath.Join(dir, "app.log*"), "kinesisStream": "logs",
		"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000,
	})
	a, stop := startAgent(t, srv, cfg, Options{})
	waitFor(t, 10*time.Second, "100 records", func() bool { return a.Stats.RecordsSent.Load() >= 100 })
	appendFile(t, log, " line\n"+lines(100, 200))
	waitFor(t, 10*time.Second, "201 records", func() bool { return a.Stats.RecordsSent.Load() >= 201 })
	stop()
	var got []string
	for _, sh := range readStream(t, c, "logs") {
		for _, r := range sh {
			got = append(got, string(r.Data))
		}
	}
	want := strings.SplitAfter(lines(0, 100)+"partial line\n"+lines(100, 200), "\n")
	want = want[:len(want)-1]
	if strings.Join(got, "") != strings.Join(want, "") || len(got) != len(want) {
		t.Fatalf("got %d records, want %d:\n%q", len(got), len(want), got)
	}
}

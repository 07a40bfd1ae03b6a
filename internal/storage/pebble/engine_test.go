package pebble_test

import (
	"log/slog"
	"testing"

	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/storage/storagetest"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, dir string) storagetest.Engine {
		e, err := pebble.Open(pebble.Options{Dir: dir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

func TestConformanceInMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, _ string) storagetest.Engine {
		e, err := pebble.Open(pebble.Options{InMemory: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, storagetest.Volatile())
}

package jetstream_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/millrace/millrace/internal/storage/jetstream"
	"github.com/millrace/millrace/internal/storage/storagetest"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestConformance runs the storage suite, the crash test included, on an
// engine over a NATS server embedded in the test process (in the crash
// test's writer, in that child process), its files in the suite's
// directory.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, dir string) storagetest.Engine {
		e, err := jetstream.Open(context.Background(), jetstream.Options{
			Embed:  &jetstream.ServerOptions{Dir: filepath.Join(dir, "nats")},
			Logger: testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

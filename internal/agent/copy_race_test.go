package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/producer"
)

// ackingPutter acknowledges every record as it is put, in order.
type ackingPutter struct{ data []string }

func (p *ackingPutter) PutCallback(_ context.Context, rec aggregation.Record, cb func(producer.Result)) error {
	p.data = append(p.data, string(rec.Data))
	cb(producer.Result{ShardID: "shardId-000000000000", SequenceNumber: strconv.Itoa(len(p.data))})
	return nil
}

// TestCopyTruncateCopySeenBeforeItHoldsTheFingerprint polls a flow at the
// moments copytruncate exposes: its copy exists but holds fewer bytes than
// identify the file it copies (just created, or partly written), then the
// copy is complete and the original truncated and written again. The copy
// continues the file it copies: no line is read twice.
func TestCopyTruncateCopySeenBeforeItHoldsTheFingerprint(t *testing.T) {
	for _, written := range []int{0, 1, 500} {
		t.Run(strconv.Itoa(written), func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			appendFile(t, log, lines(0, 200)) // 2,400 bytes, more than fingerprintMax
			fl := &Flow{FilePattern: log + "*", KinesisStream: "s", PartitionKeyOption: "RANDOM",
				InitialPosition: "START_OF_FILE", MaxBufferAge: time.Second, MinTimeBetweenFilePolls: 10 * time.Millisecond}
			p := &ackingPutter{}
			r := newFlowRunner(fl, p, nil, nil, slog.New(slog.DiscardHandler), &Stats{})
			r.ctx = context.Background()
			poll := func() {
				t.Helper()
				if err := r.poll(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			poll()

			// copytruncate: the copy is created and written in pieces; a
			// poll lists it with only its first bytes.
			content, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			dst := log + ".1"
			if err := os.WriteFile(dst, content[:written], 0o644); err != nil {
				t.Fatal(err)
			}
			poll()
			if err := os.WriteFile(dst, content, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, log, lines(200, 210))
			poll()
			poll()
			// A new file, empty when first listed, is no copy once it
			// holds other bytes: it is read at the next poll.
			appendFile(t, log+".2", "")
			poll()
			appendFile(t, log+".2", lines(300, 305))
			poll()

			if got, want := strings.Join(p.data, ""), lines(0, 210)+lines(300, 305); got != want {
				t.Errorf("%d records sent, want 215; sent:\n%s", len(p.data), got)
			}
			cp, clean := r.checkpoint(time.Now())
			if !clean {
				t.Errorf("records left unacknowledged: %+v", cp)
			}
		})
	}
}

// TestCopyTruncateCopyBeingWrittenAtRestart starts a flow from a
// checkpoint while copytruncate is copying the checkpointed file: the
// partial copy, listed first, waits for the copy to be complete and
// continues the file where the checkpoint left it.
func TestCopyTruncateCopyBeingWrittenAtRestart(t *testing.T) {
	for _, written := range []int{0, 500, 1500} {
		t.Run(strconv.Itoa(written), func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			appendFile(t, log, lines(0, 200))
			fl := &Flow{FilePattern: log + "*", KinesisStream: "s", PartitionKeyOption: "RANDOM",
				InitialPosition: "START_OF_FILE", MaxBufferAge: time.Second, MinTimeBetweenFilePolls: 10 * time.Millisecond}
			p := &ackingPutter{}
			newRunner := func(cp *flowCheckpoint) *flowRunner {
				r := newFlowRunner(fl, p, cp, nil, slog.New(slog.DiscardHandler), &Stats{})
				r.ctx = context.Background()
				return r
			}
			poll := func(r *flowRunner) {
				t.Helper()
				if err := r.poll(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			r := newRunner(nil)
			poll(r)
			cp, clean := r.checkpoint(time.Now())
			if !clean {
				t.Fatalf("records left unacknowledged: %+v", cp)
			}

			// Stopped; more lines are written, and copytruncate starts
			// copying. The copy is listed first (older modification
			// time).
			appendFile(t, log, lines(200, 220))
			content, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			dst := log + ".1"
			if err := os.WriteFile(dst, content[:written], 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Minute)
			if err := os.Chtimes(dst, old, old); err != nil {
				t.Fatal(err)
			}
			r = newRunner(cp)
			poll(r)
			if err := os.WriteFile(dst, content, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, log, lines(220, 230))
			poll(r)
			poll(r)

			if got, want := strings.Join(p.data, ""), lines(0, 230); got != want {
				t.Errorf("%d records sent, want 230; sent:\n%s", len(p.data), got)
			}
		})
	}
}

// TestCopyMadeWhileStoppedIsReadBeforeTheRefilledOriginal starts a flow
// from a checkpoint after copytruncate ran while it was stopped: the
// original, at its checkpointed identity, holds new lines, and the copy,
// found by its first bytes, the rest of the old ones. The copy's lines go
// first.
func TestCopyMadeWhileStoppedIsReadBeforeTheRefilledOriginal(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines(0, 200))
	fl := &Flow{FilePattern: log + "*", KinesisStream: "s", PartitionKeyOption: "RANDOM",
		InitialPosition: "START_OF_FILE", MaxBufferAge: time.Second, MinTimeBetweenFilePolls: 10 * time.Millisecond}
	p := &ackingPutter{}
	r := newFlowRunner(fl, p, nil, nil, slog.New(slog.DiscardHandler), &Stats{})
	r.ctx = context.Background()
	if err := r.poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp, _ := r.checkpoint(time.Now())

	appendFile(t, log, lines(200, 220))
	content, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log+".1", content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(log+".1", old, old); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, lines(220, 230))

	r = newFlowRunner(fl, p, cp, nil, slog.New(slog.DiscardHandler), &Stats{})
	r.ctx = context.Background()
	if err := r.poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(p.data, ""), lines(0, 230); got != want {
		t.Errorf("%d records sent, want 230; sent:\n%s", len(p.data), got)
	}
}

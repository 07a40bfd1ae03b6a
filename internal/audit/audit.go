// Package audit is Millrace's audit log, the analogue of AWS CloudTrail:
// one JSON object per API call, with CloudTrail's field names, appended to
// a file that is rotated by size and fsync'd in batches by a background
// writer, so that no request waits for the disk.
//
// Management calls are always recorded; data-plane calls (PutRecord(s),
// GetRecords, GetShardIterator, SubscribeToShard) only when asked, as in
// CloudTrail. Record data is never written: Data members are dropped, and
// partition keys and shard iterators are replaced by
// "HIDDEN_DUE_TO_SECURITY_REASONS", CloudTrail's marker for values it
// withholds.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// Options configures a Log.
type Options struct {
	// Path is the file written; rotated files are Path.1 (newest) to
	// Path.<MaxFiles-1>.
	Path string
	// MaxBytes rotates the file once it reaches this size; 0 never.
	MaxBytes int64
	// MaxFiles is how many files are kept, the current one included
	// (at least 1).
	MaxFiles int
	// FlushInterval is how often buffered events are written and fsync'd
	// (default 100ms); FlushEntries triggers a write sooner (default 256).
	FlushInterval time.Duration
	FlushEntries  int
	// MaxBufferBytes bounds the events waiting for the writer (default
	// 64 MiB); beyond it events are dropped and counted, rather than
	// holding up requests.
	MaxBufferBytes int
	Logger         *slog.Logger
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	buf     [][]byte
	bufSize int
	dropped int64
	closed  bool

	kick chan struct{}
	done chan struct{}
	err  error // first write error, reported by Close

	f    *os.File
	size int64
}

// Open opens (creating or appending to) the audit log and starts its
// writer.
func Open(opts Options) (*Log, error) {
	if opts.Path == "" {
		return nil, errors.New("audit: no path")
	}
	if opts.MaxFiles < 1 {
		opts.MaxFiles = 1
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 100 * time.Millisecond
	}
	if opts.FlushEntries <= 0 {
		opts.FlushEntries = 256
	}
	if opts.MaxBufferBytes <= 0 {
		opts.MaxBufferBytes = 64 << 20
	}
	l := &Log{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := l.openFile(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *Log) openFile() error {
	f, err := os.OpenFile(l.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write queues an event. It never waits for the disk.
func (l *Log) Write(ev *Event) {
	line, err := json.Marshal(ev)
	if err != nil {
		l.log.Error("encoding audit event", "err", err)
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if l.bufSize+len(line) > l.opts.MaxBufferBytes {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.buf = append(l.buf, line)
	l.bufSize += len(line)
	full := len(l.buf) >= l.opts.FlushEntries
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

func (l *Log) run() {
	defer close(l.done)
	t := time.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.kick:
		}
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		l.flush()
		if closed {
			return
		}
	}
}

// flush writes and fsyncs what is buffered, rotating as needed.
func (l *Log) flush() {
	l.mu.Lock()
	batch := l.buf
	dropped := l.dropped
	l.buf, l.bufSize, l.dropped = nil, 0, 0
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Error("audit log buffer full: events dropped", "dropped", dropped)
	}
	if len(batch) == 0 {
		return
	}
	for _, line := range batch {
		if l.opts.MaxBytes > 0 && l.size > 0 && l.size+int64(len(line)) > l.opts.MaxBytes {
			l.fail(l.rotate())
		}
		n, err := l.f.Write(line)
		l.size += int64(n)
		l.fail(err)
	}
	l.fail(l.f.Sync())
}

func (l *Log) fail(err error) {
	if err != nil {
		l.log.Error("writing audit log", "path", l.opts.Path, "err", err)
		if l.err == nil {
			l.err = err
		}
	}
}

// rotate closes the current file and shifts Path -> Path.1 -> Path.2 ...,
// deleting the oldest beyond MaxFiles.
func (l *Log) rotate() error {
	if err := l.f.Sync(); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		return err
	}
	keep := l.opts.MaxFiles - 1
	name := func(i int) string {
		if i == 0 {
			return l.opts.Path
		}
		return l.opts.Path + "." + strconv.Itoa(i)
	}
	if keep == 0 {
		os.Remove(l.opts.Path)
	} else {
		os.Remove(name(keep))
		for i := keep - 1; i >= 0; i-- {
			if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return l.openFile()
}

// Close writes and fsyncs every queued event and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return l.err
	}
	l.closed = true
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	<-l.done
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = err
	}
	return l.err
}

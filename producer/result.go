package producer

import (
	"context"
	"errors"
)

var (
	// ErrClosed is returned by Put after Close, and is the result of records
	// Close could not drain before its context ended.
	ErrClosed = errors.New("producer: closed")
	// ErrBufferFull is returned by Put when the buffer is full and
	// Options.FailWhenFull is set.
	ErrBufferFull = errors.New("producer: buffer full")
	// ErrExpired is wrapped by the result error of a record that was not
	// written within Options.RecordTTL; the error also names the last
	// failure.
	ErrExpired = errors.New("producer: record expired before it was written")
	// ErrWrongShard is the error of an attempt whose aggregate landed on a
	// shard that does not own the record's hash key (a stale shard map);
	// the record is put again.
	ErrWrongShard = errors.New("producer: aggregate landed on a shard that does not own the record's hash key")
)

// Result is the outcome of one user record.
type Result struct {
	// ShardID and SequenceNumber say where the record was written.
	ShardID        string
	SequenceNumber string
	// SubSequenceNumber is the record's index in its aggregate (0 when it
	// was not aggregated); (SequenceNumber, SubSequenceNumber) identifies
	// it, as consumers deaggregating see it.
	SubSequenceNumber int64
	// Aggregated is true when the record was written inside an aggregate.
	Aggregated bool
	// Attempts is the number of PutRecords calls that carried the record.
	Attempts int
	// Err is nil when the record was written.
	Err error
}

// Future is the pending result of a Put.
type Future struct {
	done chan struct{}
	res  Result
}

// Done is closed when the result is known.
func (f *Future) Done() <-chan struct{} { return f.done }

// Result waits for and returns the result.
func (f *Future) Result() Result {
	<-f.done
	return f.res
}

// Wait returns the result, or ctx's error if ctx ends first (the record
// stays in the producer).
func (f *Future) Wait(ctx context.Context) (Result, error) {
	select {
	case <-f.done:
		return f.res, f.res.Err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrInvalidCheckpoint is returned for a checkpoint before the last one
// recorded or after the last record delivered.
var ErrInvalidCheckpoint = errors.New("consumer: invalid checkpoint")

// Checkpointer records a shard's progress in its lease. It is valid while
// the processor holds the lease; afterwards its methods return an error
// wrapping ErrLeaseLost. Its methods are safe for concurrent use.
type Checkpointer struct {
	w *Worker
	h *heldLease

	mu         sync.Mutex
	largest    ExtendedSequenceNumber // last record delivered
	delivered  bool
	shardEnded bool     // Checkpoint writes SHARD_END
	children   []string // recorded with SHARD_END
}

// Checkpoint records the last record delivered; in ShardEnded it records
// SHARD_END, which lets the shard's children be processed.
func (c *Checkpointer) Checkpoint(ctx context.Context) error {
	c.mu.Lock()
	end, largest, delivered, children := c.shardEnded, c.largest, c.delivered, c.children
	c.mu.Unlock()
	if end {
		return c.w.writeCheckpoint(ctx, c.h, ExtendedSequenceNumber{SequenceNumber: ShardEnd}, nil, nil, children)
	}
	if !delivered {
		return nil
	}
	return c.checkpointAt(ctx, largest, nil, nil)
}

// CheckpointRecord records r (and the records before it) as processed.
func (c *Checkpointer) CheckpointRecord(ctx context.Context, r Record) error {
	return c.CheckpointSequence(ctx, r.SequenceNumber, r.SubSequenceNumber)
}

// CheckpointSequence records the position (seq, subSeq) as processed. It
// must not lie before the last checkpoint or after the last record
// delivered.
func (c *Checkpointer) CheckpointSequence(ctx context.Context, seq string, subSeq int64) error {
	pos, err := c.validate(seq, subSeq)
	if err != nil {
		return err
	}
	return c.checkpointAt(ctx, pos, nil, nil)
}

// PrepareCheckpoint records (seq, subSeq) and state as a pending
// checkpoint, which a new owner of the lease sees in Initialize; the
// returned PreparedCheckpoint commits it.
func (c *Checkpointer) PrepareCheckpoint(ctx context.Context, seq string, subSeq int64, state []byte) (*PreparedCheckpoint, error) {
	pos, err := c.validate(seq, subSeq)
	if err != nil {
		return nil, err
	}
	if err := c.w.writePending(ctx, c.h, pos, state); err != nil {
		return nil, err
	}
	return &PreparedCheckpoint{c: c, pos: pos}, nil
}

// LastCheckpoint returns the checkpoint recorded in the lease as this
// worker last wrote or read it.
func (c *Checkpointer) LastCheckpoint() ExtendedSequenceNumber {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return c.h.lease.Checkpoint
}

func (c *Checkpointer) checkpointAt(ctx context.Context, pos ExtendedSequenceNumber, pending *ExtendedSequenceNumber, state []byte) error {
	return c.w.writeCheckpoint(ctx, c.h, pos, pending, state, nil)
}

func (c *Checkpointer) validate(seq string, subSeq int64) (ExtendedSequenceNumber, error) {
	if err := validSeq(seq); err != nil {
		return ExtendedSequenceNumber{}, fmt.Errorf("%w: %v", ErrInvalidCheckpoint, err)
	}
	if subSeq < 0 {
		return ExtendedSequenceNumber{}, fmt.Errorf("%w: negative sub-sequence number %d", ErrInvalidCheckpoint, subSeq)
	}
	pos := ExtendedSequenceNumber{SequenceNumber: seq, SubSequenceNumber: subSeq}
	c.mu.Lock()
	largest, delivered := c.largest, c.delivered
	c.mu.Unlock()
	if !delivered || compareESN(pos, largest) > 0 {
		return pos, fmt.Errorf("%w: %s is after the last record delivered", ErrInvalidCheckpoint, pos)
	}
	last := c.LastCheckpoint()
	if !last.IsSentinel() && compareESN(pos, last) < 0 {
		return pos, fmt.Errorf("%w: %s is before the last checkpoint %s", ErrInvalidCheckpoint, pos, last)
	}
	return pos, nil
}

func (c *Checkpointer) setDelivered(pos ExtendedSequenceNumber) {
	c.mu.Lock()
	c.largest, c.delivered = pos, true
	c.mu.Unlock()
}

func (c *Checkpointer) endShard(children []string) {
	c.mu.Lock()
	c.shardEnded, c.children = true, children
	c.mu.Unlock()
}

// PreparedCheckpoint is a pending checkpoint; Checkpoint commits it.
type PreparedCheckpoint struct {
	c   *Checkpointer
	pos ExtendedSequenceNumber
}

// Position returns the prepared position.
func (p *PreparedCheckpoint) Position() ExtendedSequenceNumber { return p.pos }

// Checkpoint records the prepared position as the checkpoint and clears
// the pending one.
func (p *PreparedCheckpoint) Checkpoint(ctx context.Context) error {
	return p.c.checkpointAt(ctx, p.pos, nil, nil)
}

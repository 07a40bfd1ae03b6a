package streams

import (
	"sync"
	"sync/atomic"

	"github.com/millrace/millrace/internal/storage"
)

// appendSignal wakes the readers of a shard after an append to it is
// durable. A waiter takes the shard's current channel before it reads;
// the next append closes that channel and forgets it, so that the following
// wait gets a fresh one. There is no polling interval: a waiter blocks on
// the channel (and its own deadline) only.
//
// The write path pays one atomic load per append while nobody waits on any
// shard.
type appendSignal struct {
	waiting atomic.Int64 // len(chans), read without the lock
	mu      sync.Mutex
	chans   map[storage.ShardKey]chan struct{}
}

// wait returns a channel that is closed by the next append to key that
// becomes durable after this call. Take it before reading the shard, so
// that an append landing between the read and the wait is not missed.
func (a *appendSignal) wait(key storage.ShardKey) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := a.chans[key]
	if ch == nil {
		if a.chans == nil {
			a.chans = make(map[storage.ShardKey]chan struct{})
		}
		ch = make(chan struct{})
		a.chans[key] = ch
		a.waiting.Store(int64(len(a.chans)))
	}
	return ch
}

// notify wakes every waiter of key. Call it after an append to key
// returned without error.
func (a *appendSignal) notify(key storage.ShardKey) {
	if a.waiting.Load() == 0 {
		return
	}
	a.mu.Lock()
	ch := a.chans[key]
	if ch != nil {
		delete(a.chans, key)
		a.waiting.Store(int64(len(a.chans)))
	}
	a.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

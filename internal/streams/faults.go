package streams

import (
	"math/rand/v2"
	"sync"
)

// Fault injection for resilience testing: with a configured probability a
// PutRecord, GetRecords or single PutRecords entry fails with
// ProvisionedThroughputExceededException or InternalFailure, as it can on
// AWS, so that clients can prove their retry paths. A failed entry or call
// writes and returns nothing.

// FaultOptions configure fault injection. Both probabilities 0 (the
// default) turn it off.
type FaultOptions struct {
	// ThrottleProbability and InternalProbability are the chances, each in
	// [0, 1] and together at most 1, that a call or PutRecords entry fails
	// with ProvisionedThroughputExceededException or InternalFailure.
	ThrottleProbability, InternalProbability float64
	// Seed makes the faults reproducible; 0 seeds from the system.
	Seed uint64
}

type fault int

const (
	faultNone fault = iota
	faultThrottle
	faultInternal
)

// code is the ErrorCode of a PutRecords entry failing with f.
func (f fault) code() string {
	if f == faultInternal {
		return "InternalFailure"
	}
	return "ProvisionedThroughputExceededException"
}

func (f fault) err(st *Stream, sh *Shard) *Error {
	if f == faultInternal {
		return errorf(KindInternal, "Internal service failure.")
	}
	return rateExceeded(st, sh)
}

// faults draws injected faults from one seeded generator.
type faults struct {
	on               bool
	throttle, intern float64
	mu               sync.Mutex
	rng              *rand.Rand
}

func newFaults(o FaultOptions) *faults {
	f := &faults{
		on:       o.ThrottleProbability > 0 || o.InternalProbability > 0,
		throttle: o.ThrottleProbability,
		intern:   o.InternalProbability,
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return f
}

// injectFault draws the fate of one call or entry.
func (s *Streams) injectFault() fault {
	f := s.capacity.faults
	if f == nil || !f.on {
		return faultNone
	}
	f.mu.Lock()
	r := f.rng.Float64()
	f.mu.Unlock()
	switch {
	case r < f.throttle:
		return faultThrottle
	case r < f.throttle+f.intern:
		return faultInternal
	}
	return faultNone
}

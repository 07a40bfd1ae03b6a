package analytics

import (
	"context"
	"reflect"
	"time"
)

// wait pauses a run whose last round read nothing: until an append to a
// shard it reads (the signals taken before the reads, so an append
// between a read and the wait is not missed), ctx ends, or PollInterval
// passes (windows that close on the clock alone, shards that appear).
// Waking on the append rather than on a timer takes the poll interval
// out of the delay from a window's end to its output.
func (r *appRun) wait(ctx context.Context) {
	timer := time.NewTimer(r.rt.PollInterval)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(r.signals)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	for id, sig := range r.signals {
		if r.cp.Done[id] {
			delete(r.signals, id)
			continue
		}
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sig)})
	}
	reflect.Select(cases)
}

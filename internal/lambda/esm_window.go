package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// Tumbling windows (TumblingWindowInSeconds): a shard's records are
// grouped into windows of that length by their arrival time; each
// invocation carries the window, the state the previous invocation of
// the window returned, and the shard; after the window ends a final
// invocation (isFinalInvokeForWindow, no records) gets the state, and the
// state is dropped once it succeeds. The window and its state are kept in
// the shard's checkpoint, so a restart resumes them.

// windowed reports whether the mapping aggregates in tumbling windows.
func (w *shardWorker) windowed() bool { return w.p.m.TumblingWindow > 0 }

func (w *shardWorker) windowLen() int64 { return int64(w.p.m.TumblingWindow) * 1000 }

// windowOf is the start (ms) of the window a record arrived in.
func (w *shardWorker) windowOf(it *item) int64 {
	return it.rec.Arrival / w.windowLen() * w.windowLen()
}

const rfc3339Seconds = "2006-01-02T15:04:05Z"

// windowPayload is the event of one invocation of the open window.
func (w *shardWorker) windowPayload(batch []item, final bool) []byte {
	state := w.ck.State
	if len(state) == 0 {
		state = json.RawMessage("{}")
	}
	b := eventPayload(batch)
	b = b[:len(b)-1] // the closing brace
	start := time.UnixMilli(w.ck.WindowStart).UTC()
	b = append(b, `,"window":{"start":"`...)
	b = append(b, start.Format(rfc3339Seconds)...)
	b = append(b, `","end":"`...)
	b = append(b, start.Add(time.Duration(w.windowLen())*time.Millisecond).Format(rfc3339Seconds)...)
	b = append(b, `"},"state":`...)
	b = append(b, state...)
	b = append(b, `,"shardId":`...)
	b = appendJSONString(b, w.shardID)
	b = append(b, `,"eventSourceARN":`...)
	b = appendJSONString(b, w.p.m.streamArn())
	if final {
		b = append(b, `,"isFinalInvokeForWindow":true`...)
	} else {
		b = append(b, `,"isFinalInvokeForWindow":false`...)
	}
	return append(b, `,"isWindowTerminatedEarly":false}`...)
}

// windowState reads the state a windowed invocation returned. As on
// Lambda, a response without a state object fails the invocation.
func windowState(res result) (json.RawMessage, bool) {
	if res.functionError != "" {
		return nil, false
	}
	var resp struct {
		State json.RawMessage `json:"state"`
	}
	if json.Unmarshal(res.body, &resp) != nil {
		return nil, false
	}
	st := bytes.TrimSpace(resp.State)
	if len(st) == 0 || st[0] != '{' {
		return nil, false
	}
	return append(json.RawMessage(nil), st...), true
}

// deliverWindows delivers a read's records window by window: the open
// window is closed (its final invocation) before the first record of a
// later one, and every batch is checkpointed with the window's state.
func (w *shardWorker) deliverWindows(ctx context.Context, items []item) bool {
	for len(items) > 0 {
		ws := w.windowOf(&items[0])
		if w.ck.WindowStart != 0 && ws != w.ck.WindowStart {
			if !w.closeWindow(ctx) {
				return false
			}
		}
		w.ck.WindowStart = ws
		n := 1
		for n < len(items) && w.windowOf(&items[n]) == ws {
			n++
		}
		if !w.deliverLane(ctx, items[:n], func(batch []item) bool {
			w.ck.Seq = batch[len(batch)-1].rec.SequenceNumber
			return w.save(ctx)
		}) {
			return false
		}
		items = items[n:]
	}
	return true
}

// windowGrace is how long after its end a window is closed when no later
// record closed it: a record that arrived (got its arrival time) just
// before the end may become readable a little after it. A record later
// still opens its window again, with fresh state.
const windowGrace = 500 * time.Millisecond

// windowDue reports whether the open window has ended by now (and its
// grace passed), and how long until it does.
func (w *shardWorker) windowDue() (bool, time.Duration) {
	if !w.windowed() || w.ck.WindowStart == 0 {
		return false, idlePoll
	}
	left := time.Duration(w.ck.WindowStart+w.windowLen()-w.p.s.now().UnixMilli())*time.Millisecond + windowGrace
	return left <= 0, max(left, 0)
}

// closeWindow makes the open window's final invocation and drops its
// state; false when the worker must stop.
func (w *shardWorker) closeWindow(ctx context.Context) bool {
	m, s := w.p.m, w.p.s
	retries := 0
	for ctx.Err() == nil {
		f, _, err := s.load(ctx, m.Account, m.Region, m.FunctionName)
		if err != nil || f == nil {
			s.setProcessingResult(ctx, m.UUID, "PROBLEM: Function not found: "+m.functionArn())
			sleep(ctx, errorPause)
			continue
		}
		res, err := s.call(ctx, f, w.windowPayload(nil, true))
		if err != nil || ctx.Err() != nil {
			if ctx.Err() == nil {
				sleep(ctx, errorPause)
			}
			continue
		}
		if _, ok := windowState(res); ok || (m.MaximumRetryAttempts >= 0 && retries >= int(m.MaximumRetryAttempts)) {
			if !ok {
				s.logger.Info("event source mapping gave up on a window's final invocation", "uuid", m.UUID,
					"shard", w.shardID, "window", time.UnixMilli(w.ck.WindowStart).UTC())
			}
			w.ck.WindowStart, w.ck.State = 0, nil
			return w.save(ctx)
		}
		s.setProcessingResult(ctx, m.UUID, "PROBLEM: Function call failed")
		retries++
		sleep(ctx, min(retryBaseDelay<<min(retries-1, 10), retryMaxDelay))
	}
	return false
}

package bench

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errCallTimedOut is the cause of a worker context that callTimer ended
// because the call in flight ran past the timeout.
var errCallTimedOut = errors.New("bench: the call ran past --timeout")

// callTimer bounds each call of one worker by the timeout without giving
// the call a deadline: the calls of a worker share one context, and a
// timer of the worker's cancels that context when a call runs past the
// timeout; the next call then gets a fresh one. The timer is not set
// again for every call: when it fires during a younger call, it is set
// for that call's end of time, so it fires about once per timeout.
//
// A deadline per call (context.WithTimeout) costs more than a 1-byte call
// itself: a context and a runtime timer made per call and, on the wire, a
// grpc-timeout header whose value changes on every call, so that neither
// side's HPACK table ever holds it and the server makes a timer of its
// own for it. grpc-go's benchmark client sends no deadline either. The
// server still learns of a call that ran out of time: the cancelled call
// is reset on the connection (RST_STREAM), which cancels the handler's
// context.
type callTimer struct {
	parent  context.Context
	timeout time.Duration
	timer   *time.Timer

	mu       sync.Mutex
	ctx      context.Context // the context of the worker's calls
	cancel   context.CancelCauseFunc
	armed    bool      // the timer is set
	inCall   bool      // a call is in flight
	begin    time.Time // of the call in flight
	timedOut bool      // the call in flight was cancelled by the timer
	stopped  bool
}

// newCallTimer returns the timer of one worker whose calls hang off
// parent. Stop it when the worker is done.
func newCallTimer(parent context.Context, timeout time.Duration) *callTimer {
	t := &callTimer{parent: parent, timeout: timeout}
	t.ctx, t.cancel = context.WithCancelCause(parent)
	t.timer = time.AfterFunc(time.Hour, t.fire)
	t.timer.Stop()
	return t
}

// start begins a call at begin and returns its context.
func (t *callTimer) start(begin time.Time) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inCall, t.begin, t.timedOut = true, begin, false
	if !t.armed {
		t.armed = true
		t.timer.Reset(t.timeout - time.Since(begin))
	}
	return t.ctx
}

// end ends the call begun last and tells whether it ran out of time.
func (t *callTimer) end() (timedOut bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inCall = false
	if t.timedOut {
		// The worker's context is spent: the next call gets another.
		t.ctx, t.cancel = context.WithCancelCause(t.parent)
	}
	return t.timedOut
}

// fire cancels the call in flight when it has run for the timeout, or
// sets the timer for the end of time of a younger call.
func (t *callTimer) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.armed || t.stopped {
		return
	}
	if !t.inCall || t.timedOut {
		t.armed = false // the next call sets it
		return
	}
	if left := t.timeout - time.Since(t.begin); left > 0 {
		t.timer.Reset(left)
		return
	}
	t.armed, t.timedOut = false, true
	t.cancel(errCallTimedOut)
}

// stop releases the timer and the worker's context.
func (t *callTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.timer.Stop()
	t.cancel(context.Canceled)
}

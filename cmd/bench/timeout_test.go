package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A worker's calls that each end within the timeout are never cut, however
// long they take together (the timer, set once, is moved on to the call in
// flight); a call past the timeout is cancelled after about the timeout,
// with errCallTimedOut as the cause; the next call gets a live context.
func TestCallTimer(t *testing.T) {
	const timeout = 60 * time.Millisecond
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	timer := newCallTimer(parent, timeout)
	defer timer.stop()

	for i := range 8 { // 8 x 20ms: past the timeout in all
		ctx := timer.start(time.Now())
		select {
		case <-ctx.Done():
			t.Fatalf("call %d: cancelled after %v though each call takes 20ms", i, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
		if timer.end() {
			t.Fatalf("call %d of 20ms: told it timed out", i)
		}
	}

	begin := time.Now()
	ctx := timer.start(begin)
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a call past the timeout was not cancelled within 2s")
	}
	if took := time.Since(begin); took < timeout {
		t.Errorf("cancelled after %s, before the timeout of %s", took, timeout)
	}
	if !errors.Is(context.Cause(ctx), errCallTimedOut) {
		t.Errorf("want the cause errCallTimedOut, have %v", context.Cause(ctx))
	}
	if !timer.end() {
		t.Error("a call cancelled by the timer: not told it timed out")
	}

	next := timer.start(time.Now())
	if next.Err() != nil {
		t.Fatalf("the call after a timed-out one: want a live context, have %v", next.Err())
	}
	if timer.end() {
		t.Error("a quick call after a timed-out one: told it timed out")
	}

	// The run's end cancels the calls; they did not time out.
	ctx = timer.start(time.Now())
	cancelParent()
	<-ctx.Done()
	if timer.end() {
		t.Error("a call cut by the end of the run: told it timed out")
	}
}

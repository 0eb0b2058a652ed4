package selector

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// IsConnectionError reports whether err says a node could not be reached, so
// that another node should be tried and this one ejected: a gRPC status
// Unavailable, a network operation error, or a refused, reset or unreachable
// connection. Errors the node itself returned, deadlines and cancellations are
// not connection errors.
func IsConnectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if s, ok := status.FromError(err); ok {
		return s.Code() == codes.Unavailable
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EPIPE,
	} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// ejectFor is how long a node is skipped after failures failures in a row:
// base, doubled for each failure after the first, at most max.
func ejectFor(base, max time.Duration, failures int32) time.Duration {
	d := base
	for i := int32(1); i < failures && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// backoff yields the waits between attempts to restart a watch: doubling from
// base up to max, each with up to half of it taken off at random so that many
// clients do not retry in step.
type backoff struct {
	base, max, next time.Duration
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, next: base}
}

func (b *backoff) wait() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	half := d / 2
	return d - half + rand.N(half+1)
}

func (b *backoff) reset() { b.next = b.base }

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/registry"
)

// wrapError is an error with a message of its own that still matches the
// errors it wraps: the sentinel (registry.ErrUnreachable, ErrNotFound) and
// the cause.
type wrapError struct {
	msg  string
	errs []error
}

func (e *wrapError) Error() string   { return e.msg }
func (e *wrapError) Unwrap() []error { return e.errs }

// unreachable says that the server at url cannot be reached, with the cause
// in a few words: "nats registry: cannot reach nats at nats://127.0.0.1:4222:
// connection refused".
func unreachable(url string, cause error) error {
	return &wrapError{
		msg:  fmt.Sprintf("nats registry: cannot reach nats at %s: %s", url, shortCause(cause)),
		errs: []error{registry.ErrUnreachable, cause},
	}
}

// shortCause is the system error behind cause when there is one
// ("connection refused"), else cause's own message.
func shortCause(cause error) string {
	var errno syscall.Errno
	if errors.As(cause, &errno) {
		return errno.Error()
	}
	return cause.Error()
}

// notFound says that no live node of service is registered at where.
func notFound(service, where string) error {
	return &wrapError{
		msg:  fmt.Sprintf("registry: service %q not found in %s", service, where),
		errs: []error{registry.ErrNotFound},
	}
}

// jetStreamDisabled says that the server has no JetStream to keep records in.
func jetStreamDisabled(url string, cause error) error {
	return &wrapError{
		msg: fmt.Sprintf("nats registry: jetstream is not enabled in nats at %s: "+
			"run the server with jetstream (nats-server -js) or use `micro server`", url),
		errs: []error{registry.ErrUnreachable, cause},
	}
}

// lostConnection reports whether err means the server did not answer.
func lostConnection(err error) bool {
	for _, target := range []error{
		natsgo.ErrConnectionClosed, natsgo.ErrConnectionReconnecting, natsgo.ErrDisconnected,
		natsgo.ErrNoServers, natsgo.ErrNoResponders, natsgo.ErrTimeout,
		jetstream.ErrNoStreamResponse, context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var netErr interface{ Timeout() bool }
	return errors.As(err, &netErr)
}

// authFailure reports whether err is the server refusing our credentials:
// the server was reached, so it is not ErrUnreachable.
func authFailure(err error) bool {
	return errors.Is(err, natsgo.ErrAuthorization) || errors.Is(err, natsgo.ErrAuthExpired) ||
		errors.Is(err, natsgo.ErrAuthRevoked) || strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

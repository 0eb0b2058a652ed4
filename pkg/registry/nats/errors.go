package nats

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/natsconn"
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
		msg:  "nats registry: " + natsconn.Unreachable(url, cause).Error(),
		errs: []error{registry.ErrUnreachable, cause},
	}
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
	return natsconn.LostConnection(err) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

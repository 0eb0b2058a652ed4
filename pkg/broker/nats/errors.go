package nats

import (
	"context"
	"errors"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/natsconn"
)

// wrapError has a message of its own and matches every error it wraps: the
// sentinel and the cause.
type wrapError struct {
	msg  string
	errs []error
}

func (e *wrapError) Error() string   { return e.msg }
func (e *wrapError) Unwrap() []error { return e.errs }

func wrap(sentinel, cause error, format string, args ...any) error {
	errs := []error{sentinel}
	if cause != nil {
		errs = append(errs, cause)
	}
	return &wrapError{msg: fmt.Sprintf(format, args...), errs: errs}
}

// connectError turns natsconn's error into the broker's.
func connectError(err error) error {
	if errors.Is(err, natsconn.ErrUnreachable) {
		return wrap(broker.ErrUnreachable, err, "nats broker: %s", err)
	}
	return fmt.Errorf("nats broker: %w", err)
}

// opError describes a failed operation ("publish to \"orders\"").
func (b *Broker) opError(op string, err error) error {
	switch {
	case errors.Is(err, natsgo.ErrConnectionClosed) && b.isClosed():
		return fmt.Errorf("nats broker: %s: %w", op, broker.ErrClosed)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return wrap(broker.ErrNotSupported, err,
			"nats broker: %s: jetstream is not enabled in nats at %s: run the server with jetstream (nats-server -js) or use `micro server`", op, b.url)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("nats broker: %s: %w", op, err)
	case b.nc.Status() != natsgo.CONNECTED || natsconn.LostConnection(err):
		cause := natsconn.ShortCause(err)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsgo.ErrTimeout) {
			cause = "no reply before the deadline: " + cause
		}
		if status := b.nc.Status(); status != natsgo.CONNECTED {
			cause = "connection " + status.String() + ": " + cause
		}
		return wrap(broker.ErrUnreachable, err, "nats broker: %s: cannot reach nats at %s: %s", op, b.url, cause)
	default:
		return fmt.Errorf("nats broker: %s in nats at %s: %w", op, b.url, err)
	}
}

// noStream says that no stream stores topic.
func (b *Broker) noStream(op, topic string, cause error) error {
	return wrap(broker.ErrNoStream, cause,
		"nats broker: %s: no jetstream stream stores topic %q in nats at %s: create one (broker.CreateStream, `micro publish --jetstream` creates it, or `nats stream add`)",
		op, topic, b.url)
}

// jetStreamMissing reports whether err, from a JetStream request that nobody
// answered, is because the server has no JetStream, and returns the error
// that says so.
func (b *Broker) jetStreamMissing(ctx context.Context, err error) error {
	if !errors.Is(err, natsgo.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		return err
	}
	if _, infoErr := b.js.AccountInfo(ctx); infoErr != nil &&
		(errors.Is(infoErr, jetstream.ErrJetStreamNotEnabled) || errors.Is(infoErr, jetstream.ErrJetStreamNotEnabledForAccount)) {
		return infoErr
	}
	return err
}

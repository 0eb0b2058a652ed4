package rabbitmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/microtools/micro/pkg/broker"
)

// wrapError has a message of its own and matches every error it wraps: the
// sentinel and the cause.
type wrapError struct {
	msg  string
	errs []error
}

func (e *wrapError) Error() string   { return e.msg }
func (e *wrapError) Unwrap() []error { return e.errs }

// Backend says which broker the error is from, for callers that give
// advice: "rabbitmq".
func (e *wrapError) Backend() string { return "rabbitmq" }

func wrap(sentinel, cause error, format string, args ...any) error {
	errs := []error{sentinel}
	if cause != nil {
		errs = append(errs, cause)
	}
	return &wrapError{msg: fmt.Sprintf(format, args...), errs: errs}
}

// dialError describes why connecting to srv failed: unreachable (wraps
// broker.ErrUnreachable), refused credentials or virtual host (wraps
// broker.ErrAuth), or something else the server said.
func dialError(srv server, user string, err error) error {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) {
		reason := amqpErr.Reason
		switch {
		case amqpErr.Code == amqp.AccessRefused && strings.Contains(strings.ToLower(reason), "vhost"),
			amqpErr.Code == amqp.NotAllowed && strings.Contains(strings.ToLower(reason), "vhost"):
			return wrap(broker.ErrAuth, err,
				"rabbitmq broker: rabbitmq at %s refused virtual host %q for user %q: %s; create it (rabbitmqctl add_vhost) and give the user permissions, or name another in the url's path",
				srv.redacted, vhostName(srv.uri.Vhost), user, reason)
		case amqpErr.Code == amqp.AccessRefused:
			return wrap(broker.ErrAuth, err,
				"rabbitmq broker: rabbitmq at %s refused the credentials of user %q: %s; check the user and password of the broker address (amqp://USER:PASSWORD@HOST:PORT/VHOST, or --user and --password)",
				srv.redacted, user, shortReason(reason))
		}
		return fmt.Errorf("rabbitmq broker: rabbitmq at %s refused the connection: %s: %w", srv.redacted, reason, err)
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return fmt.Errorf("rabbitmq broker: tls with rabbitmq at %s: %w; give the CA that signed its certificate (--tls-ca, MICRO_BROKER_TLS_CA)", srv.redacted, err)
	case errors.As(err, &recordErr):
		return fmt.Errorf("rabbitmq broker: tls with rabbitmq at %s: the server does not speak TLS there (%w); use amqp:// or its TLS port (5671)", srv.redacted, err)
	}
	return wrap(broker.ErrUnreachable, err, "rabbitmq broker: cannot reach rabbitmq at %s: %s", srv.redacted, shortCause(err))
}

func vhostName(v string) string {
	if v == "" {
		return "/"
	}
	return v
}

// shortReason keeps the first sentence of RabbitMQ's reason for refusing a
// login, which goes on about the mechanism and the log.
func shortReason(reason string) string {
	if i := strings.Index(reason, " using authentication mechanism"); i > 0 {
		return reason[:i]
	}
	return reason
}

// shortCause says why a TCP connection failed, without the Go plumbing:
// "connection refused", "i/o timeout", "no such host".
func shortCause(err error) string {
	var dnsErr *net.DNSError
	var sysErr *os.SyscallError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time (i/o timeout)"
	case errors.As(err, &dnsErr):
		return "no such host " + dnsErr.Name
	case errors.As(err, &sysErr):
		return sysErr.Err.Error()
	}
	return err.Error()
}

// isClosedErr reports whether err says the channel or connection is gone.
func isClosedErr(err error) bool {
	if errors.Is(err, amqp.ErrClosed) {
		return true
	}
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && amqpErr.Code == amqp.ChannelError && !amqpErr.Server
}

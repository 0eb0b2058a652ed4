package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/registry"
)

// ErrAuth is wrapped by errors that come from etcd's authentication: a wrong
// user or password, or credentials missing for a cluster that has auth on.
// Check --registry-user and --registry-password (MICRO_REGISTRY_USER,
// MICRO_REGISTRY_PASSWORD).
var ErrAuth = errors.New("etcd authentication failed")

// ErrPermission is wrapped when the user may not read or write micro's keys.
// Grant the user's role read on the layouts' prefixes and readwrite on the
// micro prefix.
var ErrPermission = errors.New("etcd permission denied")

// multiError is an error that wraps several, shown as msg.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }

// unreachable says that no member could be talked to.
func unreachable(op, where string, cause error) error {
	return &multiError{
		msg:  fmt.Sprintf("etcd registry: %s: cannot reach etcd at %s: %s", op, where, shortCause(cause)),
		errs: []error{registry.ErrUnreachable, cause},
	}
}

// wrapError turns an error from the etcd client into one that says what
// failed and where.
func (r *Registry) wrapError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	where := r.where()
	switch {
	case isAuthError(err):
		return &multiError{
			msg:  fmt.Sprintf("etcd registry: %s in etcd at %s: %s: %s", op, where, ErrAuth, authHint(err, r.username)),
			errs: []error{ErrAuth, err},
		}
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return &multiError{
			msg:  fmt.Sprintf("etcd registry: %s in etcd at %s: %s for user %q", op, where, ErrPermission, r.username),
			errs: []error{ErrPermission, err},
		}
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return fmt.Errorf("etcd registry: %s in etcd at %s: %w", op, where, err)
	case r.isUnreachable(err):
		return unreachable(op, where, err)
	}
	return fmt.Errorf("etcd registry: %s in etcd at %s: %w", op, where, err)
}

// isUnreachable reports whether err means no member answered: the
// connection is not up, or the request timed out while it was down.
func (r *Registry) isUnreachable(err error) bool {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return true
	}
	if errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		state := r.client.ActiveConnection().GetState()
		return state != connectivity.Ready
	}
	return false
}

func isAuthError(err error) bool {
	for _, e := range []error{rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty, rpctypes.ErrInvalidAuthToken, rpctypes.ErrUserNotFound, rpctypes.ErrInvalidAuthMgmt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func authHint(err error, user string) string {
	switch {
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return "the cluster has auth enabled and no user was given (set --registry-user and --registry-password)"
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrUserNotFound):
		return fmt.Sprintf("user %q and the password given do not match", user)
	}
	return strings.TrimPrefix(rpctypes.ErrorDesc(err), "etcdserver: ")
}

// shortCause is the part of a network error a person needs: "connection
// refused" rather than the whole dial line.
func shortCause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

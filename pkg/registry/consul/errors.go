package consul

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/pkg/registry"
)

// unreachableError is a failure to talk to the agent at all: refused or
// reset connections, unknown hosts, timeouts while dialing. It wraps both
// registry.ErrUnreachable and the cause.
type unreachableError struct {
	op      string // what was being done: `get service "greeter"`
	address string
	cause   error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("consul registry: %s: cannot reach consul at %s: %s", e.op, e.address, shortCause(e.cause))
}

func (e *unreachableError) Unwrap() []error { return []error{registry.ErrUnreachable, e.cause} }

// aclError is Consul's ACL system refusing a request (HTTP 403) or hiding
// what was asked for. It wraps registry.ErrPermissionDenied.
type aclError struct {
	op      string // what was being done: "list services"
	address string
	// reason is what Consul did, in words: its own answer for a 403.
	reason string
	cause  error // the api.StatusError of a 403, or nil
}

func (e *aclError) Error() string {
	return fmt.Sprintf("consul registry: %s: consul at %s %s", e.op, e.address, e.reason)
}

func (e *aclError) Unwrap() []error {
	if e.cause == nil {
		return []error{registry.ErrPermissionDenied}
	}
	return []error{registry.ErrPermissionDenied, e.cause}
}

// aclRefusal turns a 403 from the agent into an aclError, or returns nil for
// any other error.
func (r *Registry) aclRefusal(op string, err error) error {
	var status api.StatusError
	if !errors.As(err, &status) || status.Code != http.StatusForbidden {
		return nil
	}
	body := strings.TrimSpace(status.Body)
	var reason string
	switch {
	case strings.Contains(body, "ACL not found"):
		reason = "does not know the ACL token given (ACL not found)"
	case r.hasToken:
		reason = "refused the token given: " + body
	default:
		reason = "refused a request without an ACL token: " + body
	}
	return &aclError{op: op, address: r.address, reason: reason, cause: err}
}

// wrapError turns an error from the Consul client into one that says what
// failed and where. Context errors are kept as they are (wrapped), so that
// errors.Is(err, context.Canceled) holds.
func (r *Registry) wrapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUnreachable(err) {
		return &unreachableError{op: op, address: r.address, cause: err}
	}
	if acl := r.aclRefusal(op, err); acl != nil {
		return acl
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("consul registry: %s in consul at %s: %w", op, r.address, contextCause(err))
	}
	return fmt.Errorf("consul registry: %s in consul at %s: %w", op, r.address, err)
}

// isUnreachable reports whether err means the agent could not be talked to,
// as opposed to an answer from it (an HTTP error status) or the caller's
// context ending.
func isUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var status api.StatusError
	if errors.As(err, &status) {
		return false
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return true
	case errors.As(err, &opErr):
		// Includes dial timeouts ("i/o timeout"), also when the caller's
		// deadline cut the dial short: the agent did not answer in time.
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// isRetryable reports whether a watch should try again after err: the agent
// could not be reached, or it answered that it cannot serve right now (a
// server error such as "No cluster leader" after a restart, or rate
// limiting).
func isRetryable(err error) bool {
	if isUnreachable(err) {
		return true
	}
	var status api.StatusError
	if errors.As(err, &status) {
		return status.Code >= http.StatusInternalServerError || status.Code == http.StatusTooManyRequests
	}
	return false
}

// isNotFound reports whether the agent answered 404.
func isNotFound(err error) bool {
	var status api.StatusError
	return errors.As(err, &status) && status.Code == http.StatusNotFound
}

// shortCause is the part of a network error that a person needs:
// "connection refused" rather than the whole request line.
func shortCause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// contextCause strips the request line from a context error that the HTTP
// client wrapped in a *url.Error.
func contextCause(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

package callutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/transport"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
)

// ExitError is an error with the exit code it stands for, such as a failed
// RPC: 64 plus its gRPC status code.
type ExitError struct {
	Err  error
	Code int
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode implements cmdutil.ExitCoder.
func (e *ExitError) ExitCode() int { return e.Code }

// rpcExit is the exit code of a call that failed with code.
func rpcExit(code codes.Code) int { return cmdutil.ExitRPCBase + int(code) }

// InputError is a request that cannot be read: malformed JSON, an unknown
// field, a value of the wrong type. It is a usage error.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the error.
func (e *InputError) Unwrap() error { return e.Err }

// CheckedSupplier marks the errors of supplier as InputErrors.
func CheckedSupplier(supplier call.RequestSupplier) call.RequestSupplier {
	return func(input protoreflect.MessageType) (proto.Message, error) {
		msg, err := supplier(input)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &InputError{Err: err}
		}
		return msg, err
	}
}

// Failure says what a call that failed is, for Error: the service and
// endpoint, the time limit, and how to decode status details.
type Failure struct {
	// What names what failed; "call SERVICE ENDPOINT" when empty.
	What              string
	Service, Endpoint string
	// Address is the --address given, if any.
	Address string
	// Timeout is the time limit of the whole call, zero when none.
	Timeout time.Duration
	// Resolver decodes status details of the service's own types.
	Resolver call.Resolver
}

// Error turns the error of a call into what the command line reports: the
// message says what failed, where, and what to try; the exit code is 2 for
// bad input, 64 + the gRPC status code for a failed RPC (Unavailable for a
// node that cannot be reached, DeadlineExceeded for a call out of time) and
// 1 for the rest (an unknown service or method).
func (f Failure) Error(err error) error {
	if err == nil {
		return nil
	}
	what := f.What
	if what == "" {
		what = fmt.Sprintf("call %s %s", f.Service, f.Endpoint)
	}
	if report, ok := f.transportFailure(what, err); ok {
		return report
	}
	var input *InputError
	if errors.As(err, &input) {
		usage := &cmdutil.UsageError{Err: fmt.Errorf("%s: %w", what, input.Err)}
		if errors.Is(err, call.ErrUnknownField) {
			return cmdutil.WithHint(usage, "if the service was rebuilt, --refresh fetches its descriptors again; see its fields with `micro describe "+f.Service+"`")
		}
		return usage
	}
	if errors.Is(err, call.ErrTooManyRequests) {
		return &cmdutil.UsageError{Err: fmt.Errorf("%s: %w; call methods that stream requests with several", what, err)}
	}
	var rpcErr *call.RPCError
	if errors.As(err, &rpcErr) {
		report, _ := call.DescribeStatus(rpcErr, f.Resolver)
		if report.Code == codes.DeadlineExceeded && f.Timeout > 0 {
			// The client's own deadline, however gRPC words it, or the
			// server's.
			if report.Message == context.DeadlineExceeded.Error() || strings.HasPrefix(report.Message, "stream terminated by RST_STREAM") {
				report.Message = fmt.Sprintf("no answer within %s (--timeout)", f.Timeout)
			} else {
				report.Message += fmt.Sprintf(" (the call had %s: --timeout)", f.Timeout)
			}
		}
		msg := fmt.Sprintf("%s: %s: code %s (%d): %s", what, rpcTarget(rpcErr), report.Code, uint32(report.Code), report.Message)
		for _, d := range report.Details {
			if d.Value != nil {
				msg += fmt.Sprintf("; detail %s %s", d.TypeURL, d.Value)
			} else {
				msg += fmt.Sprintf("; detail %s (%s)", d.TypeURL, d.Error)
			}
		}
		var attempts *client.AttemptsError
		if errors.As(err, &attempts) && len(attempts.Errors) > 1 {
			msg += fmt.Sprintf(" (after %s: %s)", plural(len(attempts.Errors)-1, "failed attempt"), earlier(attempts))
		}
		return &ExitError{Err: errors.New(msg), Code: rpcExit(report.Code)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &ExitError{
			Err:  fmt.Errorf("%s: out of time after %s (--timeout): %s", what, f.Timeout, strings.ReplaceAll(err.Error(), context.DeadlineExceeded.Error(), "out of time")),
			Code: rpcExit(codes.DeadlineExceeded),
		}
	}
	var connErr *transport.ConnectError
	if errors.As(err, &connErr) {
		return &ExitError{Err: cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), f.connectHint(err)), Code: rpcExit(codes.Unavailable)}
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), "see what is registered with `micro list services`")
	case errors.Is(err, call.ErrServiceNotFound), errors.Is(err, call.ErrMethodNotFound):
		return cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), "see its methods with `micro describe "+f.Service+"`")
	case status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied:
		// Reflection refused: the call's own RPC errors were handled above.
		return cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), "the server wants credentials for reflection: give them with -H or --reflect-header (key:value)")
	case errors.Is(err, call.ErrReflectionUnsupported):
		return cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), "give its .proto files with --proto (and --import-path) or a --protoset")
	}
	return fmt.Errorf("%s: %w", what, err)
}

func rpcTarget(e *call.RPCError) string {
	if e.Target != "" {
		return e.Method + " at " + e.Target
	}
	return e.Method
}

// earlier lists the errors of the attempts before the last.
func earlier(e *client.AttemptsError) string {
	parts := make([]string, 0, len(e.Errors)-1)
	for _, err := range e.Errors[:len(e.Errors)-1] {
		parts = append(parts, err.Error())
	}
	return strings.Join(parts, "; ")
}

// connectHint says what to try when a node cannot be connected to.
func (f Failure) connectHint(err error) string {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname):
		return "check --cacert (the CA that signed the server's certificate) and --authority (a name the certificate is valid for); --insecure skips the check, for tests only"
	case strings.Contains(msg, "does not look like a TLS handshake"):
		return "the server speaks plaintext: leave out --tls, --cacert, --cert and --insecure"
	case strings.Contains(msg, "does it want TLS?"):
		return "connect with --tls, and --cacert for a private CA"
	case strings.Contains(msg, "may require a client certificate"):
		return "give a client certificate with --cert and --key"
	case f.Address != "":
		return "check that the service listens at " + f.Address + " (--address)"
	}
	return "the node is registered but does not answer: it may have stopped without deregistering (it expires after its TTL); see `micro health " + f.Service + "`"
}

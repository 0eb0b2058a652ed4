package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes, as documented in docs/exit-codes.md.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
	// ExitRPCBase plus a gRPC status code is the exit code of a failed RPC.
	ExitRPCBase = 64
)

// UsageError is a mistake in how a command was invoked: a missing argument,
// an unknown flag, a malformed flag value. It exits with ExitUsage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCoder is an error that chooses its own exit code, such as a failed RPC.
type ExitCoder interface {
	error
	ExitCode() int
}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var usage *UsageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	var coder ExitCoder
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return ExitError
}

// SilentError has been reported already; it only sets the exit code.
type SilentError struct{ Code int }

func (e *SilentError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode implements ExitCoder.
func (e *SilentError) ExitCode() int { return e.Code }

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/microtools/micro/pkg/transport"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
)

// HTTPStatus is the HTTP status of a gRPC code, by the standard mapping
// (google.rpc.Code, which Connect uses too).
func HTTPStatus(code codes.Code) int {
	switch code {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // client closed request
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	default: // Unknown, Internal, DataLoss
		return http.StatusInternalServerError
	}
}

// codeOfHTTP is the gRPC code of an HTTP status the gateway answers with
// before any call (for the metrics and the log).
func codeOfHTTP(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusOK:
		return codes.OK
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return codes.Unimplemented
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	default:
		return codes.Unknown
	}
}

// connectCodeNames are the codes as the Connect protocol spells them.
var connectCodeNames = [...]string{
	codes.OK:                 "ok",
	codes.Canceled:           "canceled",
	codes.Unknown:            "unknown",
	codes.InvalidArgument:    "invalid_argument",
	codes.DeadlineExceeded:   "deadline_exceeded",
	codes.NotFound:           "not_found",
	codes.AlreadyExists:      "already_exists",
	codes.PermissionDenied:   "permission_denied",
	codes.ResourceExhausted:  "resource_exhausted",
	codes.FailedPrecondition: "failed_precondition",
	codes.Aborted:            "aborted",
	codes.OutOfRange:         "out_of_range",
	codes.Unimplemented:      "unimplemented",
	codes.Internal:           "internal",
	codes.Unavailable:        "unavailable",
	codes.DataLoss:           "data_loss",
	codes.Unauthenticated:    "unauthenticated",
}

// ConnectCode is code as Connect names it ("not_found").
func ConnectCode(code codes.Code) string {
	if int(code) < len(connectCodeNames) {
		return connectCodeNames[code]
	}
	return "unknown"
}

// statusOf is the gRPC status that err carries, or one made for it: the
// gateway's own errors carry theirs; a service that cannot be reached is
// Unavailable, a deadline DeadlineExceeded, anything else Unknown.
func statusOf(err error) *status.Status {
	var gwErr *Error
	if errors.As(err, &gwErr) {
		return status.New(gwErr.Code, gwErr.Message)
	}
	var rpcErr *call.RPCError
	if errors.As(err, &rpcErr) {
		return rpcErr.Status
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	// A wrapped status (status.FromError only looks at the top level).
	var withStatus interface{ GRPCStatus() *status.Status }
	if errors.As(err, &withStatus) {
		return withStatus.GRPCStatus()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, err.Error())
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, call.ErrServiceNotFound), errors.Is(err, call.ErrMethodNotFound):
		return status.New(codes.NotFound, err.Error())
	case errors.Is(err, call.ErrAmbiguousService):
		return status.New(codes.InvalidArgument, err.Error())
	case errors.Is(err, registry.ErrUnreachable), errors.Is(err, selector.ErrExhausted), selector.IsConnectionError(err),
		errors.As(err, new(*transport.ConnectError)):
		return status.New(codes.Unavailable, err.Error())
	}
	return status.New(codes.Unknown, err.Error())
}

// Error is an error the gateway answers itself, before or instead of a
// call: a route that names no service, a body too large.
type Error struct {
	Code    codes.Code
	Message string
	// HTTPStatus, when set, replaces the status Code maps to (413 for a
	// body too large).
	HTTPStatus int
}

func (e *Error) Error() string { return e.Message }

func errorf(code codes.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: sprintf(format, args...)}
}

// errorBody is the JSON error of the plain routes: {code, message, details}.
type errorBody struct {
	Code    int               `json:"code"`
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// detailsJSON are the details of st decoded as JSON objects with their
// "@type", through resolver; a detail whose type is unknown is given with
// its type and base64 value.
func detailsJSON(st *status.Status, resolver call.Resolver) []json.RawMessage {
	if len(st.Proto().GetDetails()) == 0 {
		return nil
	}
	report, _ := call.DescribeStatus(st.Err(), resolver)
	out := make([]json.RawMessage, 0, len(report.Details))
	for i, d := range report.Details {
		typ, _ := json.Marshal(d.TypeURL)
		if len(d.Value) > 1 && d.Value[0] == '{' {
			// {"@type": ..., the fields in their order}
			obj := append([]byte(`{"@type":`), typ...)
			if rest := bytes.TrimSpace(d.Value[1:]); len(rest) > 0 && rest[0] != '}' {
				obj = append(obj, ',')
			}
			out = append(out, append(obj, d.Value[1:]...))
			continue
		}
		raw := st.Proto().GetDetails()[i]
		data, _ := json.Marshal(map[string]any{"@type": d.TypeURL, "value": raw.GetValue(), "error": d.Error})
		out = append(out, data)
	}
	return out
}

// writePlainError answers err on a plain route.
func writePlainError(w http.ResponseWriter, httpStatus int, st *status.Status, resolver call.Resolver) {
	body := errorBody{
		Code:    int(st.Code()),
		Status:  strings.ToUpper(ConnectCode(st.Code())),
		Message: st.Message(),
		Details: detailsJSON(st, resolver),
	}
	writeJSON(w, httpStatus, body)
}

// httpStatusOf is the HTTP status to answer err with.
func httpStatusOf(err error, st *status.Status) int {
	var gwErr *Error
	if errors.As(err, &gwErr) && gwErr.HTTPStatus != 0 {
		return gwErr.HTTPStatus
	}
	return HTTPStatus(st.Code())
}

// writeJSON writes v as the JSON body of a response with httpStatus.
func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		httpStatus = http.StatusInternalServerError
		data = []byte(`{"code":13,"status":"INTERNAL","message":"cannot write the response as JSON"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(data, '\n'))
}

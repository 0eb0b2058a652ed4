package call

import "errors"

// Sentinel errors. Errors returned by this package wrap them, so callers test
// with errors.Is; the wrapping error's message names what was looked for and
// where.
var (
	// ErrServiceNotFound is returned by FindMethod when no service of the
	// descriptor source matches the name given. The message lists the
	// services that exist; check the spelling, or give the full name
	// (package.Service).
	ErrServiceNotFound = errors.New("service not found")

	// ErrAmbiguousService is returned by FindMethod when a short service
	// name (without its package) matches services of several packages. The
	// message lists them; give the full name instead.
	ErrAmbiguousService = errors.New("service name is ambiguous")

	// ErrMethodNotFound is returned by FindMethod when the service exists but
	// has no method of the name given. The message lists the service's
	// methods.
	ErrMethodNotFound = errors.New("method not found")

	// ErrSymbolNotFound is returned by a DescriptorSource's FindSymbol when
	// the source does not know the name. Sources that are caches refresh
	// themselves first.
	ErrSymbolNotFound = errors.New("symbol not found")

	// ErrReflectionUnsupported is returned by the reflection source when the
	// server does not serve the gRPC reflection API (neither v1 nor
	// v1alpha). Describe the service with .proto files or a protoset
	// instead.
	ErrReflectionUnsupported = errors.New("server reflection not supported")

	// ErrTooManyRequests is returned by Invoke when the request supplier
	// gives more than one request to a method that takes one (unary or
	// server streaming).
	ErrTooManyRequests = errors.New("too many requests")

	// ErrUnknownField is wrapped by the JSONError of a request that names a
	// field its message type does not have: a typo, or descriptors older
	// than the server (Client.Call fetches them again once before it
	// reports it, for services that publish no descriptors fingerprint).
	ErrUnknownField = errors.New("unknown field")

	// ErrClosed is returned by a source that was used after Close.
	ErrClosed = errors.New("descriptor source closed")
)

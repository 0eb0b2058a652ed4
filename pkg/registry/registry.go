package registry

import (
	"context"
	"errors"
	"time"
)

// Registry stores and finds service records. Every method takes a context
// first; a backend that cannot be reached returns an error wrapping
// ErrUnreachable.
type Registry interface {
	// Register adds or refreshes the nodes of svc. Calling it again for the
	// same nodes is the heartbeat: it extends their TTL and, when the backend
	// has lost the record (a restarted Consul agent), registers them in full.
	Register(ctx context.Context, svc *Service, opts ...RegisterOption) error
	// Deregister removes the nodes of svc (matched by node ID).
	Deregister(ctx context.Context, svc *Service) error
	// GetService returns the records of one service, one per version. It
	// returns ErrNotFound when no node of the service is registered.
	GetService(ctx context.Context, name string, opts ...GetOption) ([]*Service, error)
	// ListServices returns every service with its nodes, healthy or not; each
	// node has its Health set. An empty registry is an empty list, not an error.
	// When the backend hid some services from the caller's credentials it
	// returns those it could read and an error wrapping ErrPermissionDenied.
	ListServices(ctx context.Context) ([]*Service, error)
	// Watch reports changes until ctx is done or the watcher is stopped.
	Watch(ctx context.Context, opts ...WatchOption) (Watcher, error)
	// String names the backend and where it is, for error messages:
	// "consul at 127.0.0.1:8500".
	String() string
}

// Watcher yields registry events one at a time.
type Watcher interface {
	// Next blocks until the next event. It returns ErrWatcherStopped after
	// Stop, the context's error when the watch context ends, or the backend's
	// error when the watch cannot go on.
	Next() (*Event, error)
	// Stop ends the watch and releases what it holds. It is safe to call more
	// than once.
	Stop()
}

// Service is one version of a service and its nodes.
type Service struct {
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Endpoints []*Endpoint       `json:"endpoints,omitempty"`
	Nodes     []*Node           `json:"nodes"`
}

// MetadataDescriptorsFingerprint is the node metadata key of a hash of the
// node's file descriptors (services built on pkg/service set it): callers
// that cache descriptors key them by it, so a changed API is never
// described by an old entry.
const MetadataDescriptorsFingerprint = "descriptors-fingerprint"

// Node is one running instance of a service.
type Node struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Tags are plain labels of the node that the backend keeps apart from
	// its metadata, such as Consul's service tags ("primary", "canary"):
	// the tags others gave it, without the ones that encode the record.
	Tags []string `json:"tags,omitempty"`
	// Health is the backend's view of the node when it has one: HealthPassing,
	// HealthWarning or HealthCritical. Empty when the backend does not know.
	Health string `json:"health,omitempty"`
}

// Endpoint is a method a service serves, named "Service.Method" as go-micro
// names them.
type Endpoint struct {
	Name     string            `json:"name"`
	Request  *Value            `json:"request,omitempty"`
	Response *Value            `json:"response,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Value describes a request or response type, as go-micro records it.
type Value struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Values []*Value `json:"values,omitempty"`
}

// Node health states.
const (
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
)

// EventType says what happened to a node.
type EventType string

// Event types.
const (
	EventCreate EventType = "create"
	EventUpdate EventType = "update"
	EventDelete EventType = "delete"
)

// Event is one change to one node. Service holds the service record with just
// that node in Nodes.
type Event struct {
	Type      EventType `json:"type"`
	Service   *Service  `json:"service"`
	Timestamp time.Time `json:"timestamp"`
}

var (
	// ErrNotFound is returned by GetService when no node of the service is
	// registered (or, by default, none is healthy). Check the name with
	// ListServices.
	ErrNotFound = errors.New("service not found")
	// ErrUnreachable wraps the cause when the backend cannot be reached. Check
	// the registry address, or start the embedded default with `micro server`.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrPermissionDenied is wrapped when the backend refused a request for
	// lack of rights, or hid from the caller's credentials everything it
	// asked for (a Consul ACL token that may not read the services). Give
	// credentials with the rights needed. ListServices may return the
	// services it could read together with an error wrapping it when the
	// backend hid only some of them.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrWatcherStopped is returned by Watcher.Next after Stop.
	ErrWatcherStopped = errors.New("watcher stopped")
	// ErrInvalid is returned for a record that cannot be registered: no name,
	// no nodes, a node without ID or address.
	ErrInvalid = errors.New("invalid service record")
)

// DefaultTTL is how long a registration lives without a heartbeat when
// WithTTL is not given.
const DefaultTTL = 30 * time.Second

// RegisterOptions are the settings of one Register call.
type RegisterOptions struct {
	// TTL is how long the nodes live without another Register.
	TTL time.Duration
	// NoExpiry keeps the nodes until they are deregistered, for services
	// registered by hand that run no heartbeat. TTL is ignored.
	NoExpiry bool
}

// RegisterOption changes RegisterOptions.
type RegisterOption func(*RegisterOptions)

// WithTTL sets how long the registered nodes live without a heartbeat.
func WithTTL(ttl time.Duration) RegisterOption {
	return func(o *RegisterOptions) { o.TTL = ttl }
}

// NoExpiry registers nodes that stay until they are deregistered.
func NoExpiry() RegisterOption {
	return func(o *RegisterOptions) { o.NoExpiry = true }
}

// NewRegisterOptions applies opts over the defaults.
func NewRegisterOptions(opts ...RegisterOption) RegisterOptions {
	o := RegisterOptions{TTL: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	return o
}

// GetOptions are the settings of one GetService call.
type GetOptions struct {
	// IncludeUnhealthy returns failing nodes too, each with its Health.
	IncludeUnhealthy bool
}

// GetOption changes GetOptions.
type GetOption func(*GetOptions)

// IncludeUnhealthy makes GetService return failing nodes too.
func IncludeUnhealthy() GetOption {
	return func(o *GetOptions) { o.IncludeUnhealthy = true }
}

// NewGetOptions applies opts over the defaults.
func NewGetOptions(opts ...GetOption) GetOptions {
	var o GetOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WatchOptions are the settings of one Watch call.
type WatchOptions struct {
	// Service limits the watch to one service; empty watches every service.
	Service string
}

// WatchOption changes WatchOptions.
type WatchOption func(*WatchOptions)

// WatchService limits a watch to one service.
func WatchService(name string) WatchOption {
	return func(o *WatchOptions) { o.Service = name }
}

// NewWatchOptions applies opts over the defaults.
func NewWatchOptions(opts ...WatchOption) WatchOptions {
	var o WatchOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

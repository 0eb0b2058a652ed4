package service

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/registry"
)

// Defaults used when an option is not given.
const (
	// DefaultAddress listens on every interface on a port the system picks.
	DefaultAddress = ":0"
	// DefaultVersion is the version registered when none is given, as
	// go-micro does.
	DefaultVersion = "latest"
	// DefaultRegisterTTL is how long the registration lives without a
	// heartbeat.
	DefaultRegisterTTL = 30 * time.Second
	// DefaultRegisterInterval is how often the heartbeat registers again.
	DefaultRegisterInterval = 10 * time.Second
	// DefaultDrainTimeout bounds how long a stop waits for in-flight calls
	// before it closes their connections.
	DefaultDrainTimeout = 10 * time.Second
)

// Options configure a Service. Build them with Option functions passed to
// New; later options override earlier ones.
type Options struct {
	// Name is the service name in the registry. Required.
	Name string
	// Version is the registered version; DefaultVersion when empty.
	Version string
	// Address is where to listen, host:port; DefaultAddress when empty.
	Address string
	// Advertise, when set, is the address registered for others to reach
	// the service: host:port, or a host alone to use the listening port.
	// When empty it is computed from the listener and the machine's
	// interfaces.
	Advertise string
	// Metadata is added to the node's metadata in the registry.
	Metadata map[string]string
	// Registry is where the service registers. Required.
	Registry registry.Registry
	// RegisterTTL is how long the registration lives without a heartbeat.
	RegisterTTL time.Duration
	// RegisterInterval is how often the heartbeat registers again; it must
	// be shorter than RegisterTTL.
	RegisterInterval time.Duration
	// DrainTimeout bounds how long Stop waits for in-flight calls.
	DrainTimeout time.Duration
	// GRPCOptions are passed to grpc.NewServer.
	GRPCOptions []grpc.ServerOption
	// Handlers register gRPC implementations on the server, in order.
	Handlers []func(grpc.ServiceRegistrar)
	// NoReflection leaves the gRPC reflection service out (see Reflection).
	NoReflection bool
	// Broker is where the Subscribers subscribe. The service does not
	// close it.
	Broker broker.Broker
	// Subscribers are the topics the service subscribes to while it runs.
	Subscribers []Subscriber
	// Logger receives the service's diagnostics; nil discards them.
	Logger *slog.Logger

	// interfaceAddrs lists the machine's addresses for the advertised
	// address; tests replace it.
	interfaceAddrs func() ([]net.Addr, error)
}

// Option changes Options. An option that cannot apply its value returns an
// error that New reports.
type Option func(*Options) error

// Name sets the service name. It must not be empty or contain whitespace or
// '/'.
func Name(name string) Option {
	return func(o *Options) error {
		if err := validateName(name); err != nil {
			return err
		}
		o.Name = name
		return nil
	}
}

// Version sets the version the service registers.
func Version(version string) Option {
	return func(o *Options) error {
		o.Version = version
		return nil
	}
}

// Address sets where the service listens, host:port. Port 0 lets the system
// pick one.
func Address(address string) Option {
	return func(o *Options) error {
		if _, _, err := net.SplitHostPort(address); err != nil {
			return fmt.Errorf("listen address %q: %w", address, err)
		}
		o.Address = address
		return nil
	}
}

// Advertise sets the address registered for others to reach the service:
// host:port, or a host alone to use the port the service listens on. It
// overrides the address computed from the listener.
func Advertise(address string) Option {
	return func(o *Options) error {
		if strings.TrimSpace(address) == "" {
			return errors.New("advertise address is empty")
		}
		o.Advertise = address
		return nil
	}
}

// Metadata adds key-value pairs to the node's metadata in the registry.
// Keys the service sets itself ("transport", "protocol", "server",
// "registry") cannot be overridden.
func Metadata(md map[string]string) Option {
	return func(o *Options) error {
		for k := range md {
			if strings.TrimSpace(k) == "" {
				return errors.New("metadata has an empty key")
			}
		}
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
		maps.Copy(o.Metadata, md)
		return nil
	}
}

// Registry sets the registry the service registers in.
func Registry(r registry.Registry) Option {
	return func(o *Options) error {
		if r == nil {
			return errors.New("registry is nil")
		}
		o.Registry = r
		return nil
	}
}

// RegisterTTL sets how long the registration lives without a heartbeat.
func RegisterTTL(ttl time.Duration) Option {
	return func(o *Options) error {
		if ttl <= 0 {
			return fmt.Errorf("register ttl must be positive, got %s", ttl)
		}
		o.RegisterTTL = ttl
		return nil
	}
}

// RegisterInterval sets how often the heartbeat registers again. It must be
// shorter than the TTL.
func RegisterInterval(interval time.Duration) Option {
	return func(o *Options) error {
		if interval <= 0 {
			return fmt.Errorf("register interval must be positive, got %s", interval)
		}
		o.RegisterInterval = interval
		return nil
	}
}

// DrainTimeout bounds how long a stop waits for in-flight calls to finish
// before it closes their connections.
func DrainTimeout(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("drain timeout must be positive, got %s", d)
		}
		o.DrainTimeout = d
		return nil
	}
}

// GRPCOptions adds options for grpc.NewServer: credentials, interceptors,
// limits.
func GRPCOptions(opts ...grpc.ServerOption) Option {
	return func(o *Options) error {
		o.GRPCOptions = append(o.GRPCOptions, opts...)
		return nil
	}
}

// Handle adds a function that registers gRPC implementations on the
// server, such as
//
//	service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, h) })
//
// Implementations can also be registered on Service.Server before Start.
func Handle(register func(grpc.ServiceRegistrar)) Option {
	return func(o *Options) error {
		if register == nil {
			return errors.New("handler registration function is nil")
		}
		o.Handlers = append(o.Handlers, register)
		return nil
	}
}

// Broker sets the broker the service subscribes with (see Subscribe). The
// service does not close it; close it after the service has stopped.
func Broker(b broker.Broker) Option {
	return func(o *Options) error {
		if b == nil {
			return errors.New("broker is nil")
		}
		o.Broker = b
		return nil
	}
}

// Logger sets where the service logs. Without it the service logs nothing.
func Logger(logger *slog.Logger) Option {
	return func(o *Options) error {
		o.Logger = logger
		return nil
	}
}

func defaultOptions() Options {
	return Options{
		Address:          DefaultAddress,
		Version:          DefaultVersion,
		RegisterTTL:      DefaultRegisterTTL,
		RegisterInterval: DefaultRegisterInterval,
		DrainTimeout:     DefaultDrainTimeout,
		interfaceAddrs:   upInterfaceAddrs,
	}
}

// validate checks what single options cannot: required options and the
// relation between them.
func (o *Options) validate() error {
	var errs []error
	if o.Name == "" {
		errs = append(errs, errors.New("no name: use service.Name"))
	}
	if o.Registry == nil {
		errs = append(errs, errors.New("no registry: use service.Registry"))
	}
	if len(o.Subscribers) > 0 && o.Broker == nil {
		errs = append(errs, fmt.Errorf("%d subscriber(s) but no broker: use service.Broker", len(o.Subscribers)))
	}
	if o.RegisterInterval >= o.RegisterTTL {
		errs = append(errs, fmt.Errorf("register interval %s must be shorter than register ttl %s, or the registration expires between heartbeats", o.RegisterInterval, o.RegisterTTL))
	}
	return joinErrors(errs...)
}

func validateName(name string) error {
	switch {
	case name == "":
		return errors.New("service name is empty")
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == '/' || r == 0x7f }):
		return fmt.Errorf("service name %q contains whitespace, a control character or '/'", name)
	}
	return nil
}

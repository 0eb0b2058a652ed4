package selector

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

// Defaults used when an option is not given.
const (
	// DefaultEjectBackoff is how long a node is skipped after its first
	// connection failure.
	DefaultEjectBackoff = 5 * time.Second
	// DefaultMaxEjectBackoff bounds the ejection of a node that keeps
	// failing; each failure in a row doubles the period up to it.
	DefaultMaxEjectBackoff = 2 * time.Minute
	// DefaultCacheTTL is how often the nodes of a service are refetched
	// while its watch is down.
	DefaultCacheTTL = 30 * time.Second
	// DefaultWatchBackoff is the wait before the first attempt to restart a
	// broken watch.
	DefaultWatchBackoff = 250 * time.Millisecond
	// DefaultMaxWatchBackoff bounds the wait between attempts to restart a
	// broken watch.
	DefaultMaxWatchBackoff = 30 * time.Second
	// DefaultRegistryTimeout bounds each background registry request.
	DefaultRegistryTimeout = 5 * time.Second
	// DefaultLastNodesGrace is how long the last nodes of a service are
	// still served after a watch event removed them all.
	DefaultLastNodesGrace = 10 * time.Second
)

// Options configure a Cache. Build them with Option functions passed to New;
// later options override earlier ones.
type Options struct {
	// Registry is where nodes are found. Required.
	Registry registry.Registry
	// Strategy picks among the candidates; Random when nil.
	Strategy Strategy
	// EjectBackoff is how long a node is skipped after a connection failure;
	// MaxEjectBackoff bounds it as repeated failures double it.
	EjectBackoff, MaxEjectBackoff time.Duration
	// EjectWhen reports whether a call error means the node could not be
	// reached; IsConnectionError when nil.
	EjectWhen func(error) bool
	// CacheTTL is how often nodes are refetched while a watch is down.
	CacheTTL time.Duration
	// WatchBackoff is the first wait before restarting a broken watch;
	// MaxWatchBackoff bounds the doubling waits after it.
	WatchBackoff, MaxWatchBackoff time.Duration
	// RegistryTimeout bounds each background registry request.
	RegistryTimeout time.Duration
	// LastNodesGrace is how long the last nodes of a service are still
	// served after a watch event removed every one of them (see
	// LastNodesGrace).
	LastNodesGrace time.Duration
	// NoWatch fetches nodes without watching the registry (see NoWatch).
	NoWatch bool
	// Now tells the time for ejection and cache expiry; time.Now when nil.
	Now func() time.Time
	// Logger receives ejections and watch failures; nil discards them.
	Logger *slog.Logger
}

// Option changes Options. An option that cannot apply its value returns an
// error that New reports.
type Option func(*Options) error

// Registry sets where nodes are found.
func Registry(r registry.Registry) Option {
	return func(o *Options) error {
		if r == nil {
			return errors.New("registry is nil")
		}
		o.Registry = r
		return nil
	}
}

// UseStrategy sets how a node is chosen among the candidates: Random (the
// default), RoundRobin, LeastInFlight, or a Strategy of your own.
func UseStrategy(s Strategy) Option {
	return func(o *Options) error {
		if s == nil {
			return errors.New("strategy is nil")
		}
		o.Strategy = s
		return nil
	}
}

// EjectBackoff sets how long a node that failed to connect is skipped: base
// after the first failure, doubling with each failure in a row up to max.
func EjectBackoff(base, max time.Duration) Option {
	return func(o *Options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("eject backoff %s up to %s: want 0 < base <= max", base, max)
		}
		o.EjectBackoff, o.MaxEjectBackoff = base, max
		return nil
	}
}

// EjectWhen sets which call errors eject a node; the default is
// IsConnectionError.
func EjectWhen(isConnectionError func(error) bool) Option {
	return func(o *Options) error {
		if isConnectionError == nil {
			return errors.New("eject classifier is nil")
		}
		o.EjectWhen = isConnectionError
		return nil
	}
}

// CacheTTL sets how often the nodes of a service are refetched while its
// watch is down. Cached nodes are served until a refetch succeeds.
func CacheTTL(ttl time.Duration) Option {
	return func(o *Options) error {
		if ttl <= 0 {
			return fmt.Errorf("cache ttl %s: want more than zero", ttl)
		}
		o.CacheTTL = ttl
		return nil
	}
}

// LastNodesGrace sets how long the last nodes of a service are still
// served after the registry's watch removed every one of them, unless the
// watch gives the service nodes again first. A registry can drop every node
// of a service that runs on: a Consul agent that held all its
// registrations dies, and until its services have registered again through
// another agent, their nodes are not passing. Nodes that are really gone
// fail to connect and are ejected meanwhile. Zero turns the grace off.
func LastNodesGrace(d time.Duration) Option {
	return func(o *Options) error {
		if d < 0 {
			return fmt.Errorf("last nodes grace %s: want zero or more", d)
		}
		o.LastNodesGrace = d
		return nil
	}
}

// WatchBackoff sets the wait before restarting a broken watch: base first,
// doubling up to max.
func WatchBackoff(base, max time.Duration) Option {
	return func(o *Options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("watch backoff %s up to %s: want 0 < base <= max", base, max)
		}
		o.WatchBackoff, o.MaxWatchBackoff = base, max
		return nil
	}
}

// RegistryTimeout bounds each registry request the cache makes in the
// background. A Select that fetches a cold service uses its own context.
func RegistryTimeout(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("registry timeout %s: want more than zero", d)
		}
		o.RegistryTimeout = d
		return nil
	}
}

// NoWatch makes the cache fetch the nodes of a service on its first Select
// and again on a Select once they are CacheTTL old, without watching the
// registry: one registry request instead of a watch started and stopped,
// for a process that makes a call or two (a command line) and does not
// live long enough to need changes as they happen.
func NoWatch() Option {
	return func(o *Options) error {
		o.NoWatch = true
		return nil
	}
}

// Clock replaces time.Now for ejection and cache expiry, for tests.
func Clock(now func() time.Time) Option {
	return func(o *Options) error {
		if now == nil {
			return errors.New("clock is nil")
		}
		o.Now = now
		return nil
	}
}

// Logger sets where ejections and watch failures are logged.
func Logger(logger *slog.Logger) Option {
	return func(o *Options) error {
		o.Logger = logger
		return nil
	}
}

func defaultOptions() Options {
	return Options{
		EjectBackoff:    DefaultEjectBackoff,
		MaxEjectBackoff: DefaultMaxEjectBackoff,
		CacheTTL:        DefaultCacheTTL,
		WatchBackoff:    DefaultWatchBackoff,
		MaxWatchBackoff: DefaultMaxWatchBackoff,
		RegistryTimeout: DefaultRegistryTimeout,
		LastNodesGrace:  DefaultLastNodesGrace,
	}
}

// SelectOptions are the settings of one Select.
type SelectOptions struct {
	// Filters all have to keep a node for the call to use it.
	Filters []Filter
}

// SelectOption changes SelectOptions.
type SelectOption func(*SelectOptions)

// WithFilter adds a filter; filters compose, a node has to pass them all.
func WithFilter(f Filter) SelectOption {
	return func(o *SelectOptions) {
		if f != nil {
			o.Filters = append(o.Filters, f)
		}
	}
}

// WithVersion keeps the nodes registered with exactly this version.
func WithVersion(version string) SelectOption {
	return WithFilter(versionFilter(version))
}

// WithMetadata keeps the nodes whose metadata has key set to value.
func WithMetadata(key, value string) SelectOption {
	return WithFilter(metadataFilter{key: key, value: value})
}

package nats

import (
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Defaults of Options.
const (
	// DefaultURL is the embedded server of `micro server`.
	DefaultURL = "nats://127.0.0.1:4222"
	// DefaultBucket is the key-value bucket that holds the records.
	DefaultBucket = "micro_registry"
	// DefaultConnectTimeout bounds the first connection to each server.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultReconnectWait is the pause between reconnection attempts after
	// the connection is lost. The registry keeps trying until it is closed.
	DefaultReconnectWait = time.Second
	// DefaultMaxAge is the age after which the server drops a record that was
	// not registered again, used only when the server is older than NATS
	// 2.11 and cannot expire records one by one. Registrations with a longer
	// TTL, or none, are refused on such a bucket.
	DefaultMaxAge = 24 * time.Hour
)

// Options configure New. Build them with the With* options; DefaultOptions
// holds the starting values.
type Options struct {
	// URL is the server URL, or several separated by commas. Ignored when
	// Conn is set.
	URL string
	// Conn is a connection to use instead of making one. The registry does
	// not close it.
	Conn *natsgo.Conn
	// Bucket is the key-value bucket of the records. It is created when
	// missing; an existing bucket is used as it is.
	Bucket string
	// NATSOptions are applied to the connection New makes, after the
	// registry's own defaults (so they win): credentials, TLS, handlers.
	NATSOptions []natsgo.Option
	// ConnectTimeout bounds the first connection to each server.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts.
	ReconnectWait time.Duration
	// Replicas is the number of copies of a bucket New creates; zero
	// chooses from the cluster (see WithReplicas).
	Replicas int
	// GoMicro reads go-micro's NATS registry too: ListServices and
	// GetService ask go-micro services on micro.nats.query, Watch follows
	// micro.nats.watch. On by default.
	GoMicro bool
	// AnswerGoMicro answers go-micro's queries for the nodes registered
	// through this registry and announces them on micro.nats.watch, so
	// that go-micro clients find them. On by default.
	AnswerGoMicro bool
	// QueryTimeout is how long a go-micro query waits for answers.
	QueryTimeout time.Duration
	// LazyOpen makes New only connect: the bucket is found (or created)
	// by the first operation that needs it, and a read that one direct
	// get answers never does (see WithLazyOpen).
	LazyOpen bool
}

// Option changes Options; it fails when given a value that cannot work.
type Option func(*Options) error

// DefaultOptions returns the options New starts from.
func DefaultOptions() Options {
	return Options{
		URL:            DefaultURL,
		Bucket:         DefaultBucket,
		ConnectTimeout: DefaultConnectTimeout,
		ReconnectWait:  DefaultReconnectWait,
		GoMicro:        true,
		AnswerGoMicro:  true,
		QueryTimeout:   DefaultQueryTimeout,
	}
}

// WithGoMicro turns reading go-micro's NATS registry (queries on
// micro.nats.query, announcements on micro.nats.watch) on or off.
func WithGoMicro(on bool) Option {
	return func(o *Options) error {
		o.GoMicro = on
		return nil
	}
}

// WithAnswerGoMicro turns answering go-micro's registry queries for the
// nodes registered here on or off.
func WithAnswerGoMicro(on bool) Option {
	return func(o *Options) error {
		o.AnswerGoMicro = on
		return nil
	}
}

// WithQueryTimeout sets how long a go-micro registry query waits for
// answers.
func WithQueryTimeout(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("nats registry: query timeout must be positive, not %s", d)
		}
		o.QueryTimeout = d
		return nil
	}
}

// WithLazyOpen makes New connect and do nothing more, for a process that
// reads the registry once and exits (micro call): the bucket is found, or
// created, by the first operation that needs it, so a GetService or
// ListServices that a direct get answers is one request in all, where New
// would first ask for the bucket's stream info. A server without
// JetStream, or a missing bucket, shows at that first operation, with the
// error New would have given; Replicas is zero until then.
func WithLazyOpen() Option {
	return func(o *Options) error {
		o.LazyOpen = true
		return nil
	}
}

// WithURL sets the server URL, or a comma-separated list of them, such as
// "nats://10.0.0.1:4222,nats://10.0.0.2:4222". A URL may carry credentials
// (nats://user:password@host:4222); String never shows them.
func WithURL(url string) Option {
	return func(o *Options) error {
		if strings.Trim(url, " ,") == "" {
			return errors.New("nats registry: empty server url")
		}
		o.URL = url
		return nil
	}
}

// WithConn makes the registry use nc instead of connecting itself. Close does
// not close nc, and the reconnect behaviour is whatever nc was made with.
func WithConn(nc *natsgo.Conn) Option {
	return func(o *Options) error {
		if nc == nil {
			return errors.New("nats registry: nil connection")
		}
		o.Conn = nc
		return nil
	}
}

// validBucket reports whether name is a non-empty run of letters, digits,
// '-' and '_' (a loop, not a regexp: package variables are paid for at
// start-up by every command).
func validBucket(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// WithBucket sets the key-value bucket; letters, digits, '-' and '_' only.
func WithBucket(name string) Option {
	return func(o *Options) error {
		if !validBucket(name) {
			return fmt.Errorf("nats registry: invalid bucket name %q: use letters, digits, '-' and '_'", name)
		}
		o.Bucket = name
		return nil
	}
}

// WithNATSOptions adds options for the connection New makes, such as
// natsgo.UserInfo, natsgo.Token, natsgo.UserCredentials, natsgo.Nkey,
// natsgo.Secure or natsgo.ErrorHandler. They are ignored with WithConn.
func WithNATSOptions(opts ...natsgo.Option) Option {
	return func(o *Options) error {
		o.NATSOptions = append(o.NATSOptions, opts...)
		return nil
	}
}

// WithConnectTimeout bounds the first connection to each server.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("nats registry: connect timeout must be positive, not %s", d)
		}
		o.ConnectTimeout = d
		return nil
	}
}

// WithReconnectWait sets the pause between reconnection attempts after the
// connection is lost.
func WithReconnectWait(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("nats registry: reconnect wait must be positive, not %s", d)
		}
		o.ReconnectWait = d
		return nil
	}
}

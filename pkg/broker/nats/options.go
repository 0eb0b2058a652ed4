package nats

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/pkg/natsconn"
)

// Defaults of Options.
const (
	// DefaultURL is the embedded server of `micro server`.
	DefaultURL = "nats://127.0.0.1:4222"
	// DefaultName is the client name the server shows for the connection.
	DefaultName = "micro broker"
	// DefaultRequestTimeout bounds a JetStream request (a publish
	// acknowledgement, a stream or consumer lookup) when ctx has no
	// deadline.
	DefaultRequestTimeout = 10 * time.Second
)

// Options configure New. Build them with the With* options; DefaultOptions
// holds the starting values.
type Options struct {
	// URL is the server URL, or several separated by commas. Ignored when
	// Conn is set.
	URL string
	// Conn is a connection to use instead of making one. Close does not
	// close it.
	Conn *natsgo.Conn
	// Name is the client name the server shows for the connection.
	Name string
	// Auth is the credentials to present.
	Auth natsconn.Auth
	// TLS is the TLS setup.
	TLS natsconn.TLS
	// ConnectTimeout bounds the first connection to each server.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts; the broker
	// keeps trying until it is closed.
	ReconnectWait time.Duration
	// RequestTimeout bounds a JetStream request when ctx has no deadline.
	RequestTimeout time.Duration
	// OnEvent is told of each disconnect, reconnect, close and asynchronous
	// error (such as a slow consumer) of the connection New makes.
	OnEvent func(natsconn.Event)
	// Logger receives diagnostics: connection events, handler errors of
	// core subscriptions, redeliveries. Nil logs nothing.
	Logger *slog.Logger
	// NATSOptions are applied last to the connection New makes.
	NATSOptions []natsgo.Option
	// Replicas is the number of copies of a stream the broker creates; zero
	// chooses from the cluster (see WithReplicas).
	Replicas int
}

// Option changes Options; it fails when given a value that cannot work.
type Option func(*Options) error

// DefaultOptions returns the options New starts from.
func DefaultOptions() Options {
	return Options{
		URL:            DefaultURL,
		Name:           DefaultName,
		ConnectTimeout: natsconn.DefaultConnectTimeout,
		ReconnectWait:  natsconn.DefaultReconnectWait,
		RequestTimeout: DefaultRequestTimeout,
	}
}

// WithURL sets the server URL, or a comma-separated list of them, such as
// "nats://10.0.0.1:4222,nats://10.0.0.2:4222"; host:port alone means
// nats://host:port. A URL may carry credentials (nats://user:pass@host);
// messages never show them.
func WithURL(url string) Option {
	return func(o *Options) error {
		if strings.Trim(url, " ,") == "" {
			return errors.New("nats broker: empty server url")
		}
		o.URL = url
		return nil
	}
}

// WithConn makes the broker use nc instead of connecting itself. Close does
// not close nc; reconnects and events are whatever nc was made with.
func WithConn(nc *natsgo.Conn) Option {
	return func(o *Options) error {
		if nc == nil {
			return errors.New("nats broker: nil connection")
		}
		o.Conn = nc
		return nil
	}
}

// WithName sets the client name the server shows for the connection.
func WithName(name string) Option {
	return func(o *Options) error {
		o.Name = name
		return nil
	}
}

// WithUserInfo authenticates with a user name and password.
func WithUserInfo(user, password string) Option {
	return func(o *Options) error {
		if user == "" {
			return errors.New("nats broker: empty user name")
		}
		o.Auth.User, o.Auth.Password = user, password
		return nil
	}
}

// WithToken authenticates with a token.
func WithToken(token string) Option {
	return func(o *Options) error {
		if token == "" {
			return errors.New("nats broker: empty token")
		}
		o.Auth.Token = token
		return nil
	}
}

// WithCredsFile authenticates with a credentials file (JWT and nkey seed).
func WithCredsFile(path string) Option {
	return func(o *Options) error {
		if path == "" {
			return errors.New("nats broker: empty credentials file path")
		}
		o.Auth.CredsFile = path
		return nil
	}
}

// WithNKeySeedFile authenticates with the nkey seed in a file.
func WithNKeySeedFile(path string) Option {
	return func(o *Options) error {
		if path == "" {
			return errors.New("nats broker: empty nkey seed file path")
		}
		o.Auth.NKeySeedFile = path
		return nil
	}
}

// WithTLS connects with TLS: a CA file to verify the server, a client
// certificate and key, or InsecureSkipVerify for tests.
func WithTLS(tls natsconn.TLS) Option {
	return func(o *Options) error {
		if (tls.CertFile == "") != (tls.KeyFile == "") {
			return errors.New("nats broker: tls client certificate needs both a certificate and a key file")
		}
		o.TLS = tls
		return nil
	}
}

// WithConnectTimeout bounds the first connection to each server.
func WithConnectTimeout(d time.Duration) Option {
	return positive("connect timeout", d, func(o *Options) { o.ConnectTimeout = d })
}

// WithReconnectWait sets the pause between reconnection attempts.
func WithReconnectWait(d time.Duration) Option {
	return positive("reconnect wait", d, func(o *Options) { o.ReconnectWait = d })
}

// WithRequestTimeout bounds a JetStream request when ctx has no deadline.
func WithRequestTimeout(d time.Duration) Option {
	return positive("request timeout", d, func(o *Options) { o.RequestTimeout = d })
}

func positive(what string, d time.Duration, set func(*Options)) Option {
	return func(o *Options) error {
		if d <= 0 {
			return errors.New("nats broker: " + what + " must be positive, not " + d.String())
		}
		set(o)
		return nil
	}
}

// WithEventHandler has fn told of each disconnect, reconnect, close and
// asynchronous error of the connection, such as
//
//	nats.WithEventHandler(func(ev natsconn.Event) { fmt.Fprintln(stderr, ev) })
//
// fn runs on a nats.go goroutine; it should return quickly.
func WithEventHandler(fn func(natsconn.Event)) Option {
	return func(o *Options) error {
		o.OnEvent = fn
		return nil
	}
}

// WithLogger sets where the broker logs its diagnostics.
func WithLogger(logger *slog.Logger) Option {
	return func(o *Options) error {
		o.Logger = logger
		return nil
	}
}

// WithNATSOptions adds options for the connection New makes; they are
// applied last.
func WithNATSOptions(opts ...natsgo.Option) Option {
	return func(o *Options) error {
		o.NATSOptions = append(o.NATSOptions, opts...)
		return nil
	}
}

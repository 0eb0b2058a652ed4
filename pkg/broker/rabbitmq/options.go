package rabbitmq

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/broker"
)

// Defaults of Options.
const (
	// DefaultURL is a RabbitMQ on this machine with its default user, as a
	// fresh installation has it.
	DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"
	// DefaultExchange is the topic exchange messages are published to, the
	// one go-micro's RabbitMQ broker uses.
	DefaultExchange = "micro"
	// DefaultName is the connection name RabbitMQ shows.
	DefaultName = "micro broker"
	// DefaultConnectTimeout bounds the TCP connection and the AMQP
	// handshake with one server.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultReconnectWait is the pause between reconnection attempts.
	DefaultReconnectWait = time.Second
	// DefaultRequestTimeout bounds a publish (and its confirm) when ctx has
	// no deadline, including the wait for a lost connection to come back.
	DefaultRequestTimeout = 10 * time.Second
)

// Options configure New. Build them with the With* options; DefaultOptions
// holds the starting values.
type Options struct {
	// URL is the server, amqp://user:password@host:port/vhost (amqps:// for
	// TLS), or several separated by commas, tried in turn.
	URL string
	// User and Password, when User is set, replace the credentials of URL.
	User     string
	Password string
	// Exchange is the topic exchange to publish to and bind queues to. It
	// is declared durable when missing.
	Exchange string
	// Name is the connection name RabbitMQ shows.
	Name string
	// TLS is the TLS setup of amqps:// URLs; nil means the system's roots.
	TLS *tls.Config
	// ConnectTimeout bounds connecting to one server.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts; the broker
	// keeps trying until it is closed.
	ReconnectWait time.Duration
	// RequestTimeout bounds a publish when ctx has no deadline.
	RequestTimeout time.Duration
	// Prefetch is how many unacknowledged messages a subscription holds;
	// zero means twice its concurrency, at least 16.
	Prefetch int
	// OnEvent is told of each disconnect, reconnect and asynchronous error.
	OnEvent func(broker.Event)
	// Logger receives diagnostics. Nil logs nothing.
	Logger *slog.Logger
}

// Option changes Options; it fails when given a value that cannot work.
type Option func(*Options) error

// DefaultOptions returns the options New starts from.
func DefaultOptions() Options {
	return Options{
		URL:            DefaultURL,
		Exchange:       DefaultExchange,
		Name:           DefaultName,
		ConnectTimeout: DefaultConnectTimeout,
		ReconnectWait:  DefaultReconnectWait,
		RequestTimeout: DefaultRequestTimeout,
	}
}

// WithURL sets the server URL, amqp://user:password@host:port/vhost, or a
// comma-separated list of them. host:port alone means amqp://host:port/
// with the guest user. Messages never show the password.
func WithURL(url string) Option {
	return func(o *Options) error {
		if strings.Trim(url, " ,") == "" {
			return errors.New("rabbitmq broker: empty server url")
		}
		if _, err := parseURLs(url); err != nil {
			return err
		}
		o.URL = url
		return nil
	}
}

// WithUserInfo logs in with user and password instead of the credentials
// in the URL.
func WithUserInfo(user, password string) Option {
	return func(o *Options) error {
		if user == "" {
			return errors.New("rabbitmq broker: empty user name")
		}
		o.User, o.Password = user, password
		return nil
	}
}

// WithExchange publishes to, and binds queues to, the topic exchange name
// instead of "micro".
func WithExchange(name string) Option {
	return func(o *Options) error {
		if name == "" || len(name) > 255 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("rabbitmq broker: invalid exchange name %q: want 1 to 255 bytes without whitespace", name)
		}
		if strings.HasPrefix(name, "amq.") {
			return fmt.Errorf("rabbitmq broker: exchange %q: names starting with amq. are reserved by RabbitMQ", name)
		}
		o.Exchange = name
		return nil
	}
}

// WithName sets the connection name RabbitMQ shows.
func WithName(name string) Option {
	return func(o *Options) error {
		o.Name = name
		return nil
	}
}

// WithTLS sets the TLS setup of amqps:// URLs.
func WithTLS(cfg *tls.Config) Option {
	return func(o *Options) error {
		o.TLS = cfg
		return nil
	}
}

// WithConnectTimeout bounds connecting to one server.
func WithConnectTimeout(d time.Duration) Option {
	return positive("connect timeout", d, func(o *Options) { o.ConnectTimeout = d })
}

// WithReconnectWait sets the pause between reconnection attempts.
func WithReconnectWait(d time.Duration) Option {
	return positive("reconnect wait", d, func(o *Options) { o.ReconnectWait = d })
}

// WithRequestTimeout bounds a publish when ctx has no deadline.
func WithRequestTimeout(d time.Duration) Option {
	return positive("request timeout", d, func(o *Options) { o.RequestTimeout = d })
}

// WithPrefetch sets how many unacknowledged messages each subscription
// holds at most.
func WithPrefetch(n int) Option {
	return func(o *Options) error {
		if n < 1 {
			return fmt.Errorf("rabbitmq broker: prefetch must be at least 1, not %d", n)
		}
		o.Prefetch = n
		return nil
	}
}

// WithEventHandler has fn told of each disconnect, reconnect and
// asynchronous error, such as
//
//	rabbitmq.WithEventHandler(func(ev broker.Event) { fmt.Fprintln(stderr, ev) })
//
// fn runs on a goroutine of the broker; it should return quickly.
func WithEventHandler(fn func(broker.Event)) Option {
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

func positive(what string, d time.Duration, set func(*Options)) Option {
	return func(o *Options) error {
		if d <= 0 {
			return errors.New("rabbitmq broker: " + what + " must be positive, not " + d.String())
		}
		set(o)
		return nil
	}
}

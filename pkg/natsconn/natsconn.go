package natsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/microtools/micro/pkg/broker"
)

// Defaults of Options.
const (
	// DefaultConnectTimeout bounds the first connection to each server.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultReconnectWait is the pause between reconnection attempts.
	DefaultReconnectWait = time.Second
	// DefaultPort is the port of a server URL that names none.
	DefaultPort = "4222"
)

var (
	// ErrUnreachable is wrapped by Connect's error when no server could be
	// reached: nothing listens at the URL, the host is unknown, or the dial
	// timed out. The error also wraps the system error (syscall.ECONNREFUSED).
	// Start the server or correct the URL.
	ErrUnreachable = errors.New("nats server unreachable")
	// ErrAuth is wrapped by Connect's error when a server was reached but
	// refused the credentials. Check the user, password, token, credentials
	// or nkey file.
	ErrAuth = errors.New("nats server refused the credentials")
)

// Auth holds the credentials to present. Set at most one way of
// authenticating; a URL may also carry user:password@.
type Auth struct {
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// CredsFile is a credentials file (JWT and nkey seed), as `nsc` writes.
	CredsFile string
	// NKeySeedFile is a file holding an nkey seed ("SU...").
	NKeySeedFile string
}

// TLS holds the files for a TLS connection. Any field set turns TLS on; so
// does a tls:// URL.
type TLS struct {
	// CAFile holds the certificates (PEM) that verify the server.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key (PEM),
	// for servers that verify clients.
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool
}

func (t TLS) enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

// Options configure Connect. The zero value connects nowhere: URL is
// required; the other fields have defaults.
type Options struct {
	// URL is the server URL, or several separated by commas (the members
	// of a cluster). host:port alone means nats://host:port. Servers are
	// tried in the order given, so the first is preferred and the others
	// are where the connection fails over to; servers the cluster tells
	// of are added after them.
	URL string
	// Name is the client name the server shows for the connection.
	Name string
	// ConnectTimeout bounds the first connection to each server; a shorter
	// deadline of Connect's context wins. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts; the
	// connection keeps trying until it is closed. Default
	// DefaultReconnectWait.
	ReconnectWait time.Duration
	// Auth is the credentials to present.
	Auth Auth
	// TLS is the TLS setup.
	TLS TLS
	// OnEvent, when set, is told of each disconnect, reconnect, close and
	// asynchronous error (such as a slow consumer). It runs on a nats.go
	// goroutine: return quickly.
	OnEvent func(Event)
	// NATSOptions are applied last, so they win over everything above.
	NATSOptions []nats.Option
}

// Event is a change of a connection's state: the broker's Event, so that
// a NATS connection reports in the same words whether a broker or a
// registry holds it.
type Event = broker.Event

// EventKind says what happened to a connection.
type EventKind = broker.EventKind

// Kinds of Event, as pkg/broker defines them.
const (
	Disconnected = broker.Disconnected
	Reconnected  = broker.Reconnected
	Closed       = broker.Closed
	AsyncError   = broker.AsyncError
)

// natsOptions returns the nats.go options that o asks for: name, timeouts,
// reconnecting forever, credentials, TLS and event callbacks, then
// o.NATSOptions. A credentials, key or certificate file that cannot be read
// is an error that names it.
func (o Options) natsOptions(timeout time.Duration) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.DontRandomize(),
	}
	if o.Name != "" {
		opts = append(opts, nats.Name(o.Name))
	}
	auth, err := o.Auth.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	tlsOpts, err := o.TLS.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, tlsOpts...)
	opts = append(opts, eventOptions(o.OnEvent)...)
	return append(opts, o.NATSOptions...), nil
}

func (a Auth) options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.User != "" || a.Password != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CredsFile != "" {
		if err := readable("credentials file", a.CredsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeySeedFile != "" {
		if err := readable("nkey seed file", a.NKeySeedFile); err != nil {
			return nil, err
		}
		opt, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file %s: %w", a.NKeySeedFile, err)
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

func (t TLS) options() ([]nats.Option, error) {
	if !t.enabled() {
		return nil, nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls: a client certificate needs both a certificate file and a key file")
	}
	opts := []nats.Option{nats.Secure()}
	if t.InsecureSkipVerify {
		opts = append(opts, func(o *nats.Options) error {
			if o.TLSConfig == nil {
				o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			o.TLSConfig.InsecureSkipVerify = true
			return nil
		})
	}
	if t.CAFile != "" {
		if err := readable("tls ca file", t.CAFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(t.CAFile))
	}
	if t.CertFile != "" {
		for _, f := range [][2]string{{"tls certificate file", t.CertFile}, {"tls key file", t.KeyFile}} {
			if err := readable(f[0], f[1]); err != nil {
				return nil, err
			}
		}
		opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
	}
	return opts, nil
}

func readable(what, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return f.Close()
}

// eventOptions reports connection events to onEvent, and keeps nats.go from
// printing asynchronous errors to stderr: a library prints nothing.
func eventOptions(onEvent func(Event)) []nats.Option {
	if onEvent == nil {
		return []nats.Option{nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
	}
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			onEvent(Event{Kind: Disconnected, URL: lastURL(nc), Err: err})
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			onEvent(Event{Kind: Reconnected, URL: ConnURL(nc)})
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			onEvent(Event{Kind: Closed, URL: lastURL(nc)})
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			ev := Event{Kind: AsyncError, URL: lastURL(nc), Err: err}
			if sub != nil {
				ev.Subject = sub.Subject
			}
			onEvent(ev)
		}),
	}
}

// lastURL names the server a connection was last connected to.
func lastURL(nc *nats.Conn) string {
	if u := nc.ConnectedUrlRedacted(); u != "" {
		return u
	}
	return ConnURL(nc)
}

// Connect connects to the servers of o.URL and returns a connection that
// reconnects until it is closed. ctx bounds the first connection.
//
// Its errors name the URL without credentials. An unreachable server wraps
// ErrUnreachable and the system error ("connection refused"); refused
// credentials wrap ErrAuth.
func Connect(ctx context.Context, o Options) (*nats.Conn, error) {
	if strings.Trim(o.URL, " ,") == "" {
		return nil, errors.New("no nats server url given")
	}
	redacted := RedactURLs(o.URL)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("not connected to nats at %s: %w", redacted, err)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = DefaultReconnectWait
	}
	timeout := o.ConnectTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	natsOpts, err := o.natsOptions(timeout)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to nats at %s: %w", redacted, err)
	}
	nc, err := nats.Connect(strings.Join(SplitURLs(o.URL), ","), natsOpts...)
	if err == nil {
		return nc, nil
	}
	switch {
	case AuthFailure(err):
		return nil, &connectError{
			msg:  fmt.Sprintf("nats at %s refused the credentials: %v", redacted, err),
			errs: []error{ErrAuth, err},
		}
	case errors.Is(err, nats.ErrNoServers):
		// nats.go hides "connection refused" behind ErrNoServers; dial
		// again to learn and report the real cause.
		return nil, Unreachable(redacted, DialCause(o.URL, timeout, err))
	case LostConnection(err) || isNetError(err):
		return nil, Unreachable(redacted, err)
	default:
		return nil, fmt.Errorf("cannot connect to nats at %s: %w", redacted, err)
	}
}

// connectError has a message of its own and matches every error it wraps.
type connectError struct {
	msg  string
	errs []error
}

func (e *connectError) Error() string   { return e.msg }
func (e *connectError) Unwrap() []error { return e.errs }

// Unreachable is the error for a server at url that cannot be reached, with
// the cause in a few words: "cannot reach nats at nats://127.0.0.1:4222:
// connection refused". It wraps ErrUnreachable and cause.
func Unreachable(url string, cause error) error {
	return &connectError{
		msg:  fmt.Sprintf("cannot reach nats at %s: %s", url, ShortCause(cause)),
		errs: []error{ErrUnreachable, cause},
	}
}

// ShortCause is the system error behind cause when there is one
// ("connection refused"), else cause's own message.
func ShortCause(cause error) string {
	var errno syscall.Errno
	if errors.As(cause, &errno) {
		return errno.Error()
	}
	return cause.Error()
}

// LostConnection reports whether err means that the server did not answer:
// the connection is closed or down, nobody replied, or a deadline passed.
func LostConnection(err error) bool {
	for _, target := range []error{
		nats.ErrConnectionClosed, nats.ErrConnectionReconnecting, nats.ErrDisconnected,
		nats.ErrNoServers, nats.ErrNoResponders, nats.ErrTimeout, context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var netErr interface{ Timeout() bool }
	return errors.As(err, &netErr)
}

// AuthFailure reports whether err is the server refusing the credentials:
// the server was reached, so the error is not ErrUnreachable.
func AuthFailure(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

func isNetError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

// DialCause dials each server of urls and returns the first failure, or
// fallback when every dial succeeds.
func DialCause(urls string, timeout time.Duration, fallback error) error {
	for _, hostPort := range ServerAddresses(urls) {
		conn, err := net.DialTimeout("tcp", hostPort, timeout)
		if err != nil {
			return err
		}
		_ = conn.Close()
	}
	return fallback
}

// ServerAddresses returns host:port of each server of a comma-separated URL
// list, with DefaultPort when a URL names none.
func ServerAddresses(urls string) []string {
	var out []string
	for _, u := range SplitURLs(urls) {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" {
			continue
		}
		port := parsed.Port()
		if port == "" {
			port = DefaultPort
		}
		out = append(out, net.JoinHostPort(parsed.Hostname(), port))
	}
	return out
}

// SplitURLs splits a comma-separated URL list, dropping blanks and adding
// nats:// to entries that are host:port alone.
func SplitURLs(urls string) []string {
	var out []string
	for u := range strings.SplitSeq(urls, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		out = append(out, u)
	}
	return out
}

// RedactURLs drops credentials from a URL list, for messages.
func RedactURLs(urls string) string {
	parts := SplitURLs(urls)
	for i, u := range parts {
		parsed, err := url.Parse(u)
		switch {
		case err != nil:
			if at := strings.LastIndexByte(u, '@'); at >= 0 {
				parts[i] = u[at+1:]
			}
		default:
			parsed.User = nil
			parts[i] = parsed.String()
		}
	}
	return strings.Join(parts, ",")
}

// ConnURL names the server of a connection, without credentials: the one it
// is connected to, else the ones it was configured with.
func ConnURL(nc *nats.Conn) string {
	if u := nc.ConnectedUrl(); u != "" {
		return RedactURLs(u)
	}
	if len(nc.Opts.Servers) > 0 {
		return RedactURLs(strings.Join(nc.Opts.Servers, ","))
	}
	return RedactURLs(nc.Opts.Url)
}

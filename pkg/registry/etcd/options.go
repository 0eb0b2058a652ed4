package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.
const (
	// DefaultAddress is the client URL of a local etcd.
	DefaultAddress = "127.0.0.1:2379"
	// DefaultPrefix is where micro keeps its own records.
	DefaultPrefix = "/micro/services/"
	// DefaultConnectTimeout bounds the first connection to the cluster: New
	// fails after it with an error naming the endpoints, rather than waiting
	// for the etcd client's own dial timeout.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultProgressInterval is how often a watch asks etcd where its
	// history is (revision and cluster ID), to notice an etcd that came back
	// with older data (a wiped or restored member) or another cluster, and
	// read everything again.
	DefaultProgressInterval = 5 * time.Second
	// defaultPort is added to an endpoint given without one.
	defaultPort = "2379"
)

// Key prefixes of the layouts other frameworks write.
const (
	// GoMicroPrefix holds go-micro's records: /micro/registry/<service>/<node id>.
	GoMicroPrefix = "/micro/registry/"
	// KratosPrefix holds kratos instances: /microservices/<service>/<instance id>.
	KratosPrefix = "/microservices/"
)

// Layout names a way of keeping service records in etcd.
type Layout string

// Layouts New can read. Only LayoutMicro is written.
const (
	// LayoutMicro is micro's own: <prefix><service>/<node id> holding the
	// JSON single-node service record, attached to a lease.
	LayoutMicro Layout = "micro"
	// LayoutGoMicro is go-micro's: /micro/registry/<service>/<node id>
	// holding a JSON service record with one node.
	LayoutGoMicro Layout = "gomicro"
	// LayoutKratos is kratos': /microservices/<service>/<instance id> holding
	// a JSON instance with endpoints such as "grpc://host:port".
	LayoutKratos Layout = "kratos"
	// LayoutGoZero is go-zero's: <service>/<lease id> holding "host:port".
	LayoutGoZero Layout = "gozero"
)

// AllLayouts are the layouts read by default, in the order they are listed.
var AllLayouts = []Layout{LayoutMicro, LayoutGoMicro, LayoutKratos, LayoutGoZero}

// ParseLayouts parses a comma-separated list of layout names such as
// "micro,kratos". "all" stands for every layout; an empty string is an error.
func ParseLayouts(s string) ([]Layout, error) {
	var out []Layout
	for part := range strings.SplitSeq(s, ",") {
		name := Layout(strings.ToLower(strings.TrimSpace(part)))
		switch {
		case name == "":
			continue
		case name == "all":
			for _, l := range AllLayouts {
				if !slices.Contains(out, l) {
					out = append(out, l)
				}
			}
		case slices.Contains(AllLayouts, name):
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		default:
			return nil, fmt.Errorf("etcd registry: unknown layout %q: use micro, gomicro, kratos, gozero or all", part)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("etcd registry: no layout in %q: use micro, gomicro, kratos, gozero or all", s)
	}
	return out, nil
}

// Options configure New. Build them with Option functions; DefaultOptions
// holds the starting values.
type Options struct {
	// Endpoints are the client URLs of the cluster members: "host:port",
	// "http://host:port", "https://host:port" (TLS) or "unix:///path".
	Endpoints []string
	// Username and Password authenticate with etcd's auth; both or neither.
	Username, Password string
	// TLS configures TLS to the members; nil means none, unless an endpoint
	// is https://, which then uses the system roots.
	TLS *TLSOptions
	// Prefix is where micro's own records live; it ends with "/".
	Prefix string
	// Layouts are the layouts read by GetService, ListServices and Watch.
	Layouts []Layout
	// GoZeroKeys limits the go-zero layout to these service keys (go-zero's
	// Etcd.Key, such as "greeter.rpc"). Empty means every key of the form
	// <name>/<number> whose value is a host:port address.
	GoZeroKeys []string
	// OnError is told about records that cannot be read (they are skipped),
	// once per record version. Nil drops them.
	OnError func(error)
	// ConnectTimeout bounds the first connection in New.
	ConnectTimeout time.Duration
	// ProgressInterval is how often a watch checks its revision against the
	// cluster's.
	ProgressInterval time.Duration
}

// TLSOptions configure TLS to the cluster.
type TLSOptions struct {
	// CAFile is a PEM file of the CAs that verify the members' certificates;
	// the system roots are used when empty.
	CAFile string
	// CertFile and KeyFile are the client certificate and key, for clusters
	// that verify clients. Both or neither.
	CertFile, KeyFile string
	// ServerName is the name expected in the members' certificates when it
	// is not the endpoint's host.
	ServerName string
	// InsecureSkipVerify accepts any certificate: for tests only.
	InsecureSkipVerify bool
}

// Option changes Options; it fails when given a value that cannot work.
type Option func(*Options) error

// DefaultOptions returns the options New starts from.
func DefaultOptions() Options {
	return Options{
		Endpoints:        []string{DefaultAddress},
		Prefix:           DefaultPrefix,
		Layouts:          slices.Clone(AllLayouts),
		ConnectTimeout:   DefaultConnectTimeout,
		ProgressInterval: DefaultProgressInterval,
	}
}

// WithEndpoints sets the members' client URLs. Each argument may itself be a
// comma-separated list: WithEndpoints("10.0.0.1:2379,10.0.0.2:2379").
func WithEndpoints(endpoints ...string) Option {
	return func(o *Options) error {
		var out []string
		for _, arg := range endpoints {
			for ep := range strings.SplitSeq(arg, ",") {
				if ep = strings.TrimSpace(ep); ep == "" {
					continue
				}
				norm, err := normalizeEndpoint(ep)
				if err != nil {
					return err
				}
				out = append(out, norm)
			}
		}
		if len(out) == 0 {
			return errors.New("etcd registry: no endpoint given")
		}
		o.Endpoints = out
		return nil
	}
}

// WithAuth sets the user and password of etcd's authentication.
func WithAuth(username, password string) Option {
	return func(o *Options) error {
		if username == "" || password == "" {
			return fmt.Errorf("etcd registry: user %q needs a password, and a password needs a user", username)
		}
		o.Username, o.Password = username, password
		return nil
	}
}

// WithTLS turns TLS on with the given settings.
func WithTLS(t TLSOptions) Option {
	return func(o *Options) error {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return fmt.Errorf("etcd registry: client certificate %q and key %q: both are needed", t.CertFile, t.KeyFile)
		}
		o.TLS = &t
		return nil
	}
}

// WithPrefix sets where micro keeps its own records (DefaultPrefix).
func WithPrefix(prefix string) Option {
	return func(o *Options) error {
		if prefix == "" || prefix == "/" {
			return fmt.Errorf("etcd registry: prefix %q is too wide: give one such as %s", prefix, DefaultPrefix)
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		for _, foreign := range []string{GoMicroPrefix, KratosPrefix} {
			if strings.HasPrefix(prefix, foreign) || strings.HasPrefix(foreign, prefix) {
				return fmt.Errorf("etcd registry: prefix %q overlaps %q, another framework's layout", prefix, foreign)
			}
		}
		o.Prefix = prefix
		return nil
	}
}

// WithLayouts sets which layouts are read.
func WithLayouts(layouts ...Layout) Option {
	return func(o *Options) error {
		if len(layouts) == 0 {
			return errors.New("etcd registry: no layout given")
		}
		var out []Layout
		for _, l := range layouts {
			if !slices.Contains(AllLayouts, l) {
				return fmt.Errorf("etcd registry: unknown layout %q: use micro, gomicro, kratos or gozero", l)
			}
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
		o.Layouts = out
		return nil
	}
}

// WithGoZeroKeys limits the go-zero layout to the given service keys (such
// as "greeter.rpc"); see Options.GoZeroKeys.
func WithGoZeroKeys(keys ...string) Option {
	return func(o *Options) error {
		for _, k := range keys {
			k = strings.Trim(k, "/ ")
			if k == "" {
				return errors.New("etcd registry: empty go-zero key")
			}
			o.GoZeroKeys = append(o.GoZeroKeys, k)
		}
		return nil
	}
}

// WithOnError sets the function told about records that are skipped because
// they cannot be read. It is called once per record version, from whatever
// goroutine read it; it must not block.
func WithOnError(fn func(error)) Option {
	return func(o *Options) error {
		o.OnError = fn
		return nil
	}
}

// WithConnectTimeout bounds the first connection in New.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("etcd registry: connect timeout must be positive, not %s", d)
		}
		o.ConnectTimeout = d
		return nil
	}
}

// WithProgressInterval sets how often a watch checks its revision against
// the cluster's (DefaultProgressInterval).
func WithProgressInterval(d time.Duration) Option {
	return func(o *Options) error {
		if d <= 0 {
			return fmt.Errorf("etcd registry: progress interval must be positive, not %s", d)
		}
		o.ProgressInterval = d
		return nil
	}
}

// normalizeEndpoint checks an endpoint and adds the default port to one
// without a port.
func normalizeEndpoint(ep string) (string, error) {
	if scheme, rest, ok := strings.Cut(ep, "://"); ok {
		switch scheme {
		case "http", "https":
			u, err := url.Parse(ep)
			if err != nil || u.Host == "" {
				return "", fmt.Errorf("etcd registry: endpoint %q: want %s://host:port", ep, scheme)
			}
			hostPort, err := hostWithPort(u.Host)
			if err != nil {
				return "", fmt.Errorf("etcd registry: endpoint %q: %w", ep, err)
			}
			return scheme + "://" + hostPort, nil
		case "unix", "unixs":
			if rest == "" {
				return "", fmt.Errorf("etcd registry: endpoint %q: want %s:///path/to/socket", ep, scheme)
			}
			return ep, nil
		default:
			return "", fmt.Errorf("etcd registry: endpoint %q: unsupported scheme %q (want host:port, http://, https:// or unix://)", ep, scheme)
		}
	}
	hostPort, err := hostWithPort(ep)
	if err != nil {
		return "", fmt.Errorf("etcd registry: endpoint %q: %w", ep, err)
	}
	return hostPort, nil
}

func hostWithPort(addr string) (string, error) {
	if ip := net.ParseIP(strings.Trim(addr, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), defaultPort), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return net.JoinHostPort(addr, defaultPort), nil
		}
		return "", err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// tlsConfig builds the TLS configuration of t.
func (t *TLSOptions) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // asked for, for tests
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd registry: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd registry: TLS CA file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd registry: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

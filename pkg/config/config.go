// Package config holds the settings every micro command and service shares —
// which registry and broker to use and where they are — and builds the
// registry they name. It reads the environment and config files only through
// what it is given: a lookup function and a path.
package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/broker"
	brokermemory "github.com/microtools/micro/pkg/broker/memory"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
	"github.com/microtools/micro/pkg/broker/rabbitmq"
	"github.com/microtools/micro/pkg/natsconn"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
	"github.com/microtools/micro/pkg/registry/etcd"
	"github.com/microtools/micro/pkg/registry/memory"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// Registry backends.
const (
	RegistryNATS   = "nats"
	RegistryConsul = "consul"
	RegistryEtcd   = "etcd"
	RegistryMemory = "memory"
)

// Broker backends. The empty Broker picks one: memory when the registry is
// memory and no broker address is set, else nats.
const (
	BrokerNATS     = "nats"
	BrokerRabbitMQ = "rabbitmq"
	BrokerMemory   = "memory"
)

// Defaults.
const (
	DefaultRegistry    = RegistryNATS
	DefaultNATSAddress = "nats://127.0.0.1:4222"
	DefaultTimeout     = 10 * time.Second
)

// Environment variables, one per setting.
const (
	EnvRegistry        = "MICRO_REGISTRY"
	EnvRegistryAddress = "MICRO_REGISTRY_ADDRESS"
	EnvBroker          = "MICRO_BROKER"
	EnvRegistryToken   = "MICRO_REGISTRY_TOKEN"
	EnvBrokerAddress   = "MICRO_BROKER_ADDRESS"
	EnvTimeout         = "MICRO_TIMEOUT"
	EnvOutput          = "MICRO_OUTPUT"
	EnvConfig          = "MICRO_CONFIG"
	// EnvEtcdLayout is the etcd layouts to read: a comma-separated list of
	// micro, gomicro, kratos and gozero, or all (the default).
	EnvEtcdLayout = "MICRO_ETCD_LAYOUT"
)

// Environment variables of the registry's credentials and TLS, read by
// ApplyEnv into RegistryUser, RegistryPassword and RegistryTLS. They apply
// to the etcd registry; Consul takes its own CONSUL_HTTP_* variables. The
// micro command line reads them under the flags --registry-user,
// --registry-password, --registry-tls-ca, ...
const (
	EnvRegistryUser        = "MICRO_REGISTRY_USER"
	EnvRegistryPassword    = "MICRO_REGISTRY_PASSWORD"
	EnvRegistryTLSCA       = "MICRO_REGISTRY_TLS_CA"
	EnvRegistryTLSCert     = "MICRO_REGISTRY_TLS_CERT"
	EnvRegistryTLSKey      = "MICRO_REGISTRY_TLS_KEY"
	EnvRegistryTLSInsecure = "MICRO_REGISTRY_TLS_INSECURE"
)

// Environment variables of the broker's credentials and TLS, read by
// ApplyEnv (and so by FromEnv) into BrokerAuth and BrokerTLS. The micro
// command line reads them too, under its flags of the same names (--user,
// --tls-ca, ...). See docs/broker-auth.md.
const (
	EnvBrokerUser        = "MICRO_BROKER_USER"
	EnvBrokerPassword    = "MICRO_BROKER_PASSWORD"
	EnvBrokerToken       = "MICRO_BROKER_TOKEN"
	EnvBrokerCreds       = "MICRO_BROKER_CREDS"
	EnvBrokerNKey        = "MICRO_BROKER_NKEY"
	EnvBrokerTLSCA       = "MICRO_BROKER_TLS_CA"
	EnvBrokerTLSCert     = "MICRO_BROKER_TLS_CERT"
	EnvBrokerTLSKey      = "MICRO_BROKER_TLS_KEY"
	EnvBrokerTLSInsecure = "MICRO_BROKER_TLS_INSECURE"
)

// Config is where the registry and broker are.
type Config struct {
	// Registry is the backend: nats (default), consul, etcd or memory.
	Registry string `json:"registry,omitempty"`
	// RegistryAddress is the backend's address; empty means the backend's
	// default (nats://127.0.0.1:4222, CONSUL_HTTP_ADDR / 127.0.0.1:8500, or
	// 127.0.0.1:2379 for etcd). NATS and etcd take a comma-separated list:
	// the members of a cluster.
	RegistryAddress string `json:"registry-address,omitempty"`
	// RegistryToken is the registry's ACL token (consul); empty means
	// CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN when set, else none.
	RegistryToken string `json:"-"`
	// EtcdLayout is the layouts the etcd registry reads, as
	// etcd.ParseLayouts takes them; empty means all.
	EtcdLayout string `json:"etcd-layout,omitempty"`
	// RegistryUser and RegistryPassword log in to etcd's authentication.
	RegistryUser     string `json:"-"`
	RegistryPassword string `json:"-"`
	// RegistryTLS is the TLS setup of the etcd registry's connection; any
	// field set turns TLS on.
	RegistryTLS RegistryTLS `json:"-"`
	// RegistryWarn is told what the registry skipped but did not fail for,
	// such as a malformed record in etcd. Nil drops it.
	RegistryWarn func(error) `json:"-"`
	// RegistryLazyOpen makes NewRegistry only connect to NATS: the
	// bucket is found at the first operation that needs it, and a read
	// that one direct get answers never needs it
	// (natsregistry.WithLazyOpen). For commands that read the registry
	// and exit; the other backends have nothing to open.
	RegistryLazyOpen bool `json:"-"`
	// Broker is the broker backend: nats, rabbitmq or memory; empty means
	// memory with the memory registry (and no broker address), else nats.
	Broker string `json:"broker,omitempty"`
	// BrokerAddress is the broker's server: for nats, NATS URLs (empty: the
	// registry's NATS server when the registry is nats, else the default);
	// for rabbitmq, amqp://user:password@host:port/vhost (empty:
	// rabbitmq.DefaultURL).
	BrokerAddress string `json:"broker-address,omitempty"`
	// Timeout bounds one operation against the registry or a service.
	Timeout time.Duration `json:"-"`
	// BrokerAuth is the credentials NewBroker presents to NATS: user and
	// password, token, credentials file or nkey seed file.
	BrokerAuth natsconn.Auth `json:"-"`
	// BrokerTLS is the TLS setup of NewBroker's connection; any field set
	// turns TLS on.
	BrokerTLS natsconn.TLS `json:"-"`

	// Env looks up backend-specific variables such as CONSUL_HTTP_TOKEN.
	// Nil means none are set.
	Env func(string) (string, bool) `json:"-"`
}

// RegistryTLS is the TLS setup of the registry's connection.
type RegistryTLS struct {
	// CAFile holds the certificates (PEM) that verify the servers.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key (PEM).
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool
}

func (t RegistryTLS) enabled() bool { return t != RegistryTLS{} }

// Default returns the settings used when nothing else is given.
func Default() Config {
	return Config{Registry: DefaultRegistry, Timeout: DefaultTimeout}
}

// FromEnv returns the defaults overridden by MICRO_* variables found with
// lookup (os.LookupEnv in a program).
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	cfg.Env = lookup
	return cfg.ApplyEnv(lookup)
}

// ApplyEnv returns c overridden by the MICRO_* variables that are set.
func (c Config) ApplyEnv(lookup func(string) (string, bool)) (Config, error) {
	if lookup == nil {
		return c, nil
	}
	if v, ok := lookup(EnvRegistry); ok && v != "" {
		c.Registry = v
	}
	if v, ok := lookup(EnvRegistryAddress); ok && v != "" {
		c.RegistryAddress = v
	}
	if v, ok := lookup(EnvBroker); ok && v != "" {
		c.Broker = v
	}
	if v, ok := lookup(EnvRegistryToken); ok && v != "" {
		c.RegistryToken = v
	}
	if v, ok := lookup(EnvBrokerAddress); ok && v != "" {
		c.BrokerAddress = v
	}
	for _, v := range []struct {
		env    string
		target *string
	}{
		{EnvEtcdLayout, &c.EtcdLayout},
		{EnvRegistryUser, &c.RegistryUser},
		{EnvRegistryPassword, &c.RegistryPassword},
		{EnvRegistryTLSCA, &c.RegistryTLS.CAFile},
		{EnvRegistryTLSCert, &c.RegistryTLS.CertFile},
		{EnvRegistryTLSKey, &c.RegistryTLS.KeyFile},
	} {
		if s, ok := lookup(v.env); ok && s != "" {
			*v.target = s
		}
	}
	if s, ok := lookup(EnvRegistryTLSInsecure); ok && s != "" {
		insecure, err := strconv.ParseBool(s)
		if err != nil {
			return c, fmt.Errorf("config: %s=%q is not a boolean such as true or false", EnvRegistryTLSInsecure, s)
		}
		c.RegistryTLS.InsecureSkipVerify = insecure
	}
	if v, ok := lookup(EnvTimeout); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("config: %s=%q is not a positive duration such as 5s", EnvTimeout, v)
		}
		c.Timeout = d
	}
	var err error
	if c.BrokerAuth, c.BrokerTLS, err = BrokerSecurityFromEnv(lookup, c.BrokerAuth, c.BrokerTLS); err != nil {
		return c, err
	}
	c.Env = lookup
	return c, c.Validate()
}

// BrokerSecurityFromEnv returns auth and tls overridden by the
// MICRO_BROKER_* credential and TLS variables that are set (see
// EnvBrokerUser and the others). A MICRO_BROKER_TLS_INSECURE that is not a
// boolean is an error.
func BrokerSecurityFromEnv(lookup func(string) (string, bool), auth natsconn.Auth, tls natsconn.TLS) (natsconn.Auth, natsconn.TLS, error) {
	if lookup == nil {
		return auth, tls, nil
	}
	for _, v := range []struct {
		env    string
		target *string
	}{
		{EnvBrokerUser, &auth.User},
		{EnvBrokerPassword, &auth.Password},
		{EnvBrokerToken, &auth.Token},
		{EnvBrokerCreds, &auth.CredsFile},
		{EnvBrokerNKey, &auth.NKeySeedFile},
		{EnvBrokerTLSCA, &tls.CAFile},
		{EnvBrokerTLSCert, &tls.CertFile},
		{EnvBrokerTLSKey, &tls.KeyFile},
	} {
		if s, ok := lookup(v.env); ok && s != "" {
			*v.target = s
		}
	}
	if s, ok := lookup(EnvBrokerTLSInsecure); ok && s != "" {
		insecure, err := strconv.ParseBool(s)
		if err != nil {
			return auth, tls, fmt.Errorf("config: %s=%q is not a boolean such as true or false", EnvBrokerTLSInsecure, s)
		}
		tls.InsecureSkipVerify = insecure
	}
	return auth, tls, nil
}

// BrokerSecurityOptions returns the broker options that present auth and
// set up tls: none for the zero values.
func BrokerSecurityOptions(auth natsconn.Auth, tls natsconn.TLS) []natsbroker.Option {
	var opts []natsbroker.Option
	if auth.User != "" || auth.Password != "" {
		opts = append(opts, natsbroker.WithUserInfo(auth.User, auth.Password))
	}
	if auth.Token != "" {
		opts = append(opts, natsbroker.WithToken(auth.Token))
	}
	if auth.CredsFile != "" {
		opts = append(opts, natsbroker.WithCredsFile(auth.CredsFile))
	}
	if auth.NKeySeedFile != "" {
		opts = append(opts, natsbroker.WithNKeySeedFile(auth.NKeySeedFile))
	}
	if tls != (natsconn.TLS{}) {
		opts = append(opts, natsbroker.WithTLS(tls))
	}
	return opts
}

// File is the shape of a config file: JSON with the global flag names as keys.
type File struct {
	Registry        string `json:"registry,omitempty"`
	RegistryAddress string `json:"registry-address,omitempty"`
	Broker          string `json:"broker,omitempty"`
	BrokerAddress   string `json:"broker-address,omitempty"`
	EtcdLayout      string `json:"etcd-layout,omitempty"`
	Timeout         string `json:"timeout,omitempty"`
	Output          string `json:"output,omitempty"`
}

// ReadFile reads a config file. A file that does not exist is not an error:
// it returns an empty File.
func ReadFile(path string) (File, error) {
	var f File
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("config: %s: %w", path, err)
	}
	return f, nil
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	switch c.Registry {
	case RegistryNATS, RegistryConsul, RegistryEtcd, RegistryMemory:
	default:
		return fmt.Errorf("config: unknown registry %q: use nats, consul, etcd or memory", c.Registry)
	}
	if c.EtcdLayout != "" {
		if _, err := etcd.ParseLayouts(c.EtcdLayout); err != nil {
			return fmt.Errorf("config: etcd layout: %w", err)
		}
	}
	if c.Registry != RegistryEtcd && (c.RegistryUser != "" || c.RegistryPassword != "" || c.RegistryTLS.enabled()) {
		return fmt.Errorf("config: registry user, password and TLS settings apply to the etcd registry, not %s (Consul reads CONSUL_HTTP_TOKEN, CONSUL_CACERT and the other CONSUL_* variables)", c.Registry)
	}
	if (c.RegistryUser == "") != (c.RegistryPassword == "") {
		return fmt.Errorf("config: the etcd registry needs both a user and a password (%s, %s), not one", EnvRegistryUser, EnvRegistryPassword)
	}
	switch c.Broker {
	case "", BrokerNATS, BrokerRabbitMQ, BrokerMemory:
	default:
		return fmt.Errorf("config: unknown broker %q: use nats, rabbitmq or memory", c.Broker)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("config: timeout %s must be positive", c.Timeout)
	}
	return nil
}

// BrokerKind is the broker backend NewBroker makes: Broker, or for an empty
// Broker memory when the registry is memory and no broker address is set,
// else nats.
func (c Config) BrokerKind() string {
	switch {
	case c.Broker != "":
		return c.Broker
	case c.Registry == RegistryMemory && c.BrokerAddress == "":
		return BrokerMemory
	default:
		return BrokerNATS
	}
}

// NATSAddress is the NATS server of the registry when it is nats.
func (c Config) NATSAddress() string {
	if c.RegistryAddress != "" {
		return natsURL(c.RegistryAddress)
	}
	return DefaultNATSAddress
}

// BrokerURL is the server the broker connects to: NATS URLs, or for
// rabbitmq the AMQP URL (with its credentials; do not print it).
func (c Config) BrokerURL() string {
	if c.BrokerKind() == BrokerRabbitMQ {
		if c.BrokerAddress != "" {
			return c.BrokerAddress
		}
		return rabbitmq.DefaultURL
	}
	switch {
	case c.BrokerAddress != "":
		return natsURL(c.BrokerAddress)
	case c.Registry == RegistryNATS:
		return c.NATSAddress()
	default:
		return DefaultNATSAddress
	}
}

// natsURL accepts host:port as well as URLs, and lists separated by commas.
func natsURL(addr string) string {
	parts := strings.Split(addr, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// NewRegistry connects to the registry c names. The result implements
// io.Closer for backends that hold a connection; close it when done.
func (c Config) NewRegistry(ctx context.Context) (registry.Registry, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Registry {
	case RegistryMemory:
		return memory.New(), nil
	case RegistryConsul:
		opts := consul.EnvOptions(c.lookup)
		if c.RegistryAddress != "" {
			opts = append(opts, consul.Address(c.RegistryAddress))
		}
		if c.RegistryToken != "" {
			opts = append(opts, consul.Token(c.RegistryToken))
		}
		if warn := c.RegistryWarn; warn != nil {
			opts = append(opts, consul.OnFailover(func(f consul.Failover) { warn(errors.New(f.String())) }))
		}
		r, err := consul.New(opts...)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return r, nil
	case RegistryEtcd:
		connectCtx, cancel := context.WithTimeout(ctx, c.Timeout)
		defer cancel()
		r, err := etcd.New(connectCtx, c.EtcdOptions()...)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return r, nil
	default:
		connectCtx, cancel := context.WithTimeout(ctx, c.Timeout)
		defer cancel()
		opts := []natsregistry.Option{natsregistry.WithURL(c.NATSAddress()), natsReconnectReport(c.RegistryWarn)}
		if c.RegistryLazyOpen {
			opts = append(opts, natsregistry.WithLazyOpen())
		}
		r, err := natsregistry.New(connectCtx, opts...)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return r, nil
	}
}

// EtcdOptions are the etcd registry options c asks for: endpoints, layouts,
// credentials, TLS and the warning function.
func (c Config) EtcdOptions() []etcd.Option {
	var opts []etcd.Option
	if c.RegistryAddress != "" {
		opts = append(opts, etcd.WithEndpoints(c.RegistryAddress))
	}
	if c.EtcdLayout != "" {
		layouts, err := etcd.ParseLayouts(c.EtcdLayout)
		opts = append(opts, func(o *etcd.Options) error {
			if err != nil {
				return err
			}
			return etcd.WithLayouts(layouts...)(o)
		})
	}
	if c.RegistryUser != "" || c.RegistryPassword != "" {
		opts = append(opts, etcd.WithAuth(c.RegistryUser, c.RegistryPassword))
	}
	if c.RegistryTLS.enabled() {
		opts = append(opts, etcd.WithTLS(etcd.TLSOptions{
			CAFile:             c.RegistryTLS.CAFile,
			CertFile:           c.RegistryTLS.CertFile,
			KeyFile:            c.RegistryTLS.KeyFile,
			InsecureSkipVerify: c.RegistryTLS.InsecureSkipVerify,
		}))
	}
	if c.RegistryWarn != nil {
		opts = append(opts, etcd.WithOnError(c.RegistryWarn))
	}
	return opts
}

// BrokerOption adds to what NewBroker gives the broker it makes, whichever
// backend that is.
type BrokerOption func(*brokerOptions)

type brokerOptions struct {
	logger   *slog.Logger
	onEvent  func(broker.Event)
	security *brokerSecurity
	nats     []natsbroker.Option
	rabbitmq []rabbitmq.Option
}

type brokerSecurity struct {
	auth natsconn.Auth
	tls  natsconn.TLS
}

// WithBrokerLogger has the broker log its diagnostics to logger.
func WithBrokerLogger(logger *slog.Logger) BrokerOption {
	return func(o *brokerOptions) { o.logger = logger }
}

// WithBrokerEvents has fn told of each disconnect, reconnect and
// asynchronous error of the broker's connection (NATS or RabbitMQ).
func WithBrokerEvents(fn func(broker.Event)) BrokerOption {
	return func(o *brokerOptions) { o.onEvent = fn }
}

// WithBrokerSecurity presents auth and sets up tls instead of BrokerAuth and
// BrokerTLS. RabbitMQ takes a user and password (they replace the URL's)
// and TLS files for amqps:// URLs; a token, credentials or nkey file is an
// error there.
func WithBrokerSecurity(auth natsconn.Auth, tls natsconn.TLS) BrokerOption {
	return func(o *brokerOptions) { o.security = &brokerSecurity{auth: auth, tls: tls} }
}

// WithNATSOptions adds options for a NATS broker, applied last.
func WithNATSOptions(opts ...natsbroker.Option) BrokerOption {
	return func(o *brokerOptions) { o.nats = append(o.nats, opts...) }
}

// WithRabbitMQOptions adds options for a RabbitMQ broker, applied last.
func WithRabbitMQOptions(opts ...rabbitmq.Option) BrokerOption {
	return func(o *brokerOptions) { o.rabbitmq = append(o.rabbitmq, opts...) }
}

// NewBroker connects to the broker c names (see BrokerKind): NATS at
// BrokerURL, RabbitMQ at BrokerURL, or an in-process broker. The broker gets
// the URL, then BrokerAuth and BrokerTLS (or WithBrokerSecurity's), the
// logger and event handler, then the backend's own options, so that those
// win. Close the result when done.
func (c Config) NewBroker(ctx context.Context, opts ...BrokerOption) (broker.Broker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var o brokerOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	sec := brokerSecurity{auth: c.BrokerAuth, tls: c.BrokerTLS}
	if o.security != nil {
		sec = *o.security
	}
	connectCtx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	switch c.BrokerKind() {
	case BrokerMemory:
		return brokermemory.New(), nil
	case BrokerRabbitMQ:
		all, err := rabbitMQOptions(c.BrokerURL(), sec, o)
		if err != nil {
			return nil, err
		}
		b, err := rabbitmq.New(connectCtx, all...)
		if err != nil {
			return nil, err // not a nil *rabbitmq.Broker in a non-nil interface
		}
		return b, nil
	}
	all := append([]natsbroker.Option{natsbroker.WithURL(c.BrokerURL())}, BrokerSecurityOptions(sec.auth, sec.tls)...)
	if o.logger != nil {
		all = append(all, natsbroker.WithLogger(o.logger))
	}
	if fn := o.onEvent; fn != nil {
		all = append(all, natsbroker.WithEventHandler(fn))
	}
	b, err := natsbroker.New(connectCtx, append(all, o.nats...)...)
	if err != nil {
		return nil, err // not a nil *natsbroker.Broker in a non-nil interface
	}
	return b, nil
}

// rabbitMQOptions are the options of a RabbitMQ broker at url.
func rabbitMQOptions(url string, sec brokerSecurity, o brokerOptions) ([]rabbitmq.Option, error) {
	all := []rabbitmq.Option{rabbitmq.WithURL(url)}
	switch {
	case sec.auth.Token != "", sec.auth.CredsFile != "", sec.auth.NKeySeedFile != "":
		return nil, errors.New("config: rabbitmq takes a user and password (in the broker address, or MICRO_BROKER_USER and MICRO_BROKER_PASSWORD), not a token, credentials file or nkey")
	case sec.auth.User != "":
		all = append(all, rabbitmq.WithUserInfo(sec.auth.User, sec.auth.Password))
	}
	if sec.tls != (natsconn.TLS{}) {
		cfg, err := tlsConfig(sec.tls)
		if err != nil {
			return nil, err
		}
		all = append(all, rabbitmq.WithTLS(cfg))
	}
	if o.logger != nil {
		all = append(all, rabbitmq.WithLogger(o.logger))
	}
	if o.onEvent != nil {
		all = append(all, rabbitmq.WithEventHandler(o.onEvent))
	}
	return append(all, o.rabbitmq...), nil
}

// tlsConfig builds the TLS setup of t's files.
func tlsConfig(t natsconn.TLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // asked for, tests only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("config: broker tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("config: broker tls ca %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: broker tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (c Config) lookup(key string) (string, bool) {
	if c.Env == nil {
		return "", false
	}
	return c.Env(key)
}

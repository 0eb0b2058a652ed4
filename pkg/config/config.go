// Package config holds the settings every micro command and service shares —
// which registry and broker to use and where they are — and builds the
// registry they name. It reads the environment and config files only through
// what it is given: a lookup function and a path.
package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/broker"
	brokermemory "github.com/microtools/micro/pkg/broker/memory"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
	"github.com/microtools/micro/pkg/natsconn"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
	"github.com/microtools/micro/pkg/registry/memory"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// Registry backends.
const (
	RegistryNATS   = "nats"
	RegistryConsul = "consul"
	RegistryMemory = "memory"
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
	EnvRegistryToken   = "MICRO_REGISTRY_TOKEN"
	EnvBrokerAddress   = "MICRO_BROKER_ADDRESS"
	EnvTimeout         = "MICRO_TIMEOUT"
	EnvOutput          = "MICRO_OUTPUT"
	EnvConfig          = "MICRO_CONFIG"
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
	// Registry is the backend: nats (default), consul or memory.
	Registry string `json:"registry,omitempty"`
	// RegistryAddress is the backend's address; empty means the backend's
	// default (nats://127.0.0.1:4222, or CONSUL_HTTP_ADDR / 127.0.0.1:8500).
	RegistryAddress string `json:"registry-address,omitempty"`
	// RegistryToken is the registry's ACL token (consul); empty means
	// CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN when set, else none.
	RegistryToken string `json:"-"`
	// BrokerAddress is the NATS server of the broker; empty means the
	// registry's NATS server when the registry is nats, else the default.
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
	if v, ok := lookup(EnvRegistryToken); ok && v != "" {
		c.RegistryToken = v
	}
	if v, ok := lookup(EnvBrokerAddress); ok && v != "" {
		c.BrokerAddress = v
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
	BrokerAddress   string `json:"broker-address,omitempty"`
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
	case RegistryNATS, RegistryConsul, RegistryMemory:
	default:
		return fmt.Errorf("config: unknown registry %q: use nats, consul or memory", c.Registry)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("config: timeout %s must be positive", c.Timeout)
	}
	return nil
}

// NATSAddress is the NATS server of the registry when it is nats.
func (c Config) NATSAddress() string {
	if c.RegistryAddress != "" {
		return natsURL(c.RegistryAddress)
	}
	return DefaultNATSAddress
}

// BrokerURL is the NATS server the broker connects to.
func (c Config) BrokerURL() string {
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
		r, err := consul.New(opts...)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return r, nil
	default:
		connectCtx, cancel := context.WithTimeout(ctx, c.Timeout)
		defer cancel()
		r, err := natsregistry.New(connectCtx, natsregistry.WithURL(c.NATSAddress()))
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return r, nil
	}
}

// NewBroker connects to the broker c names: NATS at BrokerURL, or an
// in-process broker when the registry is memory and no broker address is
// set, so that everything runs in one process. The NATS broker gets the
// URL, then BrokerAuth and BrokerTLS, then opts (credentials, TLS, an event
// handler), so that opts win. Close the result when done.
func (c Config) NewBroker(ctx context.Context, opts ...natsbroker.Option) (broker.Broker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Registry == RegistryMemory && c.BrokerAddress == "" {
		return brokermemory.New(), nil
	}
	connectCtx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	all := append([]natsbroker.Option{natsbroker.WithURL(c.BrokerURL())}, BrokerSecurityOptions(c.BrokerAuth, c.BrokerTLS)...)
	b, err := natsbroker.New(connectCtx, append(all, opts...)...)
	if err != nil {
		return nil, err // not a nil *natsbroker.Broker in a non-nil interface
	}
	return b, nil
}

func (c Config) lookup(key string) (string, bool) {
	if c.Env == nil {
		return "", false
	}
	return c.Env(key)
}

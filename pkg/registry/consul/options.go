package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// DefaultAddress is the agent address used when none is given.
const DefaultAddress = "127.0.0.1:8500"

// defaultPort is added to an address given without one.
const defaultPort = "8500"

// Options configure New. Build them with Option functions; the zero value
// talks plain HTTP to DefaultAddress with no token.
type Options struct {
	// Address of the agent's HTTP API: "host:port", "host" (port 8500), or a
	// URL "http://host:port", "https://host:port" (TLS) or "unix:///path".
	Address string
	// Token is the ACL token sent with every request.
	Token string
	// TokenFile is a file holding the ACL token, read by New (surrounding
	// white space removed). Token and TokenFile exclude each other: the
	// option given last wins.
	TokenFile string
	// Datacenter to query; empty means the agent's own.
	Datacenter string
	// Namespace and Partition scope every request (Consul Enterprise);
	// empty means the token's default.
	Namespace string
	Partition string
	// TLS configures HTTPS to the agent.
	TLS TLSOptions
	// Config, when set, is the starting point of the Consul client
	// configuration: the fields above override the matching fields of a copy
	// of it, and everything else (transport, HTTP client, path prefix,
	// namespace, wait time, ...) is used as given. With its own HttpClient
	// the client is used as is, so TLS settings must then be part of it.
	Config *api.Config
	// OnFailover, when set, is told each time the registry moves from one
	// agent of several to another (see Address). Nil reports nothing.
	OnFailover FailoverHandler
}

// TLSOptions configure HTTPS to the agent, mapped onto api.TLSConfig.
type TLSOptions struct {
	// Enabled selects HTTPS. An "https://" address enables it too.
	Enabled bool
	// CAFile is a PEM file of the CA that signed the agent's certificate;
	// the system roots are used when empty (and CAPath is empty).
	CAFile string
	// CAPath is a directory of PEM CA certificates, used as CAFile is.
	CAPath string
	// CertFile and KeyFile are the client certificate and key, for agents
	// that verify clients. Both or neither.
	CertFile string
	KeyFile  string
	// ServerName is the name expected in the agent's certificate when it is
	// not the host of Address.
	ServerName string
	// InsecureSkipVerify accepts any certificate: for tests only.
	InsecureSkipVerify bool
}

// Option changes Options. An option that cannot apply returns an error, which
// New returns.
type Option func(*Options) error

// Address sets the agent's HTTP API address: "host:port", "host" (port 8500)
// or a URL with scheme http, https or unix; or several agents of one
// cluster separated by commas, over which the registry fails over (see
// Failover).
func Address(addr string) Option {
	return func(o *Options) error {
		if _, err := normalizeAgents(addr); err != nil {
			return err
		}
		o.Address = addr
		return nil
	}
}

// Token sets the ACL token sent with every request, in place of a TokenFile
// given before.
func Token(token string) Option {
	return func(o *Options) error {
		o.Token, o.TokenFile = token, ""
		return nil
	}
}

// TokenFile names a file holding the ACL token, in place of a Token given
// before. New reads it; a file it cannot read is an error, an empty one means
// no token, as for the consul command.
func TokenFile(path string) Option {
	return func(o *Options) error {
		if path == "" {
			return errors.New("consul registry: empty token file name")
		}
		o.TokenFile, o.Token = path, ""
		return nil
	}
}

// Namespace sets the Consul Enterprise namespace of every request.
func Namespace(ns string) Option {
	return func(o *Options) error {
		o.Namespace = ns
		return nil
	}
}

// Partition sets the Consul Enterprise admin partition of every request.
func Partition(partition string) Option {
	return func(o *Options) error {
		o.Partition = partition
		return nil
	}
}

// Datacenter sets the datacenter to query.
func Datacenter(dc string) Option {
	return func(o *Options) error {
		o.Datacenter = dc
		return nil
	}
}

// UseTLS selects HTTPS (true) or plain HTTP (false) to the agent.
func UseTLS(enabled bool) Option {
	return func(o *Options) error {
		o.TLS.Enabled = enabled
		return nil
	}
}

// CAFile sets the PEM file of the CA that signed the agent's certificate.
func CAFile(path string) Option {
	return func(o *Options) error {
		if path == "" {
			return errors.New("consul registry: empty CA file name")
		}
		o.TLS.CAFile = path
		return nil
	}
}

// CAPath sets a directory of PEM certificates of CAs that may have signed the
// agent's certificate.
func CAPath(dir string) Option {
	return func(o *Options) error {
		if dir == "" {
			return errors.New("consul registry: empty CA directory name")
		}
		o.TLS.CAPath = dir
		return nil
	}
}

// ClientCert sets the client certificate and key files.
func ClientCert(certFile, keyFile string) Option {
	return func(o *Options) error {
		if certFile == "" || keyFile == "" {
			return fmt.Errorf("consul registry: client certificate %q and key %q: both are needed", certFile, keyFile)
		}
		o.TLS.CertFile, o.TLS.KeyFile = certFile, keyFile
		return nil
	}
}

// TLSServerName sets the name expected in the agent's certificate.
func TLSServerName(name string) Option {
	return func(o *Options) error {
		o.TLS.ServerName = name
		return nil
	}
}

// InsecureSkipVerify turns certificate verification off (true) or on.
func InsecureSkipVerify(skip bool) Option {
	return func(o *Options) error {
		o.TLS.InsecureSkipVerify = skip
		return nil
	}
}

// Config sets the Consul client configuration the other options start from;
// see Options.Config.
func Config(cfg *api.Config) Option {
	return func(o *Options) error {
		if cfg == nil {
			return errors.New("consul registry: nil api.Config")
		}
		o.Config = cfg
		return nil
	}
}

// EnvOptions returns the options that Consul's environment variables ask for,
// looked up with lookup (os.LookupEnv in a command; a map in tests). It reads
// CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE,
// CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CAPATH, CONSUL_CLIENT_CERT,
// CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL_VERIFY,
// CONSUL_NAMESPACE and CONSUL_PARTITION, with the meaning the consul command
// gives them: CONSUL_HTTP_TOKEN_FILE wins over CONSUL_HTTP_TOKEN. Variables
// that are unset or empty give no option; a value that cannot be used gives
// an option that fails, so New reports it. Put options from flags after
// these so that flags win.
func EnvOptions(lookup func(string) (string, bool)) []Option {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var opts []Option
	if v := get(api.HTTPAddrEnvName); v != "" {
		opts = append(opts, envOption(api.HTTPAddrEnvName, v, Address(v)))
	}
	if v := get(api.HTTPTokenEnvName); v != "" {
		opts = append(opts, Token(v))
	}
	if v := get(api.HTTPTokenFileEnvName); v != "" {
		opts = append(opts, TokenFile(v))
	}
	if v := get(api.HTTPSSLEnvName); v != "" {
		opts = append(opts, envBool(api.HTTPSSLEnvName, v, UseTLS))
	}
	if v := get(api.HTTPCAFile); v != "" {
		opts = append(opts, CAFile(v))
	}
	if v := get(api.HTTPCAPath); v != "" {
		opts = append(opts, CAPath(v))
	}
	cert, key := get(api.HTTPClientCert), get(api.HTTPClientKey)
	if cert != "" || key != "" {
		opts = append(opts, envOption(api.HTTPClientCert+" and "+api.HTTPClientKey, cert+" "+key, ClientCert(cert, key)))
	}
	if v := get(api.HTTPTLSServerName); v != "" {
		opts = append(opts, TLSServerName(v))
	}
	if v := get(api.HTTPSSLVerifyEnvName); v != "" {
		opts = append(opts, envBool(api.HTTPSSLVerifyEnvName, v, func(verify bool) Option { return InsecureSkipVerify(!verify) }))
	}
	if v := get(api.HTTPNamespaceEnvName); v != "" {
		opts = append(opts, Namespace(v))
	}
	if v := get(api.HTTPPartitionEnvName); v != "" {
		opts = append(opts, Partition(v))
	}
	return opts
}

// envOption names the variable when opt fails.
func envOption(name, value string, opt Option) Option {
	return func(o *Options) error {
		if err := opt(o); err != nil {
			return fmt.Errorf("%s=%q: %w", name, value, err)
		}
		return nil
	}
}

func envBool(name, value string, opt func(bool) Option) Option {
	b, err := strconv.ParseBool(value)
	if err != nil {
		return func(*Options) error {
			return fmt.Errorf("consul registry: %s=%q: want true or false", name, value)
		}
	}
	return opt(b)
}

// normalizeAddress checks addr and returns it as "host:port" (a port added
// when missing) or as the URL given.
func normalizeAddress(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("consul registry: empty agent address")
	}
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch scheme {
		case "http", "https":
			u, err := url.Parse(addr)
			if err != nil || u.Host == "" {
				return "", fmt.Errorf("consul registry: agent address %q: want %s://host:port", addr, scheme)
			}
			return addr, nil
		case "unix":
			if rest == "" {
				return "", fmt.Errorf("consul registry: agent address %q: want unix:///path/to/socket", addr)
			}
			return addr, nil
		default:
			return "", fmt.Errorf("consul registry: agent address %q: unsupported scheme %q (want host:port, http://, https:// or unix://)", addr, scheme)
		}
	}
	if ip := net.ParseIP(strings.Trim(addr, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), defaultPort), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return net.JoinHostPort(addr, defaultPort), nil
		}
		return "", fmt.Errorf("consul registry: agent address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("consul registry: agent address %q: bad port %q", addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// clientConfig builds the Consul client configuration from o. It returns the
// address to show in messages too.
//
// api.NewClient falls back to the CONSUL_* environment for fields left empty.
// This package must not read the environment, so the HTTP client built here
// sends exactly the token, namespace and partition that o asks for (see
// pinnedTransport); a caller's own Config.HttpClient is used as is.
func (o *Options) clientConfig() (*api.Config, string, error) {
	cfg := &api.Config{}
	if o.Config != nil {
		copied := *o.Config
		cfg = &copied
	}
	addr := o.Address
	if addr == "" {
		addr = cfg.Address
	}
	if addr == "" {
		addr = DefaultAddress
	}
	display, err := normalizeAddress(addr)
	if err != nil {
		return nil, "", err
	}

	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	if o.TLS.Enabled {
		cfg.Scheme = "https"
	}
	if o.Token != "" {
		cfg.Token, cfg.TokenFile = o.Token, ""
	}
	if o.TokenFile != "" {
		data, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, "", fmt.Errorf("consul registry: ACL token file: %w", err)
		}
		cfg.Token, cfg.TokenFile = strings.TrimSpace(string(data)), ""
	}
	if o.Datacenter != "" {
		cfg.Datacenter = o.Datacenter
	}
	if o.Namespace != "" {
		cfg.Namespace = o.Namespace
	}
	if o.Partition != "" {
		cfg.Partition = o.Partition
	}
	tlsCfg := &cfg.TLSConfig
	if o.TLS.CAFile != "" {
		tlsCfg.CAFile = o.TLS.CAFile
	}
	if o.TLS.CAPath != "" {
		tlsCfg.CAPath = o.TLS.CAPath
	}
	if o.TLS.CertFile != "" {
		tlsCfg.CertFile, tlsCfg.KeyFile = o.TLS.CertFile, o.TLS.KeyFile
	}
	if o.TLS.ServerName != "" {
		tlsCfg.Address = o.TLS.ServerName
	}
	if o.TLS.InsecureSkipVerify {
		tlsCfg.InsecureSkipVerify = true
	}

	var dialUnix string
	if path, ok := strings.CutPrefix(display, "unix://"); ok {
		// api.NewClient would replace our HTTP client for a unix socket;
		// dial the socket ourselves and give it a placeholder host.
		dialUnix = path
		cfg.Address = "localhost"
		cfg.Scheme = "http"
	} else {
		cfg.Address = display
	}

	if cfg.HttpClient == nil {
		transport := cfg.Transport
		if transport == nil {
			transport = defaultTransport()
		} else {
			transport = transport.Clone()
		}
		if dialUnix != "" {
			transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", dialUnix)
			}
		}
		httpClient, err := api.NewHttpClient(transport, *tlsCfg)
		if err != nil {
			return nil, "", fmt.Errorf("consul registry: TLS settings for consul at %s: %w", display, err)
		}
		httpClient.Transport = &pinnedTransport{
			base:      transport,
			token:     cfg.Token,
			namespace: cfg.Namespace,
			partition: cfg.Partition,
		}
		cfg.HttpClient = httpClient
		cfg.Transport = transport
		// api.NewClient reads CONSUL_HTTP_TOKEN_FILE when it is given no
		// token, or CONSUL_HTTP_TOKEN's own, and fails when that file is
		// missing. Give it a token of ours; the transport sends the real one.
		cfg.Token, cfg.TokenFile = placeholderToken, ""
	}
	return cfg, display, nil
}

// defaultTransport is a pooled transport with no proxy: a proxy would come
// from the environment, which this package does not read. Give
// Options.Config a Transport to use one.
func defaultTransport() *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// pinnedTransport makes every request carry the token, namespace and
// partition this package was configured with, and nothing that api.NewClient
// picked up from the environment (it reads CONSUL_HTTP_TOKEN_FILE even over
// a token it was given).
type pinnedTransport struct {
	base                        http.RoundTripper
	token, namespace, partition string
}

// placeholderToken is the token api.NewClient is given when the HTTP client
// is ours: pinnedTransport replaces it with the one configured, or none.
const placeholderToken = "micro-pinned-token"

// tokenHeader is the header that carries the ACL token.
const tokenHeader = "X-Consul-Token"

func (p *pinnedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	if p.token == "" {
		out.Header.Del(tokenHeader)
	} else {
		out.Header.Set(tokenHeader, p.token)
	}
	query := out.URL.Query()
	changed := false
	for _, param := range []struct{ name, value string }{{"ns", p.namespace}, {"partition", p.partition}} {
		switch {
		case param.value == "" && query.Has(param.name):
			query.Del(param.name)
			changed = true
		case param.value != "" && query.Get(param.name) != param.value:
			query.Set(param.name, param.value)
			changed = true
		}
	}
	if changed {
		out.URL.RawQuery = query.Encode()
	}
	return p.base.RoundTrip(out)
}

// pinnedOf returns the pinnedTransport of a configuration clientConfig made.
func pinnedOf(cfg *api.Config) (*pinnedTransport, bool) {
	if cfg.HttpClient == nil {
		return nil, false
	}
	p, ok := cfg.HttpClient.Transport.(*pinnedTransport)
	return p, ok
}

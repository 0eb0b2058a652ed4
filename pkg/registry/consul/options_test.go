package consul_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/pkg/registry/consul"
)

func apply(t *testing.T, opts []consul.Option) (consul.Options, error) {
	t.Helper()
	var o consul.Options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

func TestEnvOptions(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    consul.Options
		wantErr string
	}{
		{name: "nothing set", env: nil, want: consul.Options{}},
		{
			name: "everything",
			env: map[string]string{
				api.HTTPAddrEnvName:       "https://consul.example:8501",
				api.HTTPTokenEnvName:      "secret",
				api.HTTPSSLEnvName:        "true",
				api.HTTPCAFile:            "/etc/consul/ca.pem",
				api.HTTPClientCert:        "/etc/consul/cert.pem",
				api.HTTPClientKey:         "/etc/consul/key.pem",
				api.HTTPTLSServerName:     "server.dc1.consul",
				api.HTTPSSLVerifyEnvName:  "false",
				api.HTTPCAPath:            "/etc/consul/ca.d",
				api.HTTPNamespaceEnvName:  "team-a",
				api.HTTPPartitionEnvName:  "part-1",
				"CONSUL_HTTP_TOKEN_OTHER": "ignored",
			},
			want: consul.Options{
				Address:   "https://consul.example:8501",
				Token:     "secret",
				Namespace: "team-a",
				Partition: "part-1",
				TLS: consul.TLSOptions{
					Enabled:            true,
					CAFile:             "/etc/consul/ca.pem",
					CAPath:             "/etc/consul/ca.d",
					CertFile:           "/etc/consul/cert.pem",
					KeyFile:            "/etc/consul/key.pem",
					ServerName:         "server.dc1.consul",
					InsecureSkipVerify: true,
				},
			},
		},
		{
			// As for the consul command: the token file wins over the token.
			name: "token file wins over token",
			env:  map[string]string{api.HTTPTokenEnvName: "secret", api.HTTPTokenFileEnvName: "/run/consul/token"},
			want: consul.Options{TokenFile: "/run/consul/token"},
		},
		{
			name: "empty values count as unset",
			env:  map[string]string{api.HTTPAddrEnvName: " ", api.HTTPTokenEnvName: ""},
			want: consul.Options{},
		},
		{
			name: "verify on, ssl off",
			env:  map[string]string{api.HTTPSSLEnvName: "0", api.HTTPSSLVerifyEnvName: "1"},
			want: consul.Options{},
		},
		{
			name:    "bad boolean",
			env:     map[string]string{api.HTTPSSLEnvName: "yes please"},
			wantErr: `CONSUL_HTTP_SSL="yes please"`,
		},
		{
			name:    "cert without key",
			env:     map[string]string{api.HTTPClientCert: "/cert.pem"},
			wantErr: "CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY",
		},
		{
			name:    "bad address",
			env:     map[string]string{api.HTTPAddrEnvName: "ftp://x"},
			wantErr: `CONSUL_HTTP_ADDR="ftp://x"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) {
				v, ok := c.env[name]
				return v, ok
			}
			have, err := apply(t, consul.EnvOptions(lookup))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error naming %s, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if have != c.want {
				t.Errorf("want %+v\nhave %+v", c.want, have)
			}
		})
	}
}

func TestNewAddress(t *testing.T) {
	cases := []struct {
		name    string
		opts    []consul.Option
		want    string
		wantErr string
	}{
		{name: "default", want: "consul at 127.0.0.1:8500"},
		{name: "host and port", opts: []consul.Option{consul.Address("10.1.2.3:9500")}, want: "consul at 10.1.2.3:9500"},
		{name: "host only", opts: []consul.Option{consul.Address("consul.local")}, want: "consul at consul.local:8500"},
		{name: "ipv6 only", opts: []consul.Option{consul.Address("::1")}, want: "consul at [::1]:8500"},
		{name: "url", opts: []consul.Option{consul.Address("http://127.0.0.1:8500")}, want: "consul at http://127.0.0.1:8500"},
		{name: "https url", opts: []consul.Option{consul.Address("https://consul:8501")}, want: "consul at https://consul:8501"},
		{name: "unix socket", opts: []consul.Option{consul.Address("unix:///run/consul.sock")}, want: "consul at unix:///run/consul.sock"},
		{name: "later option wins", opts: []consul.Option{consul.Address("a:1"), consul.Address("b:2")}, want: "consul at b:2"},
		{name: "from config", opts: []consul.Option{consul.Config(&api.Config{Address: "cfg:8600"})}, want: "consul at cfg:8600"},
		{name: "empty", opts: []consul.Option{consul.Address("")}, wantErr: "empty agent address"},
		{name: "bad scheme", opts: []consul.Option{consul.Address("ftp://x")}, wantErr: `unsupported scheme "ftp"`},
		{name: "bad port", opts: []consul.Option{consul.Address("host:99999")}, wantErr: `bad port "99999"`},
		{name: "nil config", opts: []consul.Option{consul.Config(nil)}, wantErr: "nil api.Config"},
		{name: "missing CA file", opts: []consul.Option{consul.UseTLS(true), consul.CAFile("/does/not/exist.pem")}, wantErr: "TLS settings"},
		{name: "missing CA directory", opts: []consul.Option{consul.UseTLS(true), consul.CAPath("/does/not/exist.d")}, wantErr: "TLS settings"},
		{name: "missing token file", opts: []consul.Option{consul.TokenFile("/does/not/exist.token")}, wantErr: "ACL token file: open /does/not/exist.token"},
		{name: "empty token file name", opts: []consul.Option{consul.TokenFile("")}, wantErr: "empty token file name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := consul.New(c.opts...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error containing %q, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if have := r.String(); have != c.want {
				t.Errorf("want %q, have %q", c.want, have)
			}
		})
	}
}

// TestNoEnvironment checks that the settings api.NewClient would take from
// the environment do not reach the agent: only the options count.
func TestNoEnvironment(t *testing.T) {
	type seen struct{ token, namespace, partition string }
	requests := make(chan seen, 16)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests <- seen{req.Header.Get("X-Consul-Token"), req.URL.Query().Get("ns"), req.URL.Query().Get("partition")}
		w.Header().Set("X-Consul-Index", "1")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(agent.Close)

	t.Setenv(api.HTTPAddrEnvName, "192.0.2.1:1")
	t.Setenv(api.HTTPTokenEnvName, "from-env")
	t.Setenv(api.HTTPNamespaceEnvName, "env-ns")
	t.Setenv(api.HTTPPartitionEnvName, "env-partition")

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	envTokenFile := filepath.Join(dir, "env-token")
	for path, token := range map[string]string{tokenFile: " from-file\n", envTokenFile: "from-env-file"} {
		if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name string
		opts []consul.Option
		env  map[string]string
		want seen
	}{
		{name: "no token", opts: nil, want: seen{}},
		{name: "token option", opts: []consul.Option{consul.Token("mine")}, want: seen{token: "mine"}},
		{name: "namespace from config", opts: []consul.Option{consul.Config(&api.Config{Namespace: "cfg-ns"})}, want: seen{namespace: "cfg-ns"}},
		{name: "namespace and partition options", opts: []consul.Option{consul.Namespace("ns-1"), consul.Partition("p-1")}, want: seen{namespace: "ns-1", partition: "p-1"}},
		{name: "token file option", opts: []consul.Option{consul.TokenFile(tokenFile)}, want: seen{token: "from-file"}},
		{name: "token after token file", opts: []consul.Option{consul.TokenFile(tokenFile), consul.Token("flag")}, want: seen{token: "flag"}},
		// api.NewClient reads CONSUL_HTTP_TOKEN_FILE over a token it is
		// given when that token is CONSUL_HTTP_TOKEN's; the token given must
		// still be the one sent.
		{name: "token option over env token file", opts: []consul.Option{consul.Token("mine")}, env: map[string]string{api.HTTPTokenEnvName: "mine", api.HTTPTokenFileEnvName: envTokenFile}, want: seen{token: "mine"}},
		// Nor may a CONSUL_HTTP_TOKEN_FILE that does not exist fail New.
		{name: "missing env token file", env: map[string]string{api.HTTPTokenFileEnvName: filepath.Join(dir, "missing")}, want: seen{}},
		{name: "env token over missing env token file", opts: []consul.Option{consul.Token("from-env")}, env: map[string]string{api.HTTPTokenFileEnvName: filepath.Join(dir, "missing")}, want: seen{token: "from-env"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r, err := consul.New(append(c.opts, consul.Address(agent.URL))...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.ListServices(context.Background()); err != nil {
				t.Fatal(err)
			}
			if have := <-requests; have != c.want {
				t.Errorf("want %+v, have %+v", c.want, have)
			}
		})
	}

	r, err := consul.New()
	if err != nil {
		t.Fatal(err)
	}
	if have, want := r.String(), "consul at "+consul.DefaultAddress; have != want {
		t.Errorf("CONSUL_HTTP_ADDR should not count: want %q, have %q", want, have)
	}
}

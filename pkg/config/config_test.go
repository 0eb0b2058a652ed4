package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/microtools/micro/pkg/natsconn"
)

func TestFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", want: Config{Registry: "nats", Timeout: DefaultTimeout}},
		{name: "all set", env: map[string]string{EnvRegistry: "consul", EnvRegistryAddress: "127.0.0.1:8500", EnvRegistryToken: "tok", EnvBrokerAddress: "127.0.0.1:4333", EnvTimeout: "3s"},
			want: Config{Registry: "consul", RegistryAddress: "127.0.0.1:8500", RegistryToken: "tok", BrokerAddress: "127.0.0.1:4333", Timeout: 3 * time.Second}},
		{name: "bad registry", env: map[string]string{EnvRegistry: "zookeeper"}, wantErr: `unknown registry "zookeeper"`},
		{name: "etcd", env: map[string]string{EnvRegistry: "etcd", EnvRegistryAddress: "10.0.0.1:2379,10.0.0.2:2379", EnvEtcdLayout: "micro,kratos",
			EnvRegistryUser: "root", EnvRegistryPassword: "pw", EnvRegistryTLSCA: "ca.pem", EnvRegistryTLSInsecure: "true"},
			want: Config{Registry: "etcd", RegistryAddress: "10.0.0.1:2379,10.0.0.2:2379", EtcdLayout: "micro,kratos",
				RegistryUser: "root", RegistryPassword: "pw", RegistryTLS: RegistryTLS{CAFile: "ca.pem", InsecureSkipVerify: true}, Timeout: DefaultTimeout}},
		{name: "bad etcd layout", env: map[string]string{EnvRegistry: "etcd", EnvEtcdLayout: "micro,zookeeper"}, wantErr: `unknown layout "zookeeper"`},
		{name: "user without password", env: map[string]string{EnvRegistry: "etcd", EnvRegistryUser: "root"}, wantErr: "both a user and a password"},
		{name: "registry TLS for nats", env: map[string]string{EnvRegistryTLSCA: "ca.pem"}, wantErr: "apply to the etcd registry, not nats"},
		{name: "bad registry TLS insecure", env: map[string]string{EnvRegistry: "etcd", EnvRegistryTLSInsecure: "maybe"}, wantErr: EnvRegistryTLSInsecure},
		{name: "bad timeout", env: map[string]string{EnvTimeout: "soon"}, wantErr: EnvTimeout},
		{name: "negative timeout", env: map[string]string{EnvTimeout: "-1s"}, wantErr: EnvTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have, err := FromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error about %q, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			have.Env = nil
			if have.Registry != c.want.Registry || have.RegistryAddress != c.want.RegistryAddress || have.RegistryToken != c.want.RegistryToken ||
				have.BrokerAddress != c.want.BrokerAddress || have.Timeout != c.want.Timeout ||
				have.EtcdLayout != c.want.EtcdLayout || have.RegistryUser != c.want.RegistryUser ||
				have.RegistryPassword != c.want.RegistryPassword || have.RegistryTLS != c.want.RegistryTLS {
				t.Errorf("want %+v, have %+v", c.want, have)
			}
		})
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		cfg                  Config
		wantNATS, wantBroker string
	}{
		{Config{Registry: "nats"}, "nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{Config{Registry: "nats", RegistryAddress: "127.0.0.1:4333"}, "nats://127.0.0.1:4333", "nats://127.0.0.1:4333"},
		{Config{Registry: "nats", RegistryAddress: "a:1, tls://b:2"}, "nats://a:1,tls://b:2", "nats://a:1,tls://b:2"},
		{Config{Registry: "consul", RegistryAddress: "127.0.0.1:8500"}, "nats://127.0.0.1:8500", "nats://127.0.0.1:4222"},
		{Config{Registry: "nats", BrokerAddress: "127.0.0.1:5000"}, "nats://127.0.0.1:4222", "nats://127.0.0.1:5000"},
	}
	for _, c := range cases {
		if have := c.cfg.BrokerURL(); have != c.wantBroker {
			t.Errorf("%+v: broker want %s, have %s", c.cfg, c.wantBroker, have)
		}
		if c.cfg.Registry == "nats" {
			if have := c.cfg.NATSAddress(); have != c.wantNATS {
				t.Errorf("%+v: registry want %s, have %s", c.cfg, c.wantNATS, have)
			}
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	if f, err := ReadFile(filepath.Join(dir, "missing.json")); err != nil || f != (File{}) {
		t.Errorf("a missing file is empty, not an error: %+v %v", f, err)
	}
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"registry":"consul","timeout":"2s"}`), 0o644)
	if f, err := ReadFile(good); err != nil || f.Registry != "consul" || f.Timeout != "2s" {
		t.Errorf("want consul and 2s, have %+v %v", f, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"registy":"consul"}`), 0o644)
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("an unknown key is an error naming the file, have %v", err)
	}
}

func TestBrokerSecurityFromEnv(t *testing.T) {
	env := map[string]string{
		EnvBrokerUser: "ada", EnvBrokerPassword: "secret", EnvBrokerToken: "tok",
		EnvBrokerCreds: "/c.creds", EnvBrokerNKey: "/n.nk",
		EnvBrokerTLSCA: "/ca.pem", EnvBrokerTLSCert: "/cert.pem", EnvBrokerTLSKey: "/key.pem", EnvBrokerTLSInsecure: "true",
	}
	cfg, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	wantAuth := natsconn.Auth{User: "ada", Password: "secret", Token: "tok", CredsFile: "/c.creds", NKeySeedFile: "/n.nk"}
	wantTLS := natsconn.TLS{CAFile: "/ca.pem", CertFile: "/cert.pem", KeyFile: "/key.pem", InsecureSkipVerify: true}
	if cfg.BrokerAuth != wantAuth || cfg.BrokerTLS != wantTLS {
		t.Errorf("want %+v %+v, have %+v %+v", wantAuth, wantTLS, cfg.BrokerAuth, cfg.BrokerTLS)
	}
	if got := len(BrokerSecurityOptions(cfg.BrokerAuth, cfg.BrokerTLS)); got != 5 {
		t.Errorf("want 5 options (user, token, creds, nkey, tls), have %d", got)
	}
	if got := len(BrokerSecurityOptions(natsconn.Auth{}, natsconn.TLS{})); got != 0 {
		t.Errorf("want no options for nothing set, have %d", got)
	}

	_, err = FromEnv(func(k string) (string, bool) {
		if k == EnvBrokerTLSInsecure {
			return "maybe", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), EnvBrokerTLSInsecure) {
		t.Errorf("want an error naming %s, have %v", EnvBrokerTLSInsecure, err)
	}
}

func TestNewBrokerPresentsEnvCredentials(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, Authorization: "secret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	env := map[string]string{EnvBrokerAddress: ns.ClientURL(), EnvBrokerToken: "secret"}
	cfg, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.NewBroker(context.Background())
	if err != nil {
		t.Fatalf("with %s: %v", EnvBrokerToken, err)
	}
	b.Close()
	cfg.BrokerAuth = natsconn.Auth{}
	if b, err := cfg.NewBroker(context.Background()); err == nil {
		b.Close()
		t.Fatal("without a token: want the server to refuse the connection")
	}
}

func TestBrokerKind(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		wantKind string
		wantURL  string
		wantErr  string
	}{
		{name: "default", wantKind: BrokerNATS, wantURL: "nats://127.0.0.1:4222"},
		{name: "memory registry", env: map[string]string{EnvRegistry: "memory"}, wantKind: BrokerMemory},
		{name: "memory registry with an address", env: map[string]string{EnvRegistry: "memory", EnvBrokerAddress: "127.0.0.1:4333"},
			wantKind: BrokerNATS, wantURL: "nats://127.0.0.1:4333"},
		{name: "rabbitmq", env: map[string]string{EnvBroker: "rabbitmq"}, wantKind: BrokerRabbitMQ, wantURL: "amqp://guest:guest@127.0.0.1:5672/"},
		{name: "rabbitmq at an address", env: map[string]string{EnvBroker: "rabbitmq", EnvBrokerAddress: "amqp://u:p@10.0.0.1:5672/v", EnvRegistry: "memory"},
			wantKind: BrokerRabbitMQ, wantURL: "amqp://u:p@10.0.0.1:5672/v"},
		{name: "unknown", env: map[string]string{EnvBroker: "kafka"}, wantErr: `unknown broker "kafka": use nats, rabbitmq or memory`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := FromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want %q, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if have := cfg.BrokerKind(); have != c.wantKind {
				t.Errorf("kind: want %s, have %s", c.wantKind, have)
			}
			if c.wantURL != "" && cfg.BrokerURL() != c.wantURL {
				t.Errorf("url: want %s, have %s", c.wantURL, cfg.BrokerURL())
			}
		})
	}
}

func TestNewBrokerRabbitMQSettings(t *testing.T) {
	base := Config{Registry: RegistryMemory, Broker: BrokerRabbitMQ, BrokerAddress: "amqp://127.0.0.1:1/", Timeout: time.Second}
	cases := []struct {
		name string
		cfg  func(Config) Config
		want string
	}{
		{"a token", func(c Config) Config { c.BrokerAuth.Token = "t"; return c }, "rabbitmq takes a user and password"},
		{"an nkey", func(c Config) Config { c.BrokerAuth.NKeySeedFile = "/k"; return c }, "rabbitmq takes a user and password"},
		{"a missing ca file", func(c Config) Config { c.BrokerTLS.CAFile = filepath.Join(t.TempDir(), "ca.pem"); return c }, "broker tls ca"},
		{"unreachable", func(c Config) Config { return c }, "cannot reach rabbitmq at amqp://127.0.0.1:1/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.cfg(base).NewBroker(context.Background())
			if err == nil {
				b.Close()
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("want %q, have %v", c.want, err)
			}
		})
	}
	if cfg, err := tlsConfig(natsconn.TLS{InsecureSkipVerify: true}); err != nil || !cfg.InsecureSkipVerify {
		t.Errorf("tls: have %+v, %v", cfg, err)
	}
}

func TestReadFileBroker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"broker":"rabbitmq","broker-address":"amqp://u:p@h:5672/v"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil || f.Broker != "rabbitmq" || f.BrokerAddress != "amqp://u:p@h:5672/v" {
		t.Errorf("have %+v, %v", f, err)
	}
}

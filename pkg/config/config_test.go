package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", want: Config{Registry: "nats", Timeout: DefaultTimeout}},
		{name: "all set", env: map[string]string{EnvRegistry: "consul", EnvRegistryAddress: "127.0.0.1:8500", EnvBrokerAddress: "127.0.0.1:4333", EnvTimeout: "3s"},
			want: Config{Registry: "consul", RegistryAddress: "127.0.0.1:8500", BrokerAddress: "127.0.0.1:4333", Timeout: 3 * time.Second}},
		{name: "bad registry", env: map[string]string{EnvRegistry: "etcd"}, wantErr: `unknown registry "etcd"`},
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
			if have.Registry != c.want.Registry || have.RegistryAddress != c.want.RegistryAddress ||
				have.BrokerAddress != c.want.BrokerAddress || have.Timeout != c.want.Timeout {
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

package brokerutil

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/natsconn"
)

func TestSecurity(t *testing.T) {
	env := map[string]string{
		config.EnvBrokerUser: "env-user", config.EnvBrokerPassword: "env-pass",
		config.EnvBrokerTLSCA: "/env/ca.pem", config.EnvBrokerTLSInsecure: "true",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		name     string
		args     []string
		wantAuth natsconn.Auth
		wantTLS  natsconn.TLS
		wantErr  string
	}{
		{"environment only", nil,
			natsconn.Auth{User: "env-user", Password: "env-pass"}, natsconn.TLS{CAFile: "/env/ca.pem", InsecureSkipVerify: true}, ""},
		{"flags win", []string{"--user", "ada", "--password", "secret", "--tls-ca", "/ca.pem", "--tls-insecure=false", "--token", "tok", "--creds", "/c", "--nkey", "/n"},
			natsconn.Auth{User: "ada", Password: "secret", Token: "tok", CredsFile: "/c", NKeySeedFile: "/n"}, natsconn.TLS{CAFile: "/ca.pem"}, ""},
		{"client certificate", []string{"--tls-cert", "/cert.pem", "--tls-key", "/key.pem"},
			natsconn.Auth{User: "env-user", Password: "env-pass"}, natsconn.TLS{CAFile: "/env/ca.pem", CertFile: "/cert.pem", KeyFile: "/key.pem", InsecureSkipVerify: true}, ""},
		{"certificate without key", []string{"--tls-cert", "/cert.pem"}, natsconn.Auth{}, natsconn.TLS{}, "--tls-key"},
		{"password without user", []string{"--user", ""}, natsconn.Auth{}, natsconn.TLS{}, "--password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f ConnectionFlags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.Bind(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			auth, tls, err := f.Security(lookup)
			if c.wantErr != "" {
				var usage *cmdutil.UsageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want a usage error about %s, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if auth != c.wantAuth || tls != c.wantTLS {
				t.Errorf("want %+v %+v, have %+v %+v", c.wantAuth, c.wantTLS, auth, tls)
			}
		})
	}
	var f ConnectionFlags
	f.Bind(pflag.NewFlagSet("test", pflag.ContinueOnError))
	if _, _, err := f.Security(func(k string) (string, bool) { return "maybe", k == config.EnvBrokerTLSInsecure }); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("a bad %s: want a usage error, have %v", config.EnvBrokerTLSInsecure, err)
	}
}

func TestEventPrinter(t *testing.T) {
	var out bytes.Buffer
	print := EventPrinter(&out)
	print(broker.Event{Kind: broker.Disconnected, URL: "nats://127.0.0.1:4222", Err: errors.New("EOF")})
	print(broker.Event{Kind: broker.Reconnected, URL: "nats://127.0.0.1:4222"})
	print(broker.Event{Kind: broker.Closed, URL: "nats://127.0.0.1:4222"})
	want := "micro: disconnected from nats://127.0.0.1:4222: EOF; reconnecting\nmicro: reconnected to nats://127.0.0.1:4222\n"
	if out.String() != want {
		t.Errorf("want %q, have %q", want, out.String())
	}
}

func TestConnectError(t *testing.T) {
	unreachable := fmt.Errorf("nats broker: cannot reach nats at nats://127.0.0.1:1: %w", broker.ErrUnreachable)
	if err := ConnectError(unreachable); !strings.Contains(err.Error(), "micro server") || !errors.Is(err, broker.ErrUnreachable) {
		t.Errorf("unreachable: have %v", err)
	}
	refused := fmt.Errorf("nats broker: %w", natsconn.ErrAuth)
	if err := ConnectError(refused); !strings.Contains(err.Error(), "docs/broker-auth.md") {
		t.Errorf("refused: have %v", err)
	}
	other := errors.New("other")
	if err := ConnectError(other); err != other {
		t.Errorf("other errors stay as they are, have %v", err)
	}
}

// rabbitErr is an error of the RabbitMQ broker, as it says which backend it
// comes from.
type rabbitErr struct{ error }

func (rabbitErr) Backend() string { return config.BrokerRabbitMQ }
func (e rabbitErr) Unwrap() error { return e.error }

func TestConnectErrorRabbitMQ(t *testing.T) {
	unreachable := rabbitErr{fmt.Errorf("rabbitmq broker: cannot reach rabbitmq at amqp://127.0.0.1:1/: %w", broker.ErrUnreachable)}
	if err := ConnectError(unreachable); !strings.Contains(err.Error(), "amqp://USER:PASSWORD@HOST:PORT/VHOST") || strings.Contains(err.Error(), "micro server") {
		t.Errorf("unreachable: want RabbitMQ advice, have %v", err)
	}
	refused := rabbitErr{fmt.Errorf("rabbitmq broker: refused; check the user and password: %w", broker.ErrAuth)}
	if err := ConnectError(refused); err != error(refused) {
		t.Errorf("refused: the broker's own advice is enough, have %v", err)
	}
}

// Package brokerutil is what the commands that use the broker share
// (`micro publish`, `micro subscribe`): the flags of the broker connection
// (credentials and TLS, each with its MICRO_BROKER_* variable), the
// connection itself with its events reported on stderr, errors with advice,
// message types known from descriptors for --type, and the detection of a
// JSON body that the shell stripped of its quotes.
package brokerutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/natsconn"
)

// ConnectionFlags are the broker's credentials and TLS files. A flag wins
// over its MICRO_BROKER_* variable; see docs/broker-auth.md.
type ConnectionFlags struct {
	User        string
	Password    string
	Token       string
	Creds       string
	NKey        string
	TLSCA       string
	TLSCert     string
	TLSKey      string
	TLSInsecure bool

	fs *pflag.FlagSet
}

// Bind adds the flags to fs.
func (f *ConnectionFlags) Bind(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.User, "user", "", "user name for the broker [$"+config.EnvBrokerUser+"]")
	fs.StringVar(&f.Password, "password", "", "password for the broker, with --user [$"+config.EnvBrokerPassword+"]")
	fs.StringVar(&f.Token, "token", "", "token for the broker [$"+config.EnvBrokerToken+"]")
	fs.StringVar(&f.Creds, "creds", "", "credentials file (JWT and nkey seed) for the broker [$"+config.EnvBrokerCreds+"]")
	fs.StringVar(&f.NKey, "nkey", "", "file holding an nkey seed for the broker [$"+config.EnvBrokerNKey+"]")
	fs.StringVar(&f.TLSCA, "tls-ca", "", "PEM file of the CAs that verify the broker's certificate; turns TLS on [$"+config.EnvBrokerTLSCA+"]")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "PEM client certificate for the broker, with --tls-key; turns TLS on [$"+config.EnvBrokerTLSCert+"]")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM key of --tls-cert [$"+config.EnvBrokerTLSKey+"]")
	fs.BoolVar(&f.TLSInsecure, "tls-insecure", false, "TLS without verifying the broker's certificate (tests only) [$"+config.EnvBrokerTLSInsecure+"]")
}

func (f *ConnectionFlags) changed(name string) bool {
	return f.fs != nil && f.fs.Changed(name)
}

// Security returns the credentials and TLS setup: the MICRO_BROKER_*
// variables found with lookup, under the flags that were given. A setting
// that cannot work is a usage error.
func (f *ConnectionFlags) Security(lookup func(string) (string, bool)) (natsconn.Auth, natsconn.TLS, error) {
	auth, tls, err := config.BrokerSecurityFromEnv(lookup, natsconn.Auth{}, natsconn.TLS{})
	if err != nil {
		return auth, tls, &cmdutil.UsageError{Err: err}
	}
	for _, s := range []struct {
		flag   string
		value  string
		target *string
	}{
		{"user", f.User, &auth.User},
		{"password", f.Password, &auth.Password},
		{"token", f.Token, &auth.Token},
		{"creds", f.Creds, &auth.CredsFile},
		{"nkey", f.NKey, &auth.NKeySeedFile},
		{"tls-ca", f.TLSCA, &tls.CAFile},
		{"tls-cert", f.TLSCert, &tls.CertFile},
		{"tls-key", f.TLSKey, &tls.KeyFile},
	} {
		if f.changed(s.flag) {
			*s.target = s.value
		}
	}
	if f.changed("tls-insecure") {
		tls.InsecureSkipVerify = f.TLSInsecure
	}
	switch {
	case auth.Password != "" && auth.User == "":
		return auth, tls, cmdutil.Usagef("--password (%s) needs --user (%s)", config.EnvBrokerPassword, config.EnvBrokerUser)
	case (tls.CertFile == "") != (tls.KeyFile == ""):
		return auth, tls, cmdutil.Usagef("--tls-cert and --tls-key (%s, %s) go together: a client certificate needs its key", config.EnvBrokerTLSCert, config.EnvBrokerTLSKey)
	}
	return auth, tls, nil
}

// Options returns the broker options of the flags and variables.
func (f *ConnectionFlags) Options(lookup func(string) (string, bool)) ([]config.BrokerOption, error) {
	auth, tls, err := f.Security(lookup)
	if err != nil {
		return nil, err
	}
	return []config.BrokerOption{config.WithBrokerSecurity(auth, tls)}, nil
}

// Connector connects a command to the broker.
type Connector struct {
	// Config returns the global settings.
	Config func() (config.Config, error)
	// Broker connects (cmdutil.Factory.Broker).
	Broker func(context.Context, ...config.BrokerOption) (broker.Broker, error)
	// Flags are the credentials and TLS flags.
	Flags *ConnectionFlags
	// Events, when set, is told of each disconnect and reconnect: an
	// io.Writer such as stderr gets one line each, prefixed by "micro: ".
	Events io.Writer

	quiet atomic.Bool
}

// Quiet stops the reporting of events: call it before the connection is
// closed, which nats.go reports as a disconnect.
func (c *Connector) Quiet() { c.quiet.Store(true) }

// Connect connects to the broker, bounded by the --timeout of the global
// settings. An unreachable broker, or one that refuses the credentials, is
// an error with advice.
func (c *Connector) Connect(ctx context.Context) (broker.Broker, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	opts, err := c.Flags.Options(cfg.Env)
	if err != nil {
		return nil, err
	}
	if c.Events != nil {
		print := EventPrinter(c.Events)
		opts = append(opts, config.WithBrokerEvents(func(ev broker.Event) {
			if !c.quiet.Load() {
				print(ev)
			}
		}))
	}
	b, err := c.Broker(ctx, opts...)
	if err != nil {
		return nil, ConnectError(err)
	}
	return b, nil
}

// EventPrinter returns an event handler that writes a line for each
// disconnect, reconnect and asynchronous error to w, such as
//
//	micro: disconnected from nats://127.0.0.1:4222: EOF; reconnecting
//	micro: reconnected to nats://127.0.0.1:4222
//
// The connection closing, which the command does itself, is not reported.
func EventPrinter(w io.Writer) func(broker.Event) {
	var mu sync.Mutex
	return func(ev broker.Event) {
		line := ""
		switch ev.Kind {
		case broker.Disconnected:
			line = ev.String() + "; reconnecting"
		case broker.Reconnected, broker.AsyncError:
			line = ev.String()
		default:
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, "micro: "+line)
	}
}

// StreamError adds what to try to an error that says the --stream given
// does not store the topic (or no stream does). Other errors go through
// ConnectError.
func StreamError(err error, topic, stream string) error {
	var hinted *cmdutil.HintError
	if stream == "" || !errors.Is(err, broker.ErrNoStream) || errors.As(err, &hinted) {
		return ConnectError(err)
	}
	return cmdutil.WithHint(err, fmt.Sprintf(
		"give --stream the stream that stores %s (`nats stream ls` lists them), leave --stream out to use the stream that stores the topic (one is created when none does), or add the topic to the subjects of %s (`nats stream edit %s --subjects ...`)",
		topic, stream, stream))
}

// ConnectError adds what to try to an error that says the broker cannot be
// reached or refused the credentials.
func ConnectError(err error) error {
	var hinted *cmdutil.HintError
	var backend interface{ Backend() string }
	rabbit := errors.As(err, &backend) && backend.Backend() == config.BrokerRabbitMQ
	switch {
	case errors.As(err, &hinted):
		return err
	case rabbit && errors.Is(err, broker.ErrUnreachable):
		return cmdutil.WithHint(err, "check that RabbitMQ runs there, or point --broker-address ("+config.EnvBrokerAddress+") at it: amqp://USER:PASSWORD@HOST:PORT/VHOST; see docs/broker.md")
	case rabbit && errors.Is(err, broker.ErrAuth):
		return err // it says what to check already
	case errors.Is(err, broker.ErrUnreachable):
		return cmdutil.WithHint(err, "start the embedded broker with `micro server`, or point --broker-address ("+config.EnvBrokerAddress+") at a running NATS server")
	case errors.Is(err, natsconn.ErrAuth), errors.Is(err, broker.ErrAuth):
		return cmdutil.WithHint(err, "check --user and --password, --token, --creds or --nkey (or their MICRO_BROKER_* variables); see docs/broker-auth.md")
	}
	return err
}
